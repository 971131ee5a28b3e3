// Kafka framing: every request and response is `int32 size` followed by `size` bytes (a header
// and a body). FrameSplitter cuts a connection's byte stream into request frames; the request
// header (v1, or v2 for flexible versions) is parsed by parse_request_header; responses start
// with begin_response() and are sealed by finish_response(), which fills in the size.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
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
//
// Memory: a frame larger than a receive chunk is received in place, into a buffer of exactly its
// declared size that is neither zeroed nor copied, so its pages become resident only as its bytes
// arrive; once it has been returned and nothing else is buffered, the large buffer is freed. So
// the splitter holds at most max(chunk, the frame in progress) plus what one chunk brought beyond
// it.
class FrameSplitter {
 public:
  enum class Status : std::uint8_t { kNeedMore, kFrame, kBadSize };
  struct Next {
    Status status = Status::kNeedMore;
    std::span<const std::byte> frame;  // header + body, without the size prefix
  };
  // An empty splitter keeps a buffer up to this size for the next frames.
  static constexpr std::size_t kKeepCapacityBytes = std::size_t{1} << 20;

  explicit FrameSplitter(std::size_t max_frame_bytes = kDefaultMaxFrameBytes)
      : max_frame_bytes_(max_frame_bytes) {}

  // Writable space: exactly the rest of the frame in progress when its size is known and it is
  // larger than `min_bytes`, else at least `min_bytes` (compacts consumed bytes first).
  std::span<std::byte> prepare(std::size_t min_bytes);
  void commit(std::size_t n) noexcept { end_ += n; }
  // prepare + copy + commit, as many times as needed.
  void feed(std::span<const std::byte> data);

  Next next() noexcept;
  // What next() would return, without consuming the frame (a caller may decide from the frame
  // whether to take it now). The frame stays valid as next()'s does.
  Next peek() const noexcept;
  // Frees a buffer above kKeepCapacityBytes when nothing is buffered (invalidating the frames
  // returned), so that a large frame handed on is not held twice while it is being answered.
  void trim() noexcept;
  // Bytes received but not yet returned as frames.
  std::size_t buffered_bytes() const noexcept { return end_ - begin_; }
  // Size prefix included, the size of the first frame not yet returned when its prefix has
  // arrived but not all of it (0 otherwise, also for a bad size).
  std::size_t incomplete_frame_bytes() const noexcept;
  // Bytes allocated for the receive buffer.
  std::size_t capacity_bytes() const noexcept { return capacity_; }

 private:
  void relocate(std::size_t capacity);

  std::size_t max_frame_bytes_;
  std::unique_ptr<std::byte[]> buffer_;
  std::size_t capacity_ = 0;
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
