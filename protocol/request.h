// The incremental request parser of the line protocol (docs/protocol.md sections 1, 2, 4, 5).
//
// Bytes are received straight into the parser's buffer (`prepare()` + `commit()`, or `feed()`
// which copies), then `next()` is called until it returns kNeedMore. Each call yields one of four
// distinct outcomes:
//   kNeedMore    - no complete request is buffered; receive more bytes.
//   kReady       - `out` holds a complete, validated request.
//   kBadRequest  - the request is wrong but framing is kept: reply `error()` and go on parsing.
//                  A body that came with it is skipped, never handed out, even partly.
//   kFramingLost - the stream can no longer be split into requests: reply `error()`, then close.
//                  Sticky: every later call returns kFramingLost.
//
// Memory is bounded: the buffer never holds more than one line limit plus one body limit plus
// its terminator of a partial request; bodies above the limit are skipped as they arrive.
//
// Lifetime: the views in a Request (topic, group, key, body) point into the parser and stay valid
// until the next call to `prepare()`, `feed()` or `commit()`; `next()` does not move bytes, so a
// caller may parse every buffered request before receiving again.
// Threading: one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "protocol/status.h"

namespace ringlog::protocol {

enum class Command : std::uint8_t {
  kPut,
  kPutb,
  kGet,
  kFetch,
  kOffsets,
  kCommit,
  kCommitted,
  kCreate,
  kTopics,
  kDescribe,
  kDelete,
  kStats,
  kVersion,
  kPing,
  kQuit,
};

// "put", "putb", ... (lowercase, as documented).
std::string_view command_name(Command command) noexcept;

struct ParserLimits {
  std::size_t max_line_bytes = 4096;        // including the "\r\n"
  std::size_t max_message_bytes = 1 << 20;  // put body
  std::size_t max_batch_bytes = 8 << 20;    // putb body
  std::size_t max_skip_bytes = 64 << 20;    // larger bodies lose framing instead of being skipped
  std::uint32_t max_wait_ms = 60000;        // larger wait_ms values are lowered to this
  std::int32_t max_partitions = 100000;     // create <topic> <partitions>
  std::size_t initial_buffer_bytes = 16 << 10;  // grown for large bodies, shrunk back after
};

constexpr std::int32_t kDefaultGetMaxBytes = 65536;

// A parsed request. Which fields are meaningful depends on `command` (docs/protocol.md §2);
// the others keep their defaults.
struct Request {
  Command command = Command::kPing;
  std::string_view topic;  // empty for `stats` without a topic
  std::string_view group;  // commit, committed
  std::int32_t partition = 0;
  std::int64_t offset = 0;                       // get, fetch, commit
  std::int32_t max_bytes = kDefaultGetMaxBytes;  // get, fetch
  std::uint32_t wait_ms = 0;                     // get, fetch (already lowered to the limit)
  std::int32_t partitions = 0;                   // create
  bool has_key = false;                          // put: key= or keyhex= given
  std::string_view key;                          // put: the key bytes (hex already decoded)
  std::span<const std::byte> body;               // put, putb
};

enum class ParseOutcome : std::uint8_t { kNeedMore, kReady, kBadRequest, kFramingLost };

std::string_view parse_outcome_name(ParseOutcome outcome) noexcept;

// What went wrong, for kBadRequest and kFramingLost.
struct ProtocolError {
  StatusCode code = StatusCode::kBadRequest;
  std::string message;
};

class RequestParser {
 public:
  explicit RequestParser(ParserLimits limits = {});
  RequestParser(const RequestParser&) = delete;
  RequestParser& operator=(const RequestParser&) = delete;

  // Free space at the end of the buffer to receive into; never empty unless framing is lost.
  // May move buffered bytes (invalidating earlier Requests) and grow the buffer within its bound.
  std::span<std::byte> prepare();
  // Marks `n` bytes of the span returned by the last prepare() as received.
  void commit(std::size_t n);
  // prepare() + copy + commit() for callers that already hold the bytes (tests, benchmarks).
  // Returns how many bytes were taken: fewer than given when the buffer is full (call next())
  // or framing is lost.
  std::size_t feed(std::span<const std::byte> bytes);
  std::size_t feed(std::string_view text);

  ParseOutcome next(Request& out);

  // The error of the last kBadRequest or kFramingLost.
  const ProtocolError& error() const noexcept { return error_; }

  std::size_t buffered_bytes() const noexcept { return end_ - begin_; }
  // Line, body and its "\r\n": the size of the request whose body is being received, while not
  // all of it has arrived (0 otherwise, also while a body is skipped).
  std::size_t incomplete_request_bytes() const noexcept;
  std::size_t capacity_bytes() const noexcept { return capacity_; }
  const ParserLimits& limits() const noexcept { return limits_; }

 private:
  enum class State : std::uint8_t { kLine, kBody, kSkip, kSkipTrailer, kLost };
  struct LineScan;

  // Each step returns an outcome for the caller, or nullopt when it changed state and parsing
  // goes on.
  std::optional<ParseOutcome> parse_line(Request& out);
  std::optional<ParseOutcome> on_line(std::string_view line, std::size_t line_bytes, Request& out);
  std::optional<ParseOutcome> begin_body(const LineScan& scan, std::size_t line_bytes,
                                         Request& out);
  std::optional<ParseOutcome> finish_body(Request& out);
  std::optional<ParseOutcome> skip_body();
  std::optional<ParseOutcome> skip_trailer();
  // 0 if more bytes are needed, -1 if the bytes at `pos` are not a line end, else its size.
  int trailer_bytes(std::size_t pos) const noexcept;
  ParseOutcome bad_request(StatusCode code, std::string message);
  ParseOutcome lose_framing(StatusCode code, std::string message);
  void start_skip(std::uint64_t body_bytes);
  bool fill(const LineScan& scan, Request& out);
  bool fill_arguments(const LineScan& scan, Request& out);
  std::string_view line_at_begin(std::size_t line_bytes) const noexcept;
  std::size_t needed_bytes() const noexcept;
  void relocate(std::size_t capacity);

  ParserLimits limits_;
  std::unique_ptr<std::byte[]> buffer_;
  std::size_t capacity_ = 0;
  std::size_t begin_ = 0;  // first unconsumed byte
  std::size_t end_ = 0;    // one past the last received byte
  std::size_t scan_ = 0;   // kLine: bytes before this hold no '\n'
  State state_ = State::kLine;
  std::size_t line_bytes_ = 0;   // kBody: the request line, terminator included
  std::size_t body_bytes_ = 0;   // kBody: the declared body length
  std::uint64_t skip_left_ = 0;  // kSkip: body bytes still to drop
  std::string key_storage_;      // decoded keyhex=
  ProtocolError error_;
};

}  // namespace ringlog::protocol
