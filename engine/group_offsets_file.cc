#include "engine/group_offsets_file.h"

#include <cstring>

#include "engine/crc32c.h"
#include "engine/endian.h"
#include "io/assert.h"

namespace ringlog {

namespace {

constexpr std::size_t kRecordHeaderBytes = 8;  // u32 body length, u32 CRC
constexpr std::uint8_t kVersion2 = 2;
constexpr std::uint32_t kMinBody = 20;  // a version 1 body with empty names

// Reads the fields of a body front to back; every read checks what is left.
class BodyReader {
 public:
  explicit BodyReader(std::span<const std::byte> body) : p_(body.data()), end_(p_ + body.size()) {}

  bool u8(std::uint8_t& out) { return fixed(out); }
  bool i32(std::int32_t& out) { return fixed(out); }
  bool i64(std::int64_t& out) { return fixed(out); }
  bool string16(std::string& out) {
    std::uint16_t n = 0;
    return fixed(n) && bytes(n, out);
  }
  bool string32(std::string& out) {
    std::uint32_t n = 0;
    return fixed(n) && bytes(n, out);
  }
  bool done() const { return p_ == end_; }

 private:
  template <typename T>
  bool fixed(T& out) {
    if (static_cast<std::size_t>(end_ - p_) < sizeof(T)) return false;
    out = load_be<T>(p_);
    p_ += sizeof(T);
    return true;
  }
  bool bytes(std::size_t n, std::string& out) {
    if (static_cast<std::size_t>(end_ - p_) < n) return false;
    out.assign(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    return true;
  }

  const std::byte* p_;
  const std::byte* end_;
};

// Version 1: [u16 group][u16 topic][i32 partition][i64 offset][u32 metadata], no time.
std::optional<OffsetRecord> decode_v1(std::span<const std::byte> body) {
  OffsetRecord r;
  BodyReader in(body);
  if (!in.string16(r.group) || !in.string16(r.topic) || !in.i32(r.partition) || !in.i64(r.offset) ||
      !in.string32(r.metadata) || !in.done())
    return std::nullopt;
  return r;
}

// Version 2: [u8 2][u8 kind][u16 group][u16 topic][i32 partition][i64 offset][i64 time_ms]
// [u32 metadata].
std::optional<OffsetRecord> decode_v2(std::span<const std::byte> body) {
  OffsetRecord r;
  BodyReader in(body);
  std::uint8_t version = 0, kind = 0;
  if (!in.u8(version) || version != kVersion2 || !in.u8(kind) || kind > 1) return std::nullopt;
  r.kind = static_cast<OffsetRecordKind>(kind);
  if (!in.string16(r.group) || !in.string16(r.topic) || !in.i32(r.partition) || !in.i64(r.offset) ||
      !in.i64(r.time_ms) || !in.string32(r.metadata) || !in.done())
    return std::nullopt;
  if (r.kind == OffsetRecordKind::kDelete && !r.metadata.empty()) return std::nullopt;
  return r;
}

void put_string16(std::byte*& p, std::string_view s) {
  store_be<std::uint16_t>(p, static_cast<std::uint16_t>(s.size()));
  if (!s.empty()) std::memcpy(p + 2, s.data(), s.size());
  p += 2 + s.size();
}

}  // namespace

void encode_offset_record(std::vector<std::byte>& out, const OffsetRecord& r) {
  RINGLOG_ASSERT(r.group.size() < 256 && r.topic.size() < 256 && r.metadata.size() <= 8192);
  const std::size_t body =
      1 + 1 + 2 + r.group.size() + 2 + r.topic.size() + 4 + 8 + 8 + 4 + r.metadata.size();
  const std::size_t at = out.size();
  out.resize(at + kRecordHeaderBytes + body);
  std::byte* p = out.data() + at + kRecordHeaderBytes;
  p[0] = std::byte{kVersion2};
  p[1] = static_cast<std::byte>(r.kind);
  p += 2;
  put_string16(p, r.group);
  put_string16(p, r.topic);
  store_be<std::int32_t>(p, r.partition);
  store_be<std::int64_t>(p + 4, r.offset);
  store_be<std::int64_t>(p + 12, r.time_ms);
  store_be<std::uint32_t>(p + 20, static_cast<std::uint32_t>(r.metadata.size()));
  if (!r.metadata.empty()) std::memcpy(p + 24, r.metadata.data(), r.metadata.size());
  store_be<std::uint32_t>(out.data() + at, static_cast<std::uint32_t>(body));
  store_be<std::uint32_t>(out.data() + at + 4,
                          crc32c(std::span(out.data() + at + kRecordHeaderBytes, body)));
}

std::optional<std::pair<std::size_t, OffsetRecord>> decode_offset_record(
    std::span<const std::byte> data) {
  if (data.size() < kRecordHeaderBytes) return std::nullopt;
  const std::uint32_t body = load_be<std::uint32_t>(data.data());
  if (body < kMinBody || body > kMaxOffsetRecordBody || body > data.size() - kRecordHeaderBytes)
    return std::nullopt;
  auto payload = data.subspan(kRecordHeaderBytes, body);
  if (crc32c(payload) != load_be<std::uint32_t>(data.data() + 4)) return std::nullopt;
  // A version 1 body starts with the high byte of the group's length: always 0.
  auto record = payload[0] == std::byte{0} ? decode_v1(payload) : decode_v2(payload);
  if (!record) return std::nullopt;
  return std::pair{kRecordHeaderBytes + body, std::move(*record)};
}

OffsetFileScan scan_offset_records(
    std::span<const std::byte> bytes,
    const std::function<void(OffsetRecord&&, std::uint64_t position)>& each) {
  OffsetFileScan scan;
  std::uint64_t pos = 0;
  while (pos < bytes.size()) {
    auto decoded = decode_offset_record(bytes.subspan(pos));
    if (!decoded) {
      // Resynchronise: the next position where a whole sound record starts.
      std::uint64_t next = pos + 1;
      while (next < bytes.size() && !decode_offset_record(bytes.subspan(next)))
        ++next;
      OffsetFileScan::Gap gap{pos, next - pos};
      if (next >= bytes.size()) {
        scan.torn_tail = gap;
        break;
      }
      scan.damage.push_back(gap);
      pos = next;
      continue;
    }
    auto& [size, record] = *decoded;
    ++scan.records;
    if (!scan.damage.empty()) ++scan.records_after;
    if (each) each(std::move(record), pos);
    pos += size;
    scan.valid_end = pos;
  }
  return scan;
}

}  // namespace ringlog
