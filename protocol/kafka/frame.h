// Kafka framing: every request and response is `int32 size` followed by `size` bytes (a header
// and a body). FrameSplitter cuts a connection's byte stream into request frames; the request
// header (v1, or v2 for flexible versions) is parsed by parse_request_header; responses start
// with begin_response() and are sealed by finish_response(), which fills in the size.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include <ringlog/error.h>

#include "protocol/kafka/wire.h"

namespace ringlog::kafka {

inline constexpr std::size_t kDefaultMaxFrameBytes = std::size_t{100}
                                                     << 20;  // Kafka's
                                                             // socket.request.max.bytes

// Splits one connection's input into frames. Owns the receive buffer.
//
//   auto space = splitter.prepare(64 << 10);   // recv into space
//   splitter.commit(n);
//   while (true) { auto f = splitter.next(); if (f.status != kFrame) break; handle(f.frame); }
//
// A frame returned by next() or peek() stays valid until the next call to prepare() or next().
// A size prefix that is negative or larger than max_frame_bytes is kBadSize, for good: framing
// is lost and the connection must be closed (other connections are unaffected).
class FrameSplitter {
 public:
  enum class Status : std::uint8_t { kNeedMore, kFrame, kBadSize };
  struct Next {
    Status status = Status::kNeedMore;
    std::span<const std::byte> frame;  // header + body, without the size prefix
  };

  explicit FrameSplitter(std::size_t max_frame_bytes = kDefaultMaxFrameBytes)
      : max_frame_bytes_(max_frame_bytes) {}

  // Writable space for at least `min_bytes` more input (compacts consumed bytes first).
  std::span<std::byte> prepare(std::size_t min_bytes);
  void commit(std::size_t n) noexcept { end_ += n; }
  // prepare + copy + commit.
  void feed(std::span<const std::byte> data);

  Next next() noexcept;
  // What next() would return, without consuming the frame (a caller may decide from the frame
  // whether to take it now). The frame stays valid as next()'s does.
  Next peek() const noexcept;
  // Bytes received but not yet returned as frames.
  std::size_t buffered_bytes() const noexcept { return end_ - begin_; }

 private:
  std::size_t max_frame_bytes_;
  Bytes buffer_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
  bool bad_ = false;
};

// Request header v1 (v2 adds a TAG_BUFFER, skipped). client_id keeps its i16 length even in v2.
struct RequestHeader {
  std::int16_t api_key = 0;
  std::int16_t api_version = 0;
  std::int32_t correlation_id = 0;
  std::optional<std::string> client_id;
  bool operator==(const RequestHeader&) const = default;
};

struct ParsedRequest {
  RequestHeader header;
  std::span<const std::byte> body;  // borrows the frame
};

// Parses the header of a request frame (as returned by FrameSplitter). The header version is
// chosen from the api key and version (is_flexible). kInvalidArgument if the header is truncated.
// Unknown api keys parse as header v1: the caller decides what to do with them.
Result<ParsedRequest> parse_request_header(std::span<const std::byte> frame);
// Encodes a request frame (size prefix, header, body): for tests and clients.
Bytes encode_request_frame(const RequestHeader& header, std::span<const std::byte> body);

// Starts a response frame: size placeholder, correlation id, and the header v1 TAG_BUFFER when
// `flexible_header` (never for ApiVersions).
Writer begin_response(std::int32_t correlation_id, bool flexible_header);
// Fills in the size prefix (counting spliced file bytes) and returns the frame.
OutFrame finish_response(Writer&& writer);
// Does the response to this request use header v1? (Flexible versions, except ApiVersions.)
bool response_header_is_flexible(std::int16_t api_key, std::int16_t api_version) noexcept;

}  // namespace ringlog::kafka
