// Produce (validation, idempotence, acks), Fetch (KIP-74 ranges, zero-copy slices, long polls)
// and ListOffsets.
#include <algorithm>
#include <limits>
#include <memory>
#include <utility>

#include <ringlog/batch.h>
#include <ringlog/validation.h>

#include "protocol/kafka/broker.h"
#include "protocol/kafka/producer_recovery.h"

namespace ringlog::kafka {

// One Produce request in flight: its response is sent when every partition has an outcome.
struct ProduceCall {
  RequestHeader header;
  std::int16_t acks = -1;
  ProduceResponse response;
  std::size_t pending = 1;  // partitions + 1 for produce() itself
  ReplyFn reply;

  // acks=0 answers kNone too, once every partition has its outcome: the request is complete
  // only then, so that the next request on the connection sees its records (order_gate.h).
  void finish_one() {
    if (--pending > 0) return;
    if (acks == 0) return reply({Reply::Kind::kNone, {}, {}});
    reply({Reply::Kind::kFrame, make_response(header, response), {}});
  }
};

namespace {

// Kafka's codes for batches that fail validate_batches (ringlog/validation.h), as its broker
// answers them: bytes that are not a batch (framing, CRC, codec) CORRUPT_MESSAGE, a batch whose
// records break the rules INVALID_RECORD, a size limit MESSAGE_TOO_LARGE.
std::int16_t invalid_batch_code(const Error& error) {
  switch (error.code()) {
    case Errc::kTooLarge:
      return error::kMessageTooLarge;
    case Errc::kCorruption:
      return error::kCorruptMessage;
    default:
      return error::kInvalidRecord;
  }
}

// Magic 0/1 message sets (Produce v0-2 clients): UNSUPPORTED_FOR_MESSAGE_FORMAT, as Kafka
// answers once it no longer converts them.
bool old_message_format(std::span<const std::byte> records) {
  while (records.size() > kMagicAt) {
    if (static_cast<std::int8_t>(records[kMagicAt]) != kMagicV2) return true;
    if (records.size() < kBatchHeaderBytes) return false;
    const std::int32_t length = read_batch_header(records).batch_length;
    if (length < kMinBatchLength || kBatchLengthFieldEnd + std::size_t(length) > records.size())
      return false;
    records = records.subspan(kBatchLengthFieldEnd + static_cast<std::size_t>(length));
  }
  return false;
}

// What the batches say about their producer, once validated: one producer (or none) with
// contiguous sequences across the batches, else INVALID_RECORD.
struct ProducerRun {
  std::int16_t error_code = error::kNone;
  bool idempotent = false;
  std::int64_t producer_id = kNoProducerId;
  ProducerStateTable::Batch sequences{};
};

ProducerRun producer_run(const ValidatedBatches& batches) {
  ProducerRun out;
  const BatchSummary& first = batches.batch(0);
  out.idempotent = first.producer_id >= 0;
  out.producer_id = first.producer_id;
  out.sequences = {first.producer_epoch, first.base_sequence, 0};
  std::int32_t next_seq = first.base_sequence;
  for (std::size_t i = 0; i < batches.batch_count(); ++i) {
    const BatchSummary& b = batches.batch(i);
    if (b.producer_id != out.producer_id ||
        (out.idempotent &&
         (b.producer_epoch != out.sequences.epoch || b.base_sequence != next_seq)))
      return {error::kInvalidRecord};
    if (out.idempotent) {
      out.sequences.last_seq = ProducerStateTable::last_sequence(b.base_sequence, b.record_count);
      next_seq = ProducerStateTable::next_sequence(out.sequences.last_seq);
    }
  }
  return out;
}

}  // namespace

// ---- Produce ---------------------------------------------------------------------------------

void Broker::produce(const RequestHeader& header, ProduceRequest request, ReplyFn& reply) {
  auto call = std::make_shared<ProduceCall>();
  call->header = header;
  call->acks = request.acks;
  call->reply = std::move(reply);
  // The response mirrors the request (librdkafka expects exactly its topics and partitions).
  for (const ProduceRequest::Topic& t : request.topics) {
    ProduceResponse::Topic& out = call->response.responses.emplace_back();
    out.name = t.name;
    for (const ProduceRequest::Partition& p : t.partitions) {
      out.partitions.push_back({p.index, error::kNone, -1, -1, -1});
    }
    call->pending += t.partitions.size();
  }
  std::int16_t request_error = error::kNone;
  if (request.acks != 0 && request.acks != 1 && request.acks != -1) {
    request_error = error::kInvalidRequiredAcks;
  } else if (request.transactional_id) {
    request_error = error::kInvalidRequest;  // transactions are not supported
  }
  for (std::size_t ti = 0; ti < request.topics.size(); ++ti) {
    ProduceRequest::Topic& t = request.topics[ti];
    for (std::size_t pi = 0; pi < t.partitions.size(); ++pi) {
      ProduceResponse::Partition* slot = &call->response.responses[ti].partitions[pi];
      if (request_error == error::kNone && !is_valid_topic_name(t.name)) {
        slot->error_code = error::kUnknownTopicOrPartition;  // a name that cannot exist
        call->finish_one();
        continue;
      }
      if (request_error != error::kNone) {
        slot->error_code = request_error;
        call->finish_one();
        continue;
      }
      produce_partition(call, t.name, t.partitions[pi], slot);
    }
  }
  call->finish_one();
}

// Validates the partition's batches (compressed ones on a worker, so that inflating them never
// holds up the event loop), in arrival order per partition, then appends them.
void Broker::produce_partition(const std::shared_ptr<ProduceCall>& call, const std::string& topic,
                               ProduceRequest::Partition& partition,
                               ProduceResponse::Partition* slot) {
  if (!partition.records || partition.records->empty()) {
    slot->error_code = error::kInvalidRecord;
    return call->finish_one();
  }
  if (old_message_format(*partition.records)) {
    slot->error_code = error::kUnsupportedForMessageFormat;
    return call->finish_one();
  }
  const PartitionQueue::Key where{topic, partition.index};
  auto records = std::make_shared<Bytes>(std::move(*partition.records));
  partition_queue_.submit(where, [this, call, where, records, slot] {
    if (!has_compressed_batch(*records)) {
      return produce_validated(
          call, where, validate_batches(std::move(*records), engine_.append_limits()), slot);
    }
    partition_queue_.hold(where);
    hooks_.run_blocking([this, call, where, records, slot] {
      auto validated = std::make_shared<Result<ValidatedBatches>>(
          validate_batches(std::move(*records), engine_.append_limits()));
      hooks_.post([this, call, where, validated, slot] {
        produce_validated(call, where, std::move(*validated), slot);
        partition_queue_.release(where);
      });
    });
  });
}

void Broker::produce_validated(const std::shared_ptr<ProduceCall>& call,
                               const PartitionQueue::Key& where, Result<ValidatedBatches> batches,
                               ProduceResponse::Partition* slot) {
  if (!batches) {
    slot->error_code = invalid_batch_code(batches.error());
    return call->finish_one();
  }
  const ProducerRun run = producer_run(*batches);
  if (run.error_code != error::kNone) {
    slot->error_code = run.error_code;
    return call->finish_one();
  }
  if (!run.idempotent) {
    return append(call, where.first, where.second, std::move(*batches), slot, std::nullopt,
                  run.sequences);
  }
  ProducerStateTable::Key key{run.producer_id, where.first, where.second};
  auto shared = std::make_shared<ValidatedBatches>(std::move(*batches));
  with_producer_state(where, [this, call, key, sequences = run.sequences, shared, slot] {
    produce_idempotent(call, key, sequences, std::move(*shared), slot);
  });
}

void Broker::produce_idempotent(const std::shared_ptr<ProduceCall>& call,
                                const ProducerStateTable::Key& key,
                                const ProducerStateTable::Batch& sequences,
                                ValidatedBatches batches, ProduceResponse::Partition* slot) {
  const ProducerStateTable::Check check = producers_.check(key, sequences, now_ms_);
  switch (check.verdict) {
    case ProducerStateTable::Verdict::kAppend:
      return append(call, key.topic, key.partition, std::move(batches), slot, key, sequences);
    case ProducerStateTable::Verdict::kDuplicate:
      slot->base_offset = check.base_offset;  // Kafka answers a retried batch NO_ERROR
      return call->finish_one();
    case ProducerStateTable::Verdict::kWaitDuplicate:
      producers_.wait(key, sequences, [call, slot](std::int16_t code, std::int64_t base_offset) {
        slot->error_code = code;
        slot->base_offset = base_offset;
        call->finish_one();
      });
      return;
    case ProducerStateTable::Verdict::kOutOfOrder:
      slot->error_code = error::kOutOfOrderSequenceNumber;
      return call->finish_one();
    case ProducerStateTable::Verdict::kFencedEpoch:
      slot->error_code = error::kInvalidProducerEpoch;
      return call->finish_one();
  }
}

void Broker::append(const std::shared_ptr<ProduceCall>& call, const std::string& topic,
                    std::int32_t partition, ValidatedBatches batches,
                    ProduceResponse::Partition* slot, std::optional<ProducerStateTable::Key> key,
                    ProducerStateTable::Batch sequences) {
  ++appends_in_flight_;
  engine_.append_async(topic, partition, std::move(batches),
                       [this, call, slot, key, sequences](Result<AppendResult> result) {
                         auto shared = std::make_shared<Result<AppendResult>>(std::move(result));
                         hooks_.post([this, call, slot, key, sequences, shared] {
                           --appends_in_flight_;
                           if (*shared) {
                             slot->base_offset = (*shared)->first_offset;
                             if (key) producers_.complete(*key, sequences, slot->base_offset);
                           } else {
                             slot->error_code = produce_error_code_for(shared->error());
                             if (key) producers_.abort(*key, sequences, slot->error_code);
                           }
                           call->finish_one();
                         });
                       });
}

// Runs `then` once the partition's producer state has been rebuilt from its log (at once if it
// has been); the partition is held meanwhile, so later Produce work for it waits in order.
void Broker::with_producer_state(const PartitionQueue::Key& where, std::function<void()> then) {
  if (producers_loaded_.contains(where)) return then();
  partition_queue_.hold(where);
  auto pending = std::make_shared<std::function<void()>>(std::move(then));
  hooks_.run_blocking([this, where, pending] {
    auto found = std::make_shared<std::vector<RecoveredBatch>>(recover_producer_batches(
        engine_, where.first, where.second, options_.producer_recovery_bytes));
    hooks_.post([this, where, found, pending] {
      if (producers_loaded_.insert(where).second) {
        for (const RecoveredBatch& b : *found) {
          producers_.restore({b.producer_id, where.first, where.second}, b.batch, b.base_offset,
                             now_ms_);
        }
      }
      (*pending)();
      partition_queue_.release(where);
    });
  });
}

// ---- Fetch -----------------------------------------------------------------------------------

void Broker::fetch(const RequestHeader& header, FetchRequest request, std::int64_t now_ms,
                   ReplyFn& reply) {
  const std::int32_t wait_ms = std::clamp(request.max_wait_ms, 0, options_.max_wait_cap_ms);
  if (wait_ms <= 0 || request.min_bytes <= 0) {
    return run_fetch(header, std::move(request), std::move(reply), std::nullopt);
  }
  // Counted until it answers, so that the server forwards the visibility events it needs.
  long_polls_.fetch_add(1);
  ReplyFn counted = [this, reply = std::move(reply)](Reply r) {
    long_polls_.fetch_sub(1);
    reply(std::move(r));
  };
  run_fetch(header, std::move(request), std::move(counted), now_ms + wait_ms);
}

namespace {

std::size_t record_bytes(const FetchResponse& response, bool& errors) {
  std::size_t total = 0;
  for (const FetchResponse::Topic& t : response.responses) {
    for (const FetchResponse::Partition& p : t.partitions) {
      total += p.records.size();
      errors = errors || p.error_code != error::kNone;
    }
  }
  return total;
}

}  // namespace

// Reads on a worker; back on the loop, answers, or parks the request until data arrives or
// park_until_ms passes (a visibility event seen meanwhile makes it read again instead).
void Broker::run_fetch(const RequestHeader& header, FetchRequest request, ReplyFn reply,
                       std::optional<std::int64_t> park_until_ms) {
  const std::uint64_t seen = visibility_events_;
  auto shared = std::make_shared<FetchRequest>(std::move(request));
  hooks_.run_blocking([this, header, shared, reply = std::move(reply), park_until_ms, seen] {
    auto response = std::make_shared<FetchResponse>(read_partitions(*shared));
    hooks_.post([this, header, shared, reply, park_until_ms, seen, response] {
      bool errors = false;
      const std::size_t bytes = record_bytes(*response, errors);
      if (park_until_ms && !errors && bytes < static_cast<std::size_t>(shared->min_bytes)) {
        if (visibility_events_ != seen) {
          return run_fetch(header, std::move(*shared), reply, park_until_ms);
        }
        parked_.push_back({header, std::move(*shared), *park_until_ms, reply});
        return;
      }
      reply({Reply::Kind::kFrame, make_response(header, *response), {}});
    });
  });
}

FetchResponse Broker::read_partitions(const FetchRequest& request) const {
  FetchResponse response;
  std::int64_t budget =
      request.max_bytes > 0 ? request.max_bytes : std::numeric_limits<std::int32_t>::max();
  bool first = true;  // KIP-74: the first partition with data gets its first batch whole
  for (const FetchRequest::Topic& t : request.topics) {
    FetchResponse::Topic& out_topic = response.responses.emplace_back();
    out_topic.topic = t.topic;
    for (const FetchRequest::Partition& p : t.partitions) {
      FetchResponse::Partition& out = out_topic.partitions.emplace_back();
      out.partition_index = p.partition;
      out.aborted_transactions.emplace();
      if (!is_valid_topic_name(t.topic)) {  // a name that cannot exist
        out.error_code = error::kUnknownTopicOrPartition;
        continue;
      }
      const std::int64_t limit =
          first ? std::max(p.partition_max_bytes, 0)
                : std::min<std::int64_t>(std::max(p.partition_max_bytes, 0), budget);
      Result<FetchResult> r = !first && budget <= 0
                                  ? fail(Errc::kTooLarge, "request max_bytes used up")
                                  : engine_.fetch(t.topic, p.partition, p.fetch_offset,
                                                  static_cast<std::uint32_t>(limit));
      if (!r && r.error().code() != Errc::kTooLarge) out.error_code = error_code_for(r.error());
      if (!r) {
        if (auto range = engine_.offsets(t.topic, p.partition)) {
          out.log_start_offset = range->first;
          out.high_watermark = out.last_stable_offset = range->second;
        }
        continue;
      }
      out.high_watermark = out.last_stable_offset = r->high_watermark;  // LSO = HW
      out.log_start_offset = r->log_start;
      if (r->slice.length == 0 || (!first && r->slice.length > budget)) continue;
      out.records.slice = std::move(r->slice);
      budget -= out.records.slice.length;
      first = false;
    }
  }
  return response;
}

void Broker::on_visible(std::string_view topic, std::int32_t partition, std::int64_t /*now_ms*/) {
  ++visibility_events_;
  std::vector<Parked> woken;
  std::erase_if(parked_, [&](Parked& p) {
    for (const FetchRequest::Topic& t : p.request.topics) {
      if (t.topic != topic) continue;
      for (const FetchRequest::Partition& part : t.partitions) {
        if (part.partition == partition) {
          woken.push_back(std::move(p));
          return true;
        }
      }
    }
    return false;
  });
  for (Parked& p : woken)
    run_fetch(p.header, std::move(p.request), std::move(p.reply), {});
}

void Broker::tick(std::int64_t now_ms) {
  now_ms_ = std::max(now_ms_, now_ms);
  coordinator_.tick(now_ms);
  producers_.expire(now_ms);
  if (now_ms >= next_group_touch_ms_) {  // groups with members keep their offsets alive
    for (const std::string& group : coordinator_.groups_with_members())
      engine_.touch_group(group);
    next_group_touch_ms_ = now_ms + kGroupTouchIntervalMs;
  }
  std::vector<Parked> due;
  std::erase_if(parked_, [&](Parked& p) {
    if (p.deadline_ms > now_ms) return false;
    due.push_back(std::move(p));
    return true;
  });
  for (Parked& p : due)
    run_fetch(p.header, std::move(p.request), std::move(p.reply), {});
}

void Broker::release_parked() {
  std::vector<Parked> due = std::move(parked_);
  parked_.clear();
  for (Parked& p : due)
    run_fetch(p.header, std::move(p.request), std::move(p.reply), {});
}

std::optional<std::int64_t> Broker::next_deadline_ms() const {
  std::optional<std::int64_t> next = coordinator_.next_deadline_ms();
  for (const Parked& p : parked_)
    next = next ? std::min(*next, p.deadline_ms) : p.deadline_ms;
  return next;
}

// ---- ListOffsets -----------------------------------------------------------------------------

void Broker::list_offsets(const RequestHeader& header, ListOffsetsRequest request, ReplyFn& reply) {
  blocking_reply(std::move(reply), [this, header, request = std::move(request)] {
    ListOffsetsResponse response;
    for (const ListOffsetsRequest::Topic& t : request.topics) {
      ListOffsetsResponse::Topic& out = response.topics.emplace_back();
      out.name = t.name;
      for (const ListOffsetsRequest::Partition& p : t.partitions) {
        out.partitions.push_back(list_offset(t.name, p, header.api_version));
      }
    }
    return make_response(header, response);
  });
}

ListOffsetsResponse::Partition Broker::list_offset(const std::string& topic,
                                                   const ListOffsetsRequest::Partition& p,
                                                   std::int16_t version) const {
  ListOffsetsResponse::Partition out;
  out.partition_index = p.partition_index;
  if (!is_valid_topic_name(topic)) {  // a name that cannot exist
    out.error_code = error::kUnknownTopicOrPartition;
    return out;
  }
  Result<std::int64_t> offset = fail(Errc::kInternal, "unset");
  if (p.timestamp == kEarliestTimestamp || p.timestamp == kLatestTimestamp) {
    auto range = engine_.offsets(topic, p.partition_index);
    if (range) {
      offset = p.timestamp == kEarliestTimestamp ? range->first : range->second;
    } else {
      offset = fail(range.error());
    }
  } else {
    offset = engine_.offset_for_timestamp(topic, p.partition_index, p.timestamp);
  }
  if (!offset) {
    out.error_code = error_code_for(offset.error());
    return out;
  }
  if (version == 0) {
    out.old_style_offsets = {*offset};
  } else {
    out.offset = *offset;
  }
  return out;
}

}  // namespace ringlog::kafka
