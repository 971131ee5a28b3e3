// Names in the data directory: topic names, segment and index file names, reserved files.
//
// Reserved names start with '@', a character topic names cannot contain, so no topic can ever
// collide with the engine's own files (docs/format.md, "Segment files, indexes and checkpoints").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

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

// (topic_name_problem and group_id_problem, the naming rules, are public: ringlog/engine.h.)

}  // namespace ringlog
