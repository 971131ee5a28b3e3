// The data directory's file layout, the one definition the engine and the offline tools
// (`ringlog verify`, `ringlog dump`) share: topic names, segment and index file names, reserved
// files, and the index entries (docs/format.md, "Segment files, indexes and checkpoints"):
//   <data>/<topic>/<partition>/<20-digit base offset>.log        RecordBatch v2 batches, then
//                                                                 zeros (preallocated space)
//   <data>/<topic>/<partition>/<20-digit base offset>.index      IndexEntry, 8 bytes each
//   <data>/<topic>/<partition>/<20-digit base offset>.timeindex  TimeIndexEntry, 12 bytes each
//
// Reserved names start with '@', a character topic names cannot contain, so no topic can ever
// collide with the engine's own files.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ringlog {

inline constexpr std::string_view kLockFileName = "@lock";
inline constexpr std::string_view kCheckpointFileName = "@recovery-checkpoint";
inline constexpr std::string_view kCleanShutdownFileName = "@clean-shutdown";
inline constexpr std::string_view kGroupOffsetsFileName = "@group-offsets";
inline constexpr std::string_view kTopicConfigFileName = "@topic";
inline constexpr std::string_view kPreparedSegmentName = "@next.log";
inline constexpr std::string_view kDeletedTopicPrefix = "@deleted-";
inline constexpr std::string_view kQuarantineDirName = "@quarantine";
inline constexpr std::string_view kTempSuffix = ".tmp";

inline constexpr std::string_view kLogSuffix = ".log";
inline constexpr std::string_view kIndexSuffix = ".index";
inline constexpr std::string_view kTimeIndexSuffix = ".timeindex";

// "a/b" from "a" and "b".
std::string join_path(std::string_view dir, std::string_view name);

// "00000000000000000042" + suffix.
std::string segment_file_name(std::int64_t base_offset, std::string_view suffix);

// The base offset of "<20 digits><suffix>", or nullopt for any other name.
std::optional<std::int64_t> parse_segment_file_name(std::string_view name, std::string_view suffix);

// Offset index entry: the batch whose base offset is base + relative_offset starts at
// `position`. On disk: u32 relative offset, u32 position, big-endian (8 bytes).
struct IndexEntry {
  std::uint32_t relative_offset = 0;
  std::uint32_t position = 0;
};
inline constexpr std::size_t kIndexEntryBytes = 8;

// Time index entry: every batch up to and including the one at base + relative_offset has a
// max timestamp <= timestamp_ms. On disk: i64 timestamp, u32 relative offset, big-endian (12).
struct TimeIndexEntry {
  std::int64_t timestamp_ms = 0;
  std::uint32_t relative_offset = 0;
};
inline constexpr std::size_t kTimeIndexEntryBytes = 12;

void encode_index_entry(std::byte* out, IndexEntry entry) noexcept;
IndexEntry decode_index_entry(const std::byte* in) noexcept;
void encode_time_index_entry(std::byte* out, TimeIndexEntry entry) noexcept;
TimeIndexEntry decode_time_index_entry(const std::byte* in) noexcept;

// Every whole entry of an index file's bytes; a partial trailing entry is ignored (its size is
// bytes.size() % the entry size).
std::vector<IndexEntry> decode_offset_index(std::span<const std::byte> bytes);
std::vector<TimeIndexEntry> decode_time_index(std::span<const std::byte> bytes);

// (topic_name_problem and group_id_problem, the naming rules, are public: ringlog/engine.h.)

}  // namespace ringlog
