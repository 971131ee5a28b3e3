// validate_batches (ringlog/validation.h): header rules, then the records, walked in place for
// uncompressed batches and streamed through an Inflater for compressed ones. Both walks decode
// each record with internal::decode_record (the one place a record's bytes are interpreted) and
// apply the same RecordRules.
#include <ringlog/validation.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <memory>
#include <string>

#include "engine/crc32c.h"
#include "engine/endian.h"
#include "engine/inflate.h"
#include "engine/record_batch.h"
#include "engine/varint.h"
#include "io/assert.h"

namespace ringlog {

namespace {

// The rules every record of a batch must keep, applied in record order.
class RecordRules {
 public:
  RecordRules(const BatchView& batch, std::int32_t count)
      : base_timestamp_ms_(batch.base_timestamp_ms()), count_(count) {}

  // "" when the record keeps the rules, otherwise why not.
  std::string check(const internal::RawRecord& record) {
    if (record.offset_delta != next_delta_)
      return "record " + std::to_string(next_delta_) + " has offset delta " +
             std::to_string(record.offset_delta) + " (deltas must be 0, 1, 2, ...)";
    std::int64_t timestamp = 0;
    if (__builtin_add_overflow(base_timestamp_ms_, record.timestamp_delta, &timestamp))
      return "record " + std::to_string(next_delta_) + ": baseTimestamp + timestampDelta overflows";
    if (timestamp < -1)
      return "record " + std::to_string(next_delta_) + " has timestamp " +
             std::to_string(timestamp) + " (below -1)";
    max_timestamp_ms_ = std::max(max_timestamp_ms_, timestamp);
    ++next_delta_;
    return {};
  }

  std::int32_t decoded() const noexcept { return next_delta_; }
  bool complete() const noexcept { return next_delta_ == count_; }
  std::int64_t max_timestamp_ms() const noexcept { return max_timestamp_ms_; }

 private:
  std::int64_t base_timestamp_ms_;
  std::int32_t count_;
  std::int32_t next_delta_ = 0;
  std::int64_t max_timestamp_ms_ = std::numeric_limits<std::int64_t>::min();
};

Error batch_error(Errc code, std::size_t index, std::size_t at, const std::string& why) {
  return Error(code,
               "batch " + std::to_string(index) + " at byte " + std::to_string(at) + ": " + why);
}

// ---- the records of an uncompressed batch, in place ----------------------------------------

std::string check_plain_records(const BatchView& batch, RecordRules& rules) {
  const std::span<const std::byte> records = batch.record_bytes();
  const std::byte* p = records.data();
  const std::byte* end = p + records.size();
  while (!rules.complete()) {
    internal::RawRecord raw;
    if (p == end)
      return "holds " + std::to_string(rules.decoded()) + " records, not the " +
             std::to_string(batch.record_count()) + " its count says";
    if (!internal::decode_record(p, end, raw))
      return "record " + std::to_string(rules.decoded()) + " is malformed";
    if (std::string why = rules.check(raw); !why.empty()) return why;
  }
  if (p != end)
    return std::to_string(end - p) + " bytes follow the last of its " +
           std::to_string(batch.record_count()) + " records";
  return {};
}

// ---- the records of a compressed batch, streamed --------------------------------------------

// Cuts an Inflater's output into whole records, each contiguous in a buffer that grows only to
// the largest record (plus one read chunk).
class RecordStream {
 public:
  explicit RecordStream(Inflater& inflater) : inflater_(inflater) {}

  // The next record (its length varint included) in `out`, valid until the next call; false at
  // the end of the stream. Malformed framing is kInvalidArgument, the inflater's errors pass.
  Result<bool> next(std::span<const std::byte>& out) {
    if (auto got = fill(kMaxVarintBytes); !got) return fail(got.error());
    if (buffered() == 0) return false;
    const std::byte* p = buffer_.data() + begin_;
    std::int32_t length = 0;
    if (!get_varint(p, buffer_.data() + end_, length) || length < 1)
      return fail(Errc::kInvalidArgument, "a record has a bad length");
    const std::size_t total =
        static_cast<std::size_t>(p - (buffer_.data() + begin_)) + static_cast<std::size_t>(length);
    if (total > buffered() + inflater_.remaining_bytes())
      return fail(Errc::kTooLarge, "a record of " + std::to_string(total) +
                                       " bytes goes past max_uncompressed_batch_bytes (" +
                                       std::to_string(inflater_.max_bytes()) + ")");
    if (auto got = fill(total); !got) return fail(got.error());
    if (buffered() < total) return fail(Errc::kInvalidArgument, "the last record is cut");
    out = std::span<const std::byte>(buffer_.data() + begin_, total);
    begin_ += total;
    return true;
  }

  // Whether the stream has nothing after what next() returned.
  Result<bool> at_end() {
    if (auto got = fill(1); !got) return fail(got.error());
    return buffered() == 0;
  }

 private:
  static constexpr std::size_t kChunkBytes = 64 << 10;

  std::size_t buffered() const noexcept { return end_ - begin_; }

  // Reads until `need` bytes are buffered or the stream ends.
  Status fill(std::size_t need) {
    if (buffered() >= need || ended_) return {};
    if (begin_ > 0) {
      std::memmove(buffer_.data(), buffer_.data() + begin_, buffered());
      end_ -= begin_;
      begin_ = 0;
    }
    if (buffer_.size() < need + kChunkBytes) buffer_.resize(need + kChunkBytes);
    while (end_ < need && !ended_) {
      auto n = inflater_.read(std::span<std::byte>(buffer_).subspan(end_));
      if (!n) return fail(n.error());
      end_ += *n;
      ended_ = *n == 0;
    }
    return {};
  }

  Inflater& inflater_;
  std::vector<std::byte> buffer_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
  bool ended_ = false;
};

// Errors of the inflater keep their code (kCorruption, kTooLarge); "" otherwise as above.
Result<std::string> check_compressed_records(const BatchView& batch, const AppendLimits& limits,
                                             RecordRules& rules) {
  auto inflater =
      make_inflater(batch.compression(), batch.record_bytes(), limits.max_uncompressed_batch_bytes);
  if (!inflater) return fail(inflater.error());
  RecordStream stream(**inflater);
  while (!rules.complete()) {
    std::span<const std::byte> record;
    auto more = stream.next(record);
    if (!more) {
      if (more.error().code() == Errc::kInvalidArgument)
        return "record " + std::to_string(rules.decoded()) + ": " + more.error().message();
      return fail(more.error());
    }
    if (!*more)
      return "holds " + std::to_string(rules.decoded()) + " records, not the " +
             std::to_string(batch.record_count()) + " its count says";
    const std::byte* p = record.data();
    internal::RawRecord raw;
    if (!internal::decode_record(p, record.data() + record.size(), raw))
      return "record " + std::to_string(rules.decoded()) + " is malformed";
    if (std::string why = rules.check(raw); !why.empty()) return why;
  }
  auto end = stream.at_end();
  if (!end) return fail(end.error());
  if (!*end)
    return "uncompressed bytes follow the last of its " + std::to_string(batch.record_count()) +
           " records";
  return std::string();
}

// ---- one batch ------------------------------------------------------------------------------

// The rules of the header alone: "" or why not.
std::string check_header(const BatchView& b) {
  if (b.is_control()) return "control batches are written by the broker only";
  if (b.record_count() < 1) return "record count " + std::to_string(b.record_count()) + " < 1";
  if (static_cast<std::int64_t>(b.record_count()) !=
      static_cast<std::int64_t>(b.last_offset_delta()) + 1)
    return "record count " + std::to_string(b.record_count()) + " does not match lastOffsetDelta " +
           std::to_string(b.last_offset_delta());
  if (b.producer_id() >= 0 && b.base_sequence() < 0)
    return "producer id " + std::to_string(b.producer_id()) + " with base sequence " +
           std::to_string(b.base_sequence());
  if (b.is_transactional() && b.producer_id() < 0)
    return "a transactional batch without producer id";
  return {};
}

// Kafka's broker stamps CreateTime batches with the largest record timestamp.
void stamp_max_timestamp(std::span<std::byte> batch, std::int64_t max_timestamp_ms) {
  const BatchView view(batch);
  if (!view.is_log_append_time() && view.max_timestamp_ms() == max_timestamp_ms) return;
  const auto attributes = static_cast<std::int16_t>(view.attributes() & ~kLogAppendTimeBit);
  store_be(batch.data() + kAttributesAt, attributes);
  store_be(batch.data() + kMaxTimestampAt, max_timestamp_ms);
  store_be(batch.data() + kCrcAt, view.compute_crc());
}

Result<BatchSummary> check_batch(std::span<std::byte> rest, std::size_t index, std::size_t at,
                                 const AppendLimits& limits) {
  const ParsedBatch parsed =
      parse_batch(rest, {.max_batch_bytes = limits.max_batch_bytes, .check_crc = true});
  if (!parsed.ok()) {
    if (parsed.status == ParseStatus::kBadLength && rest.size() >= kBatchHeaderBytes) {
      const std::int32_t length = read_batch_header(rest).batch_length;
      if (length > 0 &&
          kBatchLengthFieldEnd + static_cast<std::uint64_t>(length) > limits.max_batch_bytes)
        return fail(batch_error(
            Errc::kTooLarge, index, at,
            "larger than max_batch_bytes (" + std::to_string(limits.max_batch_bytes) + ")"));
    }
    return fail(batch_error(
        Errc::kCorruption, index, at,
        "not a valid RecordBatch v2 (" + std::string(parse_status_name(parsed.status)) + ")"));
  }
  const BatchView& b = parsed.batch;
  if (static_cast<std::uint8_t>(b.compression()) > static_cast<std::uint8_t>(Compression::kZstd))
    return fail(batch_error(
        Errc::kCorruption, index, at,
        "undefined compression codec " + std::to_string(static_cast<int>(b.compression()))));
  if (std::string why = check_header(b); !why.empty())
    return fail(batch_error(Errc::kInvalidArgument, index, at, why));
  RecordRules rules(b, b.record_count());
  std::string why;
  if (b.is_compressed()) {
    auto checked = check_compressed_records(b, limits, rules);
    if (!checked)
      return fail(checked.error().with_context("batch " + std::to_string(index) + " at byte " +
                                               std::to_string(at)));
    why = std::move(*checked);
  } else {
    why = check_plain_records(b, rules);
  }
  if (!why.empty()) return fail(batch_error(Errc::kInvalidArgument, index, at, why));
  const std::span<std::byte> bytes = rest.first(parsed.bytes);
  stamp_max_timestamp(bytes, rules.max_timestamp_ms());
  const BatchView stored(bytes);
  return BatchSummary{
      .size_bytes = static_cast<std::uint32_t>(parsed.bytes),
      .record_count = stored.record_count(),
      .max_timestamp_ms = stored.max_timestamp_ms(),
      .compression = stored.compression(),
      .transactional = stored.is_transactional(),
      .producer_id = stored.producer_id(),
      .producer_epoch = stored.producer_epoch(),
      .base_sequence = stored.base_sequence(),
  };
}

}  // namespace

const BatchSummary& ValidatedBatches::batch(std::size_t index) const noexcept {
  RINGLOG_ASSERT(index < count_);
  return index == 0 ? first_ : more_[index - 1];
}

void ValidatedBatches::add(const BatchSummary& summary) {
  if (count_ == 0) {
    first_ = summary;
  } else {
    more_.push_back(summary);
  }
  ++count_;
  records_ += summary.record_count;
  largest_ = std::max<std::size_t>(largest_, summary.size_bytes);
}

Result<ValidatedBatches> validate_batches(std::vector<std::byte> bytes,
                                          const AppendLimits& limits) {
  if (bytes.empty()) return fail(Errc::kInvalidArgument, "append: no batches");
  if (bytes.size() > limits.max_append_bytes)
    return fail(Errc::kTooLarge, "append of " + std::to_string(bytes.size()) +
                                     " bytes is above max_append_bytes (" +
                                     std::to_string(limits.max_append_bytes) + ")");
  ValidatedBatches out;
  std::size_t at = 0;
  while (at < bytes.size()) {
    auto summary = check_batch(std::span(bytes).subspan(at), out.batch_count(), at, limits);
    if (!summary) return fail(summary.error());
    out.add(*summary);
    at += summary->size_bytes;
  }
  out.bytes_ = std::move(bytes);
  return out;
}

bool has_compressed_batch(std::span<const std::byte> bytes) noexcept {
  while (bytes.size() >= kBatchHeaderBytes) {
    const BatchHeader h = read_batch_header(bytes);
    if ((h.attributes & kCompressionMask) != 0) return true;
    if (h.batch_length < kMinBatchLength) return false;
    const std::size_t total = kBatchLengthFieldEnd + static_cast<std::size_t>(h.batch_length);
    if (total > bytes.size()) return false;
    bytes = bytes.subspan(total);
  }
  return false;
}

}  // namespace ringlog
