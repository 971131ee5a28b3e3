#include "protocol/kafka/frame.h"

#include <algorithm>
#include <cstring>

#include "protocol/kafka/api.h"

namespace ringlog::kafka {

namespace {

// The size prefix at `at`, or -1 for fewer than 4 bytes.
std::int64_t size_prefix(const std::byte* at, std::size_t available) noexcept {
  if (available < 4) return -1;
  Reader r(std::span<const std::byte>(at, 4));
  return r.i32();
}

}  // namespace

std::size_t FrameSplitter::incomplete_frame_bytes() const noexcept {
  if (bad_) return 0;
  const std::size_t available = end_ - begin_;
  const std::int64_t size = size_prefix(buffer_.get() + begin_, available);
  if (size < 0 || static_cast<std::size_t>(size) > max_frame_bytes_) return 0;
  const std::size_t total = 4 + static_cast<std::size_t>(size);
  return available < total ? total : 0;
}

// Moves the buffered bytes to the front of a buffer of `capacity` bytes (a new one, not zeroed,
// if the capacity changes).
void FrameSplitter::relocate(std::size_t capacity) {
  const std::size_t used = end_ - begin_;
  if (capacity != capacity_) {
    auto fresh = std::make_unique_for_overwrite<std::byte[]>(capacity);
    if (used > 0) std::memcpy(fresh.get(), buffer_.get() + begin_, used);
    buffer_ = std::move(fresh);
    capacity_ = capacity;
  } else if (begin_ > 0 && used > 0) {
    std::memmove(buffer_.get(), buffer_.get() + begin_, used);
  }
  begin_ = 0;
  end_ = used;
}

std::span<std::byte> FrameSplitter::prepare(std::size_t min_bytes) {
  const std::size_t used = end_ - begin_;
  const std::size_t frame = incomplete_frame_bytes();
  const std::size_t need = frame > min_bytes ? frame : used + min_bytes;
  if (used == 0 && capacity_ > kKeepCapacityBytes && need <= kKeepCapacityBytes) {
    relocate(need);  // a large frame is done with: give its buffer back
  } else if (capacity_ < need) {
    relocate(need);
  } else if (capacity_ - begin_ < need || (begin_ > 0 && used == 0)) {
    relocate(capacity_);
  }
  const std::size_t room = capacity_ - end_;
  const std::size_t rest = frame > min_bytes ? frame - used : room;
  return {buffer_.get() + end_, std::min(room, rest)};
}

void FrameSplitter::trim() noexcept {
  if (begin_ != end_ || capacity_ <= kKeepCapacityBytes) return;
  buffer_.reset();
  capacity_ = 0;
  begin_ = 0;
  end_ = 0;
}

void FrameSplitter::feed(std::span<const std::byte> data) {
  while (!data.empty()) {
    std::span<std::byte> space = prepare(data.size());
    const std::size_t n = std::min(space.size(), data.size());
    std::copy_n(data.begin(), n, space.begin());
    commit(n);
    data = data.subspan(n);
  }
}

FrameSplitter::Next FrameSplitter::peek() const noexcept {
  if (bad_) return {Status::kBadSize, {}};
  const std::size_t available = end_ - begin_;
  const std::int64_t size = size_prefix(buffer_.get() + begin_, available);
  if (available < 4) return {};
  if (size < 0 || static_cast<std::size_t>(size) > max_frame_bytes_) return {Status::kBadSize, {}};
  if (available - 4 < static_cast<std::size_t>(size)) return {};
  return {Status::kFrame,
          std::span<const std::byte>(buffer_.get() + begin_ + 4, static_cast<std::size_t>(size))};
}

FrameSplitter::Next FrameSplitter::next() noexcept {
  const Next next = peek();
  if (next.status == Status::kBadSize) bad_ = true;
  if (next.status == Status::kFrame) begin_ += 4 + next.frame.size();
  return next;
}

Result<ParsedRequest> parse_request_header(std::span<const std::byte> frame) {
  Reader r(frame);
  ParsedRequest out;
  out.header.api_key = r.i16();
  out.header.api_version = r.i16();
  out.header.correlation_id = r.i32();
  out.header.client_id = r.nullable_string();
  if (is_flexible(out.header.api_key, out.header.api_version)) r.skip_tagged_fields();
  if (!r.ok()) return fail(Errc::kInvalidArgument, "truncated request header");
  out.body = frame.subspan(r.position());
  return out;
}

Bytes encode_request_frame(const RequestHeader& header, std::span<const std::byte> body) {
  Writer w;
  w.i32(0);
  w.i16(header.api_key);
  w.i16(header.api_version);
  w.i32(header.correlation_id);
  w.nullable_string(header.client_id);
  if (is_flexible(header.api_key, header.api_version)) w.empty_tagged_fields();
  w.raw(body);
  w.patch_i32(0, static_cast<std::int32_t>(w.position() - 4));
  return std::move(w).take().bytes;
}

bool response_header_is_flexible(std::int16_t api_key, std::int16_t api_version) noexcept {
  return api_key != static_cast<std::int16_t>(ApiKey::kApiVersions) &&
         is_flexible(api_key, api_version);
}

Writer begin_response(std::int32_t correlation_id, bool flexible_header) {
  Writer w;
  w.i32(0);  // size, patched by finish_response
  w.i32(correlation_id);
  if (flexible_header) w.empty_tagged_fields();
  return w;
}

OutFrame finish_response(Writer&& writer) {
  writer.patch_i32(0, static_cast<std::int32_t>(writer.frame_bytes() - 4));
  return std::move(writer).take();
}

}  // namespace ringlog::kafka
