#include "engine/checkpoint.h"

#include <optional>

#include "engine/crc32c.h"
#include "engine/endian.h"

namespace ringlog {

namespace {
constexpr std::uint32_t kCheckpointMagic = 0x524c4350;  // "RLCP"
constexpr std::uint32_t kCheckpointVersion = 3;  // 3: boot id, a CRC per entry; 1 and 2 still read
constexpr std::size_t kEntryFixedBytesV1 = 2 + 4 + 8 + 8 + 8 + 8;
// A version 3 payload: name length, partition, offset, segment base, position, max timestamp,
// flags, high watermark, log start (plus the name).
constexpr std::size_t kEntryFixedBytesV3 = 2 + 4 + 8 + 8 + 8 + 8 + 1 + 8 + 8;
constexpr std::uint8_t kFlagDamaged = 1;

template <typename T>
void put(std::vector<std::byte>& out, T value) {
  std::size_t at = out.size();
  out.resize(at + sizeof(T));
  store_be<T>(out.data() + at, value);
}

void put_string16(std::vector<std::byte>& out, std::string_view text) {
  put<std::uint16_t>(out, static_cast<std::uint16_t>(text.size()));
  for (char c : text)
    out.push_back(static_cast<std::byte>(c));
}

void put_entry(std::vector<std::byte>& out, const PartitionKey& key, const RecoveryPoint& point) {
  std::vector<std::byte> payload;
  put_string16(payload, key.first);
  put<std::int32_t>(payload, key.second);
  put<std::int64_t>(payload, point.offset);
  put<std::int64_t>(payload, point.segment_base);
  put<std::uint64_t>(payload, point.position);
  put<std::int64_t>(payload, point.max_timestamp_ms);
  put<std::uint8_t>(payload, point.damaged ? kFlagDamaged : 0);
  put<std::int64_t>(payload, point.high_watermark);
  put<std::int64_t>(payload, point.log_start);
  put<std::uint32_t>(out, static_cast<std::uint32_t>(payload.size()));
  put<std::uint32_t>(out, crc32c(payload));
  out.insert(out.end(), payload.begin(), payload.end());
}

Error bad(const char* why) {
  return Error(Errc::kCorruption, std::string("checkpoint: ") + why);
}

// ---- versions 1 and 2: one CRC over the whole file ------------------------------------------

Result<DecodedCheckpoint> decode_v1_v2(std::span<const std::byte> bytes, std::uint32_t version) {
  std::size_t body = bytes.size() - 4;
  if (crc32c(bytes.first(body)) != load_be<std::uint32_t>(bytes.data() + body))
    return fail(bad("CRC mismatch"));
  const std::byte* p = bytes.data() + 12;
  const std::byte* end = bytes.data() + body;
  const std::size_t fixed_bytes = kEntryFixedBytesV1 + (version >= 2 ? 1 : 0);
  std::uint32_t count = load_be<std::uint32_t>(bytes.data() + 8);
  DecodedCheckpoint out;
  for (std::uint32_t i = 0; i < count; ++i) {
    if (end - p < 2) return fail(bad("truncated entry"));
    std::size_t name_length = load_be<std::uint16_t>(p);
    if (static_cast<std::size_t>(end - p) < fixed_bytes + name_length)
      return fail(bad("truncated entry"));
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
      if ((load_be<std::uint8_t>(p) & ~kFlagDamaged) != 0) return fail(bad("unknown entry flags"));
      point.damaged = (load_be<std::uint8_t>(p) & kFlagDamaged) != 0;
      p += 1;
    }
    out.points[{std::move(topic), partition}] = point;
  }
  if (p != end) return fail(bad("trailing bytes"));
  return out;
}

// ---- version 3: a CRC per entry -------------------------------------------------------------

struct Entry {
  PartitionKey key;
  RecoveryPoint point;
  std::size_t bytes = 0;  // length and CRC fields included
};

// The version 3 entry at the start of `data`, or nullopt when it is not a whole, CRC-valid entry.
std::optional<Entry> decode_entry(std::span<const std::byte> data) {
  if (data.size() < 8) return std::nullopt;
  const std::size_t length = load_be<std::uint32_t>(data.data());
  if (length < kEntryFixedBytesV3 || length > data.size() - 8) return std::nullopt;
  const auto payload = data.subspan(8, length);
  if (crc32c(payload) != load_be<std::uint32_t>(data.data() + 4)) return std::nullopt;
  const std::byte* p = payload.data();
  const std::size_t name_length = load_be<std::uint16_t>(p);
  if (length != kEntryFixedBytesV3 + name_length) return std::nullopt;
  Entry e;
  e.key.first.assign(reinterpret_cast<const char*>(p + 2), name_length);
  p += 2 + name_length;
  e.key.second = load_be<std::int32_t>(p);
  e.point.offset = load_be<std::int64_t>(p + 4);
  e.point.segment_base = load_be<std::int64_t>(p + 12);
  e.point.position = load_be<std::uint64_t>(p + 20);
  e.point.max_timestamp_ms = load_be<std::int64_t>(p + 28);
  const auto flags = load_be<std::uint8_t>(p + 36);
  if ((flags & ~kFlagDamaged) != 0) return std::nullopt;
  e.point.damaged = (flags & kFlagDamaged) != 0;
  e.point.high_watermark = load_be<std::int64_t>(p + 37);
  e.point.log_start = load_be<std::int64_t>(p + 45);
  e.bytes = 8 + length;
  return e;
}

Result<DecodedCheckpoint> decode_v3(std::span<const std::byte> bytes) {
  if (bytes.size() < 18) return fail(bad("short header"));
  const std::uint32_t count = load_be<std::uint32_t>(bytes.data() + 8);
  const std::size_t boot_length = load_be<std::uint16_t>(bytes.data() + 12);
  const std::size_t header = 14 + boot_length + 4;
  if (bytes.size() < header) return fail(bad("short header"));
  if (crc32c(bytes.first(header - 4)) != load_be<std::uint32_t>(bytes.data() + header - 4))
    return fail(bad("header CRC mismatch"));
  DecodedCheckpoint out;
  out.boot_id.assign(reinterpret_cast<const char*>(bytes.data() + 14), boot_length);
  std::size_t at = header;
  std::uint32_t found = 0;
  while (at < bytes.size()) {
    if (auto e = decode_entry(bytes.subspan(at))) {
      out.points[std::move(e->key)] = e->point;
      at += e->bytes;
      ++found;
      continue;
    }
    // Damage: resynchronise at the next position where a whole valid entry starts.
    std::size_t next = at + 1;
    while (next < bytes.size() && !decode_entry(bytes.subspan(next)))
      ++next;
    out.damage.push_back("checkpoint: " + std::to_string(next - at) +
                         " damaged bytes skipped at byte " + std::to_string(at));
    at = next;
  }
  if (found < count)
    out.damage.push_back("checkpoint: " + std::to_string(count - found) + " of its " +
                         std::to_string(count) + " partition entries are missing or damaged");
  return out;
}

}  // namespace

std::vector<std::byte> encode_checkpoint(const Checkpoint& checkpoint, std::string_view boot_id) {
  std::vector<std::byte> out;
  put<std::uint32_t>(out, kCheckpointMagic);
  put<std::uint32_t>(out, kCheckpointVersion);
  put<std::uint32_t>(out, static_cast<std::uint32_t>(checkpoint.size()));
  put_string16(out, boot_id.substr(0, 255));
  put<std::uint32_t>(out, crc32c(out));
  for (const auto& [key, point] : checkpoint)
    put_entry(out, key, point);
  return out;
}

Result<DecodedCheckpoint> decode_checkpoint(std::span<const std::byte> bytes) {
  if (bytes.size() < 16) return fail(bad("too short"));
  if (load_be<std::uint32_t>(bytes.data()) != kCheckpointMagic) return fail(bad("bad magic"));
  const std::uint32_t version = load_be<std::uint32_t>(bytes.data() + 4);
  if (version == 1 || version == 2) return decode_v1_v2(bytes, version);
  if (version == kCheckpointVersion) return decode_v3(bytes);
  return fail(bad("unknown version"));
}

}  // namespace ringlog
