#include "protocol/kafka/frame.h"

#include <algorithm>
#include <cstring>

#include "protocol/kafka/api.h"

namespace ringlog::kafka {

std::span<std::byte> FrameSplitter::prepare(std::size_t min_bytes) {
  if (begin_ > 0 && (begin_ == end_ || begin_ >= buffer_.size() / 2)) {
    std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  if (buffer_.size() - end_ < min_bytes) buffer_.resize(end_ + min_bytes);
  return std::span<std::byte>(buffer_).subspan(end_);
}

void FrameSplitter::feed(std::span<const std::byte> data) {
  std::span<std::byte> space = prepare(data.size());
  std::copy(data.begin(), data.end(), space.begin());
  commit(data.size());
}

FrameSplitter::Next FrameSplitter::peek() const noexcept {
  if (bad_) return {Status::kBadSize, {}};
  const std::size_t available = end_ - begin_;
  if (available < 4) return {};
  Reader size_reader(std::span<const std::byte>(buffer_).subspan(begin_, 4));
  const std::int32_t size = size_reader.i32();
  if (size < 0 || static_cast<std::size_t>(size) > max_frame_bytes_) return {Status::kBadSize, {}};
  if (available - 4 < static_cast<std::size_t>(size)) return {};
  return {Status::kFrame,
          std::span<const std::byte>(buffer_).subspan(begin_ + 4, static_cast<std::size_t>(size))};
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
