#include "engine/checkpoint.h"

#include "engine/crc32c.h"
#include "engine/endian.h"

namespace ringlog {

namespace {
constexpr std::uint32_t kCheckpointMagic = 0x524c4350;  // "RLCP"
constexpr std::uint32_t kCheckpointVersion = 2;         // 2 added the flags byte; 1 is still read
constexpr std::size_t kEntryFixedBytesV1 = 2 + 4 + 8 + 8 + 8 + 8;
constexpr std::uint8_t kFlagDamaged = 1;

template <typename T>
void put(std::vector<std::byte>& out, T value) {
  std::size_t at = out.size();
  out.resize(at + sizeof(T));
  store_be<T>(out.data() + at, value);
}
}  // namespace

std::vector<std::byte> encode_checkpoint(const Checkpoint& checkpoint) {
  std::vector<std::byte> out;
  put<std::uint32_t>(out, kCheckpointMagic);
  put<std::uint32_t>(out, kCheckpointVersion);
  put<std::uint32_t>(out, static_cast<std::uint32_t>(checkpoint.size()));
  for (const auto& [key, point] : checkpoint) {
    put<std::uint16_t>(out, static_cast<std::uint16_t>(key.first.size()));
    for (char c : key.first)
      out.push_back(static_cast<std::byte>(c));
    put<std::int32_t>(out, key.second);
    put<std::int64_t>(out, point.offset);
    put<std::int64_t>(out, point.segment_base);
    put<std::uint64_t>(out, point.position);
    put<std::int64_t>(out, point.max_timestamp_ms);
    put<std::uint8_t>(out, point.damaged ? kFlagDamaged : 0);
  }
  put<std::uint32_t>(out, crc32c(out));
  return out;
}

Result<Checkpoint> decode_checkpoint(std::span<const std::byte> bytes) {
  auto bad = [](const char* why) {
    return fail(Errc::kCorruption, std::string("checkpoint: ") + why);
  };
  if (bytes.size() < 16) return bad("too short");
  std::size_t body = bytes.size() - 4;
  if (crc32c(bytes.first(body)) != load_be<std::uint32_t>(bytes.data() + body))
    return bad("CRC mismatch");
  const std::byte* p = bytes.data();
  const std::byte* end = bytes.data() + body;
  if (load_be<std::uint32_t>(p) != kCheckpointMagic) return bad("bad magic");
  std::uint32_t version = load_be<std::uint32_t>(p + 4);
  if (version != 1 && version != kCheckpointVersion) return bad("unknown version");
  const std::size_t fixed_bytes = kEntryFixedBytesV1 + (version >= 2 ? 1 : 0);
  std::uint32_t count = load_be<std::uint32_t>(p + 8);
  p += 12;
  Checkpoint checkpoint;
  for (std::uint32_t i = 0; i < count; ++i) {
    if (end - p < 2) return bad("truncated entry");
    std::size_t name_length = load_be<std::uint16_t>(p);
    if (static_cast<std::size_t>(end - p) < fixed_bytes + name_length)
      return bad("truncated entry");
    std::string topic(reinterpret_cast<const char*>(p + 2), name_length);
    p += 2 + name_length;
    RecoveryPoint point;
    std::int32_t partition = load_be<std::int32_t>(p);
    point.offset = load_be<std::int64_t>(p + 4);
    point.segment_base = load_be<std::int64_t>(p + 12);
    point.position = load_be<std::uint64_t>(p + 20);
    point.max_timestamp_ms = load_be<std::int64_t>(p + 28);
    p += 36;
    if (version >= 2) {
      if ((load_be<std::uint8_t>(p) & ~kFlagDamaged) != 0) return bad("unknown entry flags");
      point.damaged = (load_be<std::uint8_t>(p) & kFlagDamaged) != 0;
      p += 1;
    }
    checkpoint[{std::move(topic), partition}] = point;
  }
  if (p != end) return bad("trailing bytes");
  return checkpoint;
}

}  // namespace ringlog
