// What each command of the line protocol does on the server (docs/protocol.md section 2), and
// the long polls. The event loop, connections and sending are in server.cc.
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <limits>

#include "io/assert.h"
#include "protocol/lexical.h"
#include "protocol/reply.h"
#include "protocol/server_impl.h"

namespace ringlog::protocol {

// ---- parsing and dispatch
// -------------------------------------------------------------------------

// Parses and dispatches requests while the connection may take more. A request the gate holds
// back (order_gate.h) is deferred and stops parsing until a completion pumps the connection.
void Server::Impl::process(Connection& conn) {
  if (conn.deferred && !resume_deferred(conn)) return;
  while (!conn.read_closed && !conn.closing && !blocked(conn) && !conn.deferred) {
    Request request;
    const ParseOutcome outcome = conn.parser.next(request);
    if (outcome == ParseOutcome::kNeedMore) return;
    // Parsed: its body is copied from here on, so a large request's share of the budget goes.
    release_request_bytes(std::exchange(conn.request_budget_bytes, 0));
    ++stats_.requests;
    const std::uint64_t seq = conn.replies.reserve();
    switch (outcome) {
      case ParseOutcome::kReady:
        if (!conn.gate.may_start(order_class(request.command))) {
          defer(conn, seq, request);
          return;
        }
        dispatch(conn, seq, request);
        break;
      case ParseOutcome::kBadRequest:
        reply_error(conn, seq, conn.parser.error().code, conn.parser.error().message);
        break;
      case ParseOutcome::kFramingLost: {
        Reply bye;
        append_error(bye.head, conn.parser.error().code, conn.parser.error().message);
        bye.close_after = true;
        ++stats_.errors;
        conn.read_closed = true;
        conn.replies.fill(seq, std::move(bye));
        return;
      }
      case ParseOutcome::kNeedMore:
        break;
    }
  }
}

void Server::Impl::defer(Connection& conn, std::uint64_t seq, const Request& request) {
  Connection::Deferred& d = conn.deferred.emplace();
  d.seq = seq;
  d.request = request;
  d.topic = request.topic;
  d.group = request.group;
  d.key = request.key;
  d.body.assign(reinterpret_cast<const char*>(request.body.data()), request.body.size());
}

bool Server::Impl::resume_deferred(Connection& conn) {
  if (!conn.gate.may_start(order_class(conn.deferred->request.command))) return false;
  Connection::Deferred d = std::move(*conn.deferred);
  conn.deferred.reset();
  d.request.topic = d.topic;  // point the views at the strings where they are now
  d.request.group = d.group;
  d.request.key = d.key;
  d.request.body = as_bytes(d.body);
  dispatch(conn, d.seq, d.request);
  return true;
}

void Server::Impl::dispatch(Connection& conn, std::uint64_t seq, const Request& request) {
  switch (request.command) {
    case Command::kPut:
      return handle_put(conn, seq, request);
    case Command::kPutb:
      return handle_putb(conn, seq, request);
    case Command::kGet:
    case Command::kFetch:
      return handle_read(conn, seq, request);
    case Command::kOffsets:
      return handle_offsets(conn, seq, request);
    case Command::kPing:
      return reply_text(conn, seq, "pong\r\n");
    case Command::kVersion: {
      std::string text;
      append_version(text, kProtocolVersion);
      return reply_text(conn, seq, std::move(text));
    }
    case Command::kQuit: {
      Reply bye;
      bye.close_after = true;
      conn.read_closed = true;
      return reply(conn, seq, std::move(bye));
    }
    default:
      return handle_admin(conn, seq, request);
  }
}

void Server::Impl::reply(Connection& conn, std::uint64_t seq, Reply reply) {
  conn.replies.fill(seq, std::move(reply));
}

void Server::Impl::reply_text(Connection& conn, std::uint64_t seq, std::string text) {
  Reply r;
  r.head = std::move(text);
  reply(conn, seq, std::move(r));
}

void Server::Impl::reply_error(Connection& conn, std::uint64_t seq, StatusCode code,
                               std::string_view message) {
  ++stats_.errors;
  std::string text;
  append_error(text, code, message);
  reply_text(conn, seq, std::move(text));
}

void Server::Impl::reply_engine_error(Connection& conn, std::uint64_t seq, const Error& error) {
  reply_error(conn, seq, status_code_from_errc(error.code()), error.message());
}

namespace {

// Any batch size is plausible (the server's limits apply elsewhere), so that a batch running
// past the end of the bytes is reported as kTruncated, not kBadLength. CRCs are checked.
ParseOptions any_size() {
  ParseOptions options;
  options.max_batch_bytes = static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max());
  return options;
}

Reply error_reply(const Error& error) {
  Reply r;
  append_error(r.head, status_code_from_errc(error.code()), error.message());
  return r;
}

}  // namespace

// ---- produce ------------------------------------------------------------------------------------

namespace {

// With auto-creation off, an unknown topic is a 404 before anything is appended.
bool topic_missing(Engine& engine, const Request& request, Error* error) {
  auto offsets = engine.offsets(request.topic, request.partition);
  if (offsets || offsets.error().code() != Errc::kNotFound) return false;
  *error = offsets.error();
  return true;
}

}  // namespace

void Server::Impl::handle_put(Connection& conn, std::uint64_t seq, const Request& request) {
  ++stats_.puts;
  Error missing(Errc::kNotFound, "");
  if (!options_.auto_create_topics && topic_missing(engine_, request, &missing)) {
    return reply_engine_error(conn, seq, missing);
  }
  conn.builder.reset();
  std::optional<std::span<const std::byte>> key;
  if (request.has_key) key = as_bytes(request.key);
  conn.builder.add(key, request.body);
  const std::span<const std::byte> batch = conn.builder.finish();
  conn.gate.start(OrderClass::kAppend);
  ++appends_pending_;
  conn.pending_read_bytes += batch.size();
  engine_.append_async(request.topic, request.partition,
                       std::vector<std::byte>(batch.begin(), batch.end()),
                       [this, id = conn.id, seq, bytes = batch.size()](Result<AppendResult> r) {
                         mailbox_->post(AppendDone{id, seq, false, std::move(r), bytes});
                       });
}

void Server::Impl::handle_putb(Connection& conn, std::uint64_t seq, const Request& request) {
  ++stats_.putbs;
  if (request.body.empty())
    return reply_error(conn, seq, StatusCode::kBadRequest, "empty putb body");
  Error missing(Errc::kNotFound, "");
  if (!options_.auto_create_topics && topic_missing(engine_, request, &missing)) {
    return reply_engine_error(conn, seq, missing);
  }
  // Validated here, record by record, so that a bad body is a 400 or 413 (the engine's
  // kCorruption also means a damaged partition, a 500); the engine does not check it again.
  auto batches = validate_batches(std::vector<std::byte>(request.body.begin(), request.body.end()),
                                  engine_.append_limits());
  if (!batches) {
    const StatusCode code =
        batches.error().code() == Errc::kTooLarge ? StatusCode::kTooLarge : StatusCode::kBadRequest;
    return reply_error(conn, seq, code, "invalid batch: " + batches.error().message());
  }
  conn.gate.start(OrderClass::kAppend);
  ++appends_pending_;
  const std::size_t bytes = batches->size_bytes();
  conn.pending_read_bytes += bytes;
  engine_.append_async(request.topic, request.partition, std::move(*batches),
                       [this, id = conn.id, seq, bytes](Result<AppendResult> r) {
                         mailbox_->post(AppendDone{id, seq, true, std::move(r), bytes});
                       });
}

void Server::Impl::on_append_done(AppendDone& done) {
  --appends_pending_;
  Connection* conn = find(done.conn);
  if (conn == nullptr) return;
  if (!done.result) {
    reply_engine_error(*conn, done.seq, done.result.error());
  } else {
    std::string text;
    if (done.range) {
      append_ok(text, done.result->first_offset, done.result->last_offset);
    } else {
      append_ok(text, done.result->first_offset);
    }
    reply_text(*conn, done.seq, std::move(text));
  }
  RINGLOG_ASSERT(conn->pending_read_bytes >= done.reserved_bytes);
  conn->pending_read_bytes -= done.reserved_bytes;
  conn->gate.finish(OrderClass::kAppend);
  pump(*conn);  // a request held at the gate may go now
}

// ---- consume ------------------------------------------------------------------------------------

void Server::Impl::handle_offsets(Connection& conn, std::uint64_t seq, const Request& request) {
  auto offsets = engine_.offsets(request.topic, request.partition);
  if (!offsets) return reply_engine_error(conn, seq, offsets.error());
  std::string text;
  append_offsets(text, offsets->first, offsets->second);
  reply_text(conn, seq, std::move(text));
}

void Server::Impl::handle_read(Connection& conn, std::uint64_t seq, const Request& request) {
  if (request.command == Command::kGet) {
    ++stats_.gets;
  } else {
    ++stats_.fetches;
  }
  ReadJob job{request.command,
              std::string(request.topic),
              request.partition,
              request.offset,
              request.max_bytes,
              request.wait_ms,
              0};
  if (request.command == Command::kGet || !options_.zero_copy) {
    job.reserved_bytes = static_cast<std::uint64_t>(request.max_bytes);
    conn.pending_read_bytes += job.reserved_bytes;
  }
  conn.gate.start(OrderClass::kRead);  // finished by the delivery with the answer
  submit_read(conn.id, seq, std::move(job));
}

void Server::Impl::submit_read(std::uint64_t conn, std::uint64_t seq, ReadJob job) {
  pool_->post([this, conn, seq, job = std::move(job)]() mutable {
    mailbox_->post(run_read(conn, seq, std::move(job)));
  });
}

namespace {

// Reads a file range into memory (the zero-copy-off mode and `get`). Runs on a worker thread.
Status read_slice(const FileSlice& slice, std::string& out) {
  const std::size_t at = out.size();
  out.resize(at + slice.length);
  std::size_t done = 0;
  while (done < slice.length) {
    const ssize_t n = ::pread(slice.fd, out.data() + at + done, slice.length - done,
                              static_cast<off_t>(slice.position + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::unexpected(error_from_errno(errno, "read segment"));
    if (n == 0) return fail(Errc::kCorruption, "segment shorter than its visible data");
    done += static_cast<std::size_t>(n);
  }
  return {};
}

}  // namespace

Delivery Server::Impl::run_read(std::uint64_t conn, std::uint64_t seq, ReadJob job) const {
  Delivery d{conn, seq, {}, std::nullopt, job.reserved_bytes, OrderClass::kRead};
  const auto max_bytes = static_cast<std::uint32_t>(std::max(job.max_bytes, 1));
  auto fetched = engine_.fetch(job.topic, job.partition, job.offset, max_bytes);
  if (!fetched) {
    d.reply = error_reply(fetched.error());
    return d;
  }
  const FileSlice& slice = fetched->slice;
  if (slice.length == 0 && job.wait_ms > 0) {
    d.park = std::move(job);
    return d;
  }
  if (job.command == Command::kFetch) {
    append_batches_header(d.reply.head, slice.length, fetched->high_watermark);
    if (slice.length == 0) {
      append_crlf(d.reply.head);
    } else if (options_.zero_copy) {
      d.reply.file = slice;
    } else if (auto ok = read_slice(slice, d.reply.head); !ok) {
      d.reply = error_reply(ok.error());
    } else {
      append_crlf(d.reply.head);
    }
    return d;
  }
  std::string bytes;
  if (auto ok = read_slice(slice, bytes); !ok) {
    d.reply = error_reply(ok.error());
    return d;
  }
  append_records(d.reply.head, as_bytes(bytes), job.offset, job.max_bytes);
  return d;
}

void Server::Impl::on_delivery(Delivery& delivery) {
  Connection* conn = find(delivery.conn);
  if (conn == nullptr) return;
  if (delivery.park) return park(delivery.conn, delivery.seq, std::move(*delivery.park));
  RINGLOG_ASSERT(conn->pending_read_bytes >= delivery.reserved_bytes);
  conn->pending_read_bytes -= delivery.reserved_bytes;
  conn->gate.finish(delivery.order);
  if (delivery.reply.head.starts_with("error ")) ++stats_.errors;
  reply(*conn, delivery.seq, std::move(delivery.reply));
  pump(*conn);
}

// ---- long polls ---------------------------------------------------------------------------------

void Server::Impl::park(std::uint64_t conn, std::uint64_t seq, ReadJob job) {
  ++stats_.long_polls;
  const Clock::time_point deadline = Clock::now() + std::chrono::milliseconds(job.wait_ms);
  if (shutting_down_) job.wait_ms = 0;
  // Counted before the watermark is read again: an advance after this read is posted by the
  // visibility listener, one before it is seen here. Either way the waiter wakes.
  waiter_count_.fetch_add(1);
  waiters_.push_back({conn, seq, std::move(job), deadline});
  const ReadJob& parked = waiters_.back().job;
  auto offsets = engine_.offsets(parked.topic, parked.partition);
  if (offsets && offsets->second <= parked.offset && parked.wait_ms > 0) return tick_by(deadline);
  Waiter ready = std::move(waiters_.back());
  waiters_.pop_back();
  waiter_count_.fetch_sub(1);
  ready.job.wait_ms = 0;  // data came meanwhile (or the partition is gone): answer now
  submit_read(ready.conn, ready.seq, std::move(ready.job));
}

void Server::Impl::on_visible(const Visible& visible) {
  for (std::size_t i = 0; i < waiters_.size();) {
    Waiter& w = waiters_[i];
    if (w.job.partition != visible.partition || w.job.topic != visible.topic ||
        (visible.high_watermark <= w.job.offset && w.job.wait_ms > 0)) {
      ++i;
      continue;
    }
    Waiter ready = std::move(w);
    waiters_[i] = std::move(waiters_.back());
    waiters_.pop_back();
    waiter_count_.fetch_sub(1);
    ready.job.wait_ms = 0;  // answer now, data or not
    submit_read(ready.conn, ready.seq, std::move(ready.job));
  }
}

void Server::Impl::expire_waiters(Clock::time_point now, bool all) {
  for (std::size_t i = 0; i < waiters_.size();) {
    Waiter& w = waiters_[i];
    if (!all && w.deadline > now && find(w.conn) != nullptr) {
      ++i;
      continue;
    }
    Waiter done = std::move(w);
    waiters_[i] = std::move(waiters_.back());
    waiters_.pop_back();
    waiter_count_.fetch_sub(1);
    if (find(done.conn) == nullptr) continue;
    done.job.wait_ms = 0;
    submit_read(done.conn, done.seq, std::move(done.job));
  }
}

// ---- administration -----------------------------------------------------------------------------

void Server::Impl::handle_admin(Connection& conn, std::uint64_t seq, const Request& request) {
  // The request's views die with the parser's buffer: the worker gets a copy without them.
  Request numbers = request;
  numbers.topic = numbers.group = numbers.key = {};
  numbers.body = {};
  const OrderClass order = order_class(request.command);
  conn.gate.start(order);  // finished by the delivery
  pool_->post([this, id = conn.id, seq, order, numbers, topic = std::string(request.topic),
               group = std::string(request.group)]() {
    Delivery d{id, seq, run_admin(numbers, topic, group), std::nullopt, 0, order};
    mailbox_->post(std::move(d));
  });
}

Reply Server::Impl::run_admin(const Request& request, const std::string& topic,
                              const std::string& group) const {
  Reply r;
  Status status;
  switch (request.command) {
    case Command::kCommit:
      status = engine_.commit_offset(group, topic, request.partition, request.offset);
      if (status) append_ok(r.head);
      break;
    case Command::kCommitted: {
      auto committed = engine_.committed_offset(group, topic, request.partition);
      if (!committed) return error_reply(committed.error());
      append_committed(r.head, *committed ? (*committed)->offset : -1);
      break;
    }
    case Command::kCreate: {
      TopicConfig config;
      config.partitions = request.partitions;
      status = engine_.create_topic(topic, config);
      if (status) append_ok(r.head);
      break;
    }
    case Command::kDelete:
      status = engine_.delete_topic(topic);
      if (status) append_ok(r.head);
      break;
    case Command::kTopics:
      for (const std::string& name : engine_.list_topics()) {
        auto info = engine_.describe_topic(name);
        if (info) append_topic(r.head, name, static_cast<std::int32_t>(info->partitions.size()));
      }
      append_end(r.head);
      break;
    case Command::kDescribe: {
      auto info = engine_.describe_topic(topic);
      if (!info) return error_reply(info.error());
      for (const PartitionInfo& p : info->partitions) {
        append_partition(r.head, p.partition, p.log_start, p.high_watermark);
      }
      append_end(r.head);
      break;
    }
    case Command::kStats:
      r.head = stats_text(topic);
      break;
    default:
      RINGLOG_ASSERT_MSG(false, "not an admin command");
  }
  if (!status) return error_reply(status.error());
  return r;
}

std::string Server::Impl::stats_text(std::string_view topic) const {
  std::string out;
  if (!topic.empty()) {
    auto info = engine_.describe_topic(topic);
    if (!info) return error_reply(info.error()).head;
    append_stat(out, "partitions", static_cast<std::int64_t>(info->partitions.size()));
    append_stat(out, "durability", info->durability.to_string());
    append_stat(out, "segment_bytes", static_cast<std::int64_t>(info->segment_bytes));
    for (const PartitionInfo& p : info->partitions) {
      const std::string prefix = "partition." + std::to_string(p.partition) + ".";
      append_stat(out, prefix + "log_start", p.log_start);
      append_stat(out, prefix + "high_watermark", p.high_watermark);
      append_stat(out, prefix + "size_bytes", static_cast<std::int64_t>(p.size_bytes));
      append_stat(out, prefix + "segments", static_cast<std::int64_t>(p.segments));
      if (p.corruption) append_stat(out, prefix + "damage", *p.corruption);
      if (!p.lost.empty()) {
        std::string ranges;
        for (const auto& [from, to] : p.lost) {
          if (!ranges.empty()) ranges += ',';
          ranges += std::to_string(from) + "-" + std::to_string(to);
        }
        append_stat(out, prefix + "lost", ranges);
      }
      if (p.write_failure) append_stat(out, prefix + "write_failure", *p.write_failure);
    }
    append_end(out);
    return out;
  }
  const ServerStats s = stats();
  const auto uptime_s =
      std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - started_at_).count();
  const auto n = [](std::uint64_t v) { return static_cast<std::int64_t>(v); };
  append_stat(out, "version", kProtocolVersion);
  append_stat(out, "pid", static_cast<std::int64_t>(::getpid()));
  append_stat(out, "uptime_s", static_cast<std::int64_t>(uptime_s));
  append_stat(out, "curr_connections", n(s.connections));
  append_stat(out, "total_connections", n(s.connections_total));
  append_stat(out, "rejected_connections", n(s.connections_rejected));
  append_stat(out, "cmd_total", n(s.requests));
  append_stat(out, "cmd_put", n(s.puts));
  append_stat(out, "cmd_putb", n(s.putbs));
  append_stat(out, "cmd_get", n(s.gets));
  append_stat(out, "cmd_fetch", n(s.fetches));
  append_stat(out, "long_polls", n(s.long_polls));
  append_stat(out, "errors", n(s.errors));
  append_stat(out, "bytes_in", n(s.bytes_in));
  append_stat(out, "bytes_out", n(s.bytes_out));
  append_stat(out, "zero_copy", options_.zero_copy ? "on" : "off");
  if (auto engine = engine_.stats()) {
    append_stat(out, "topics", n(engine->topics));
    append_stat(out, "partitions", n(engine->partitions));
    append_stat(out, "append_records", n(engine->append_records));
    append_stat(out, "append_bytes", n(engine->append_bytes));
    append_stat(out, "append_errors", n(engine->append_errors));
    append_stat(out, "write_cycles", n(engine->write_cycles));
    append_stat(out, "syncs", n(engine->syncs));
    append_stat(out, "offsets_expired", n(engine->offsets_expired));
    append_stat(out, "preallocated_bytes", n(engine->preallocated_bytes));
    append_stat(out, "preallocation_budget", n(engine->preallocation_budget));
    append_stat(out, "open_segment_files", n(engine->open_segment_files));
    append_stat(out, "max_open_files", n(engine->max_open_files));
    append_stat(out, "free_space_bytes", n(engine->free_space_bytes));
    append_stat(out, "min_free_space_bytes", n(engine->min_free_space_bytes));
    append_stat(out, "appends_refused_for_space",
                static_cast<std::int64_t>(engine->appends_refused_for_space ? 1 : 0));
    append_stat(out, "space_refusals", n(engine->space_refusals));
    append_stat(out, "env", engine->env);
    append_stat(out, "damage", static_cast<std::int64_t>(engine->damage.size()));
    for (std::size_t i = 0; i < engine->damage.size(); ++i)
      append_stat(out, "damage." + std::to_string(i), engine->damage[i]);
  }
  append_end(out);
  return out;
}

// ---- get replies --------------------------------------------------------------------------------

std::int64_t append_records(std::string& out, std::span<const std::byte> batches,
                            std::int64_t offset, std::int32_t max_bytes) {
  std::int64_t next = offset;
  std::int64_t value_bytes = 0;
  bool any = false;
  BatchReader reader(batches, any_size());
  for (ParsedBatch parsed = reader.next(); parsed.ok(); parsed = reader.next()) {
    const BatchView& batch = parsed.batch;
    if (batch.is_compressed() || batch.is_control()) {
      next = std::max(next, batch.next_offset());
      continue;
    }
    for (const RecordView& record : batch.records()) {
      if (record.offset < offset) continue;
      const std::size_t length = record.value ? record.value->size() : 0;
      if (any && value_bytes + static_cast<std::int64_t>(length) > max_bytes) {
        append_end(out, next);
        return next;
      }
      append_msg_header(out, record.offset, record.timestamp_ms, length, record.key);
      if (record.value) {
        out.append(reinterpret_cast<const char*>(record.value->data()), length);
      }
      append_crlf(out);
      value_bytes += static_cast<std::int64_t>(length);
      any = true;
      next = record.offset + 1;
    }
    next = std::max(next, batch.next_offset());
  }
  append_end(out, next);
  return next;
}

}  // namespace ringlog::protocol
