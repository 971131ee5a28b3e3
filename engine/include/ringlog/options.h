// Options of the storage engine and of its topics.
//
// Plain value types: copy them freely. Every field has a default that is safe for production;
// tests shrink the sizes (segment_bytes of a few KiB) to make rolls and retention cheap.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <ringlog/error.h>

namespace ringlog {

class Env;  // the file seam (io/env.h); internal, but an embedder's tests may pass one in

// When an append is acknowledged, and what that acknowledgement guarantees.
//   kAlways   : after an fdatasync covering the batches (one linked sync per group of appends):
//               an acknowledged record survives a crash of the process, the OS or the machine.
//   kInterval : after the write() completes; the engine fdatasyncs each dirty partition at
//               least every `interval_ms`, on a syncer thread (appends keep being written while
//               a sync runs). A machine crash may lose the last `interval_ms` (plus the time a
//               slow sync takes).
//   kNever    : after the write() completes; the OS writes back when it likes (and the engine
//               syncs a segment when it rolls and at close). Survives a crash of the process.
// In every mode a consumer never sees a record before its producer has been acknowledged.
struct Durability {
  enum class Mode : std::uint8_t { kAlways, kInterval, kNever };
  Mode mode = Mode::kAlways;
  std::uint32_t interval_ms = 0;  // only for kInterval; > 0

  // "always" | "interval=<ms>" (ms in 1..3600000) | "never"; anything else: kInvalidArgument.
  static Result<Durability> parse(std::string_view text);
  // The inverse of parse: "always", "interval=200", "never".
  std::string to_string() const;

  bool operator==(const Durability&) const = default;
};

// Per-topic settings. Unset optionals inherit the engine-wide value in EngineOptions.
// Stored durably with the topic (its `@topic` file) when it is created, by create_topic or by
// auto-creation, and reloaded on open: the overrides are fixed for the topic's lifetime, while
// unset fields follow the EngineOptions of each open.
struct TopicConfig {
  std::int32_t partitions = 1;  // 1..10000
  std::optional<Durability> durability;
  std::optional<std::uint64_t> segment_bytes;
  std::optional<std::uint64_t> retention_ms;
  std::optional<std::int64_t> retention_bytes;  // per partition; -1 = unlimited
};

// How a new segment file gets its blocks before producers write into it (docs/design.md has
// the measurements behind the default).
enum class Preallocation : std::uint8_t {
  kNone,               // plain appends; the file grows with every write
  kFallocateKeepSize,  // fallocate(FALLOC_FL_KEEP_SIZE): blocks reserved, size = data written
  kFallocate,          // fallocate(0): blocks reserved (unwritten), the size follows them
  kZeroFill,           // zeros written and synced: appends become overwrites of written blocks
};

struct EngineOptions {
  // The directory that holds every topic. Created if missing. One Engine per directory: a
  // second open (in this or another process) gets kBusy.
  std::string data_dir = "ringlog-data";

  // Engine-wide durability; a topic may override it (TopicConfig::durability).
  Durability durability;

  // A partition is a sequence of segment files; the active one rolls when the next append would
  // cross this size. Range 4 KiB .. 3 GiB (positions inside a segment are 32-bit).
  std::uint64_t segment_bytes = std::uint64_t{1} << 30;
  Preallocation preallocation = Preallocation::kFallocate;

  // Bounded preallocation (docs/design.md, "Bounded preallocation"): a segment never reserves
  // its whole size up front, and a partition never written reserves nothing. The active
  // segment has disk reserved in steps ahead of its write position: the first step is
  // preallocation_min_step, and the step doubles (up to preallocation_max_step) for a partition
  // that uses a step within a second, and halves for one that takes over a minute. The bytes
  // reserved ahead of all write positions together stay within preallocation_budget; a
  // partition that finds it spent appends without a reservation (a little slower) until there
  // is room again. Ignored with Preallocation::kNone.
  std::uint64_t preallocation_min_step = std::uint64_t{64} << 10;
  std::uint64_t preallocation_max_step = std::uint64_t{16} << 20;
  std::uint64_t preallocation_budget = std::uint64_t{1} << 30;

  // Descriptors for segment files: a segment's file is opened when used, and beyond this many
  // the least recently used ones nobody is reading or writing are closed, so the engine needs
  // this many descriptors whatever its partition count (plus a few for indexes and the
  // directory, and only while more files than this are in use at once, more). >= 16.
  std::size_t max_open_files = 1000;

  // Retention: whole sealed segments are deleted when their newest record is older than
  // retention_ms, or while the partition without its oldest segment is still at least
  // retention_bytes (-1 = no size limit). The active segment is never deleted.
  std::uint64_t retention_ms = 168ull * 3600 * 1000;
  std::int64_t retention_bytes = -1;
  std::uint32_t retention_check_interval_ms = 300'000;

  // Consumer group offsets expire when their group has had no commit and was not in use
  // (Engine::touch_group) for this long: Kafka's offsets.retention.minutes, default 7 days
  // (604800000 ms). After an open, every group counts as used at the open at the earliest, so a
  // long downtime never expires everything at startup. Checked by the maintenance thread about
  // once a second, removing at most 1000 offsets per check (one fdatasync). > 0.
  std::uint64_t offsets_retention_ms = 7ull * 24 * 3600 * 1000;

  // Largest single RecordBatch accepted (the whole batch, header included). Bigger: kTooLarge.
  std::uint32_t max_batch_bytes = (1u << 20) + 512;
  // Largest append request (all the batches of one append call). Bigger: kTooLarge.
  std::uint32_t max_append_bytes = 16u << 20;
  // The records of one compressed batch, once inflated for validation (ringlog/validation.h):
  // bounds what a small compressed batch can cost. Bigger: kTooLarge.
  std::uint64_t max_uncompressed_batch_bytes = std::uint64_t{64} << 20;

  bool auto_create_topics = true;  // an append to an unknown topic creates it
  std::int32_t default_partitions = 1;
  // The config of topics auto-created by an append (overrides included, stored with the topic
  // like create_topic's). nullopt: {partitions = default_partitions}, everything inherited.
  std::optional<TopicConfig> auto_create_topic_config;

  // Backpressure: the most bytes of appends accepted and not yet completed (queued or being
  // written). Beyond it append_async completes at once with kBusy and append waits for room
  // (ringlog/engine.h). Bounds the memory a fast producer can pin. > 0.
  std::uint64_t max_pending_bytes = std::uint64_t{256} << 20;

  // Disk-space guard (docs/durability.md, "A full disk"): the engine checks the free space of
  // the data directory's file system (statvfs f_bavail, what a non-root writer may use) about
  // every 200 ms, again when a write fails with ENOSPC, and once appends have used half the
  // headroom above the reserve (never a syscall per append). Below the reserve, appends,
  // append_async and topic creation (explicit or automatic) fail at once with kNoSpace ("disk
  // space low: ... free on DIR, below the reserve of ..."); reads, offsets, commits of group
  // offsets and delete_topic keep working, and appends resume by themselves once space is
  // freed. The reserve is the smaller of the bounds set: min_free_space bytes, and
  // min_free_space_percent (0..50) of the file system's size; nullopt drops that bound, and with
  // neither (or a reserve of 0) there is no guard. Default: the smaller of 5 GiB (Redpanda's
  // storage_min_free_bytes) and 5% of the file system, so an 8 MiB test file system keeps 410 KiB.
  std::optional<std::uint64_t> min_free_space = std::uint64_t{5} << 30;
  std::optional<double> min_free_space_percent = 5.0;

  // Limits against creation abuse: creating a topic (create_topic or auto-creation) that would
  // make more than max_topics topics, or more than max_partitions partitions of all topics
  // together, fails with kLimitExceeded and creates nothing on disk. Each partition costs open
  // files (one per segment file), memory for its indexes and writer state, and preallocated
  // disk; docs/security.md ("Limits") has the sizing behind the defaults. >= 1.
  std::uint32_t max_topics = 2000;
  std::uint32_t max_partitions = 20000;

  // One sparse offset-index entry per this many bytes of log (Kafka: index.interval.bytes).
  std::uint32_t index_interval_bytes = 4096;

  // How often the recovery checkpoint is rewritten (when something changed). Restart scans the
  // log written since the last checkpoint, so this bounds restart time.
  std::uint32_t checkpoint_interval_ms = 1000;

  // The file seam. nullptr: make_default_env() (io_uring when available), owned by the engine.
  // Otherwise borrowed: it must outlive the Engine (tests pass a FaultInjectionEnv).
  Env* env = nullptr;
};

}  // namespace ringlog
