// Offline access to the files of a data directory, for `verify` and `dump`: read-only mappings,
// segment and index file names, index entries. Works without the engine and without its lock.
//
// Layout (docs/format.md, "Segment files, indexes and checkpoints"):
//   <data>/<topic>/<partition>/<20-digit base offset>.log        RecordBatch v2 batches, then
//                                                                 zeros (preallocated space)
//   <data>/<topic>/<partition>/<20-digit base offset>.index      8-byte entries, big-endian:
//                                 u32 offset - base, u32 byte position of that batch
//   <data>/<topic>/<partition>/<20-digit base offset>.timeindex  12-byte entries, big-endian:
//                                 i64 max timestamp of the segment's batches up to and
//                                 including the batch at offset base + u32 relative offset
// Names starting with '@' are the engine's own files (lock, checkpoint, prepared segment).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <ringlog/error.h>

namespace ringlog::cli {

inline constexpr std::string_view kLogSuffix = ".log";
inline constexpr std::string_view kIndexSuffix = ".index";
inline constexpr std::string_view kTimeIndexSuffix = ".timeindex";
inline constexpr std::size_t kIndexEntryBytes = 8;
inline constexpr std::size_t kTimeIndexEntryBytes = 12;

// A whole file mapped read-only (empty files map to an empty span). Move-only.
class MappedFile {
 public:
  static Result<MappedFile> open(const std::string& path);
  MappedFile() = default;
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  std::span<const std::byte> bytes() const noexcept { return {data_, size_}; }

 private:
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

// The base offset of "<20 digits><suffix>" (the file name, without directories).
std::optional<std::int64_t> parse_segment_name(std::string_view file_name, std::string_view suffix);
std::string segment_name(std::int64_t base_offset, std::string_view suffix);

struct OffsetIndexEntry {
  std::uint32_t relative_offset;
  std::uint32_t position;
};
struct TimeIndexEntry {
  std::int64_t timestamp_ms;
  std::uint32_t relative_offset;
};
// Decodes whole entries; a partial trailing entry is ignored (its size is bytes % entry size).
std::vector<OffsetIndexEntry> decode_offset_index(std::span<const std::byte> bytes);
std::vector<TimeIndexEntry> decode_time_index(std::span<const std::byte> bytes);

// Subdirectories / files of `dir` (names only, sorted), skipping '.' entries.
Result<std::vector<std::string>> list_directory(const std::string& dir, bool directories);

// "2026-11-24T05:40:00.123Z"
std::string format_timestamp_ms(std::int64_t timestamp_ms);

}  // namespace ringlog::cli
