// The records of `@group-offsets` (docs/format.md, "Group offsets"): encoding, decoding and a
// scan that looks past damage. Pure functions over bytes, shared by the engine's store
// (group_offsets.h) and `ringlog verify`.
//
// Every record is `[u32 body length][u32 CRC-32C of the body][body]`. Version 1 bodies (written
// before commit times were kept) start with the group's u16 length, whose first byte is 0 since
// a group name has at most 249 bytes; version 2 bodies start with the byte 2. Only version 2 is
// written; both are read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace ringlog {

enum class OffsetRecordKind : std::uint8_t {
  kCommit = 0,  // (group, topic, partition) = offset, metadata, committed at commit_ms
  kDelete = 1,  // (group, topic, partition) no longer has an offset (expiry, topic deleted)
};

struct OffsetRecord {
  OffsetRecordKind kind = OffsetRecordKind::kCommit;
  std::string group;
  std::string topic;
  std::int32_t partition = 0;
  std::int64_t offset = 0;  // kCommit only
  std::string metadata;     // kCommit only
  // Wall-clock time of the commit (or deletion), ms since the epoch; -1 when unknown (a version
  // 1 record).
  std::int64_t time_ms = -1;
};

// Bytes of the largest body a record may have (group and topic of 249 bytes, 4096 bytes of
// metadata, with room to spare); a length above it is damage.
inline constexpr std::uint32_t kMaxOffsetRecordBody = 16 * 1024;

// Appends the version 2 encoding of `record` to `out`. REQUIRES: names and metadata within the
// limits above.
void encode_offset_record(std::vector<std::byte>& out, const OffsetRecord& record);

// Decodes the whole record at the start of `data`: its size in bytes and the record, or nullopt
// when no sound record starts there (short, bad length, CRC mismatch, unknown version, fields
// that do not fill the body exactly).
std::optional<std::pair<std::size_t, OffsetRecord>> decode_offset_record(
    std::span<const std::byte> data);

// What a scan of a whole file found. Damage is a run of bytes that holds no sound record and is
// followed by one (found by trying every later position: resynchronisation); a torn tail is
// such a run that reaches the end of the file: the normal trace of a commit a crash cut short.
struct OffsetFileScan {
  struct Gap {
    std::uint64_t position = 0;  // first unreadable byte
    std::uint64_t bytes = 0;     // unreadable bytes; a sound record starts right after them
  };
  std::uint64_t records = 0;        // sound records, in file order
  std::uint64_t records_after = 0;  // of those, after the first gap
  std::vector<Gap> damage;
  std::optional<Gap> torn_tail;  // reaches the end of the file
  std::uint64_t valid_end = 0;   // end of the last sound record
};

// Scans `bytes` record by record, calling `each(record, position)` for every sound record in
// file order (may be empty), and resynchronising after damage.
OffsetFileScan scan_offset_records(
    std::span<const std::byte> bytes,
    const std::function<void(OffsetRecord&&, std::uint64_t position)>& each = {});

}  // namespace ringlog
