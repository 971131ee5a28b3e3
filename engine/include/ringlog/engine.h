// ringlog's embeddable storage engine: topics of partitions, each an append-only log of Kafka
// RecordBatch v2 batches in preallocated segment files.
//
//   auto engine = ringlog::Engine::open({.data_dir = "/var/lib/app/log"});
//   if (!engine) fail(engine.error());
//   (*engine)->create_topic("events", {.partitions = 4});
//   auto acked = (*engine)->append("events", 0, std::move(batch_bytes));   // blocking
//   auto bytes = (*engine)->read("events", 0, /*offset=*/0, /*max_bytes=*/1 << 20);
//
// Thread safety: every member function may be called from any number of threads at once,
// except that close() and the destructor must not race with other calls.
//
// Offsets of a partition, always in this order (asserted on every update):
//   log_start <= durable <= high_watermark (visible) <= log_end (written)
// (durable may lag the watermark in kInterval/kNever mode: see Durability). Records in
// [log_start, high_watermark) are readable; a record becomes visible only once its producer's
// acknowledgement has been decided, so a consumer never sees a record its producer was not told
// is stored.
//
// Failures never cross the API as exceptions: every fallible call returns Result / Status
// (ringlog/error.h). Topic names match [A-Za-z0-9._-]{1,249} and are not "." or ".."; group ids
// are 1..249 bytes of printable ASCII without spaces (topic_name_problem, group_id_problem
// below); anything else is kInvalidArgument before it reaches the file system or a store.
// Unknown topic or partition: kNotFound.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <ringlog/error.h>
#include <ringlog/options.h>
#include <ringlog/validation.h>

namespace ringlog {

struct AppendResult {
  std::int64_t first_offset = 0;  // base offset assigned to the first batch
  std::int64_t last_offset = 0;   // last offset of the last batch (inclusive)
};

struct PartitionInfo {
  std::int32_t partition = 0;
  std::int64_t log_start = 0;       // first readable offset
  std::int64_t high_watermark = 0;  // visible end (exclusive): acknowledged records
  std::int64_t durable = 0;         // end (exclusive) of what is known to be fsynced
  std::int64_t log_end = 0;         // end (exclusive) of what has been written
  std::uint64_t size_bytes = 0;     // bytes of log in all segments
  std::size_t segments = 0;
  // Set when recovery found damage that is not a torn tail: an invalid batch inside a sealed
  // segment, below the durable point the recovery checkpoint recorded, or followed by a valid
  // batch further on (docs/durability.md, "What recovery does after a crash"). Names the
  // segment file and the byte. The partition stays readable up to the damage (high_watermark
  // stops there), nothing is deleted or truncated, and it refuses appends with kCorruption,
  // across restarts too.
  std::optional<std::string> corruption;
  // Offset ranges [first, second) that were handed out but whose data is gone: their segment
  // files went missing or were cut (recovery compares the files with the recovery checkpoint
  // and looks for holes between segment files). Reads there fail with kDataLoss (Kafka
  // KAFKA_STORAGE_ERROR, line protocol 510), never kOutOfRange; the high watermark stays at what
  // was handed out, so no offset is reused; the partition is damaged (`corruption` says so).
  std::vector<std::pair<std::int64_t, std::int64_t>> lost;
  // Set when an fdatasync of the partition failed (or a failed write could not be cut): the
  // kernel may have dropped the unsynced data, so the partition is out of service until the
  // engine is reopened. `durable` stays where the last successful sync left it; appends fail
  // with this error; Engine::sync and Engine::close report it, and close writes no
  // clean-shutdown marker, so the next open recovers by a CRC scan from the durable point
  // (docs/durability.md, "When an fdatasync fails").
  std::optional<std::string> write_failure;
};

struct TopicInfo {
  std::string name;
  Durability durability;  // effective values (topic override or engine default)
  std::uint64_t segment_bytes = 0;
  std::uint64_t retention_ms = 0;
  std::int64_t retention_bytes = -1;
  std::vector<PartitionInfo> partitions;
};

// A zero-copy readable byte range of one segment file: `length` bytes at `position` of `fd`,
// suitable for sendfile/splice. Holding the slice keeps the file open (through keep_alive) even
// if retention or delete_topic removes the segment meanwhile; the bytes in the range never
// change while the slice lives (segments are append-only below the visible end).
struct FileSlice {
  std::shared_ptr<const void> keep_alive;
  int fd = -1;
  std::uint64_t position = 0;
  std::uint32_t length = 0;
};

struct FetchResult {
  std::int64_t high_watermark = 0;
  std::int64_t log_start = 0;
  // Whole RecordBatches starting with the batch that contains the requested offset (its base
  // offset may be lower: consumers skip records below the offset they asked for). length 0
  // when there is nothing to read yet (offset == high watermark).
  FileSlice slice;
};

struct CommittedOffset {
  std::int64_t offset = 0;
  std::string metadata;
};

// One committed offset of a consumer group (Engine::list_group_offsets).
struct GroupOffset {
  std::string topic;
  std::int32_t partition = 0;
  std::int64_t offset = 0;
  std::string metadata;
};

struct EngineStats {
  std::uint64_t append_requests = 0;  // acknowledged append calls
  std::uint64_t append_batches = 0;
  std::uint64_t append_records = 0;  // offsets assigned (sum of lastOffsetDelta + 1)
  std::uint64_t append_bytes = 0;
  std::uint64_t append_errors = 0;  // append calls that completed with an error
  std::uint64_t append_busy = 0;    // append_async calls refused with kBusy (of append_errors)
  // Bytes of appends accepted and not yet completed (queued or being written), and the bound
  // (EngineOptions::max_pending_bytes). A server can stop reading from its producers' sockets
  // as pending_bytes approaches the bound, before append_async starts refusing.
  std::uint64_t pending_bytes = 0;
  std::uint64_t max_pending_bytes = 0;
  // The space guard (EngineOptions::min_free_space): free bytes of the data directory's file
  // system at the last check (about every 200 ms), the reserve in bytes, whether appends and
  // topic creation are refused now for lack of space, and how many append calls were.
  std::uint64_t free_space_bytes = 0;
  std::uint64_t min_free_space_bytes = 0;
  bool appends_refused_for_space = false;
  std::uint64_t space_refusals = 0;
  std::uint64_t write_cycles = 0;    // group-commit cycles (one submission each)
  std::uint64_t writes = 0;          // write operations (one per dirty partition per cycle)
  std::uint64_t syncs = 0;           // fdatasyncs of segment files
  std::uint64_t rolls = 0;           // segments sealed and replaced
  std::uint64_t prepared_rolls = 0;  // rolls that found the next segment prepared in advance
  std::uint64_t fetches = 0;
  std::uint64_t segments_deleted = 0;  // by retention
  std::uint64_t offsets_expired = 0;   // committed offsets removed by offsets_retention_ms
  std::uint64_t checkpoints = 0;
  // Bounded preallocation: bytes reserved ahead of the partitions' write positions (and in
  // prepared next segments), an upper bound, and EngineOptions::preallocation_budget.
  std::uint64_t preallocated_bytes = 0;
  std::uint64_t preallocation_budget = 0;
  // Segment files open now, and their bound EngineOptions::max_open_files.
  std::uint64_t open_segment_files = 0;
  std::uint64_t max_open_files = 0;
  std::uint64_t topics = 0;
  std::uint64_t partitions = 0;
  std::uint64_t corrupt_partitions = 0;
  std::uint64_t failed_partitions = 0;  // out of service after a failed sync (write_failure)
  // What open() did: how many bytes of log it CRC-scanned (reading a sealed segment's last few
  // batch headers to find its end is not counted) and what it cut off as torn tails.
  std::uint64_t recovery_scanned_bytes = 0;
  std::uint64_t recovery_truncated_bytes = 0;
  std::uint64_t recovery_ms = 0;
  bool recovered_clean_shutdown = false;
  // Damage found by open() in the data directory's files, and what was done about it: one
  // human-readable line per finding, naming the file (and byte) and what was kept or moved
  // where (e.g. a damaged `@group-offsets`, a topic directory without a readable `@topic` moved
  // into `@quarantine/`, entries earlier starts left in quarantine). Each is also logged at
  // ERROR (WARN for earlier quarantine entries). Empty when everything was sound.
  std::vector<std::string> damage;
  std::string env;  // "uring", "posix", ... (what the file seam is)
};

class Engine {
 public:
  // Opens (creating if needed) the data directory: takes its lock (kBusy when another Engine
  // owns it), reads the recovery checkpoint, recovers every partition (see docs/durability.md),
  // and starts the writer and maintenance threads. A damaged partition does not fail open: it is
  // marked corrupt (PartitionInfo::corruption).
  static Result<std::unique_ptr<Engine>> open(EngineOptions options);

  virtual ~Engine() = default;
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Creates the topic's directories and config durably. kAlreadyExists if it exists;
  // kLimitExceeded beyond EngineOptions::max_topics / max_partitions and kNoSpace while the
  // space guard refuses (min_free_space), both before anything is made on disk.
  virtual Status create_topic(std::string_view name, const TopicConfig& config) = 0;
  // Removes the topic, its data and every consumer group offset committed for it. Outstanding
  // FileSlices stay readable; pending appends to it fail with kNotFound.
  virtual Status delete_topic(std::string_view name) = 0;
  virtual std::vector<std::string> list_topics() const = 0;  // sorted
  virtual Result<TopicInfo> describe_topic(std::string_view name) const = 0;

  // Appends one or more RecordBatch v2 batches (concatenated) to a partition.
  // Validated first, on the calling thread, by validate_batches (ringlog/validation.h) with
  // append_limits(): whole CRC-valid batches, record by record (kInvalidArgument /
  // kCorruption for bad bytes, kTooLarge for sizes). The engine takes ownership of `batches`
  // and assigns offsets by rewriting each baseOffset in place (the CRC does not cover it).
  // The batches of one call get contiguous offsets and become visible together or not at all.
  // `done` is invoked exactly once, on an engine thread, after the batches are acknowledged per
  // the partition's durability mode, or with an error (kNoSpace when the disk is full or free
  // space is below EngineOptions::min_free_space (then at once, on the calling thread), kIo,
  // kCorruption for a damaged partition, kClosed, ...), in which case none of them is ever
  // visible, not even after a restart. Invalid requests complete (with their error) before
  // append_async returns, on the calling thread. Callbacks must not block: they run on the
  // writer thread that commits everyone's appends or on its completion thread, one at a time,
  // in offset order per partition.
  //
  // Backpressure: appends accepted but not yet completed may hold at most
  // EngineOptions::max_pending_bytes (EngineStats::pending_bytes). append_async never blocks
  // (its callers are event loops): beyond the bound it completes at once, on the calling
  // thread, with kBusy, and nothing is stored: a retryable refusal (a server answers with a
  // retriable error code and stops reading from that producer until pending_bytes falls).
  // A request always fits when nothing is pending.
  using AppendCallback = std::function<void(Result<AppendResult>)>;
  virtual void append_async(std::string_view topic, std::int32_t partition,
                            std::vector<std::byte> batches, AppendCallback done) = 0;
  // The same for batches a caller validated already (with append_limits(), e.g. a server that
  // maps validation errors to its own codes): only their sizes are checked again.
  virtual void append_async(std::string_view topic, std::int32_t partition,
                            ValidatedBatches batches, AppendCallback done) = 0;
  // Blocking convenience: waits for room under max_pending_bytes (never kBusy; like a Kafka
  // producer blocking on a full buffer.memory), queues, and waits for the acknowledgement.
  // Must not be called from an engine callback or the visibility listener (it could wait for
  // the very thread it blocks).
  virtual Result<AppendResult> append(std::string_view topic, std::int32_t partition,
                                      std::vector<std::byte> batches) = 0;
  virtual Result<AppendResult> append(std::string_view topic, std::int32_t partition,
                                      ValidatedBatches batches) = 0;
  // The limits appends are validated with (EngineOptions::max_batch_bytes, max_append_bytes,
  // max_uncompressed_batch_bytes).
  virtual AppendLimits append_limits() const = 0;

  // Reads from the batch containing `offset`: that batch whole even if it is larger than
  // max_bytes, then the following bytes up to max_bytes in total (the last batch may be cut,
  // as Kafka does; clients ignore a partial trailing batch), never past the high watermark and
  // never across a segment boundary (the next fetch continues from the next segment).
  // offset == high watermark: an empty slice. Outside [log_start, high watermark]:
  // kOutOfRange, with a message naming the valid range.
  virtual Result<FetchResult> fetch(std::string_view topic, std::int32_t partition,
                                    std::int64_t offset, std::uint32_t max_bytes) const = 0;
  // The same range, copied into memory.
  virtual Result<std::vector<std::byte>> read(std::string_view topic, std::int32_t partition,
                                              std::int64_t offset,
                                              std::uint32_t max_bytes) const = 0;

  // The base offset of the first batch whose max timestamp is >= timestamp_ms (batch
  // granularity, as for compressed batches in Kafka); the high watermark if there is none.
  virtual Result<std::int64_t> offset_for_timestamp(std::string_view topic, std::int32_t partition,
                                                    std::int64_t timestamp_ms) const = 0;
  // {log start, high watermark} ("earliest" and "latest").
  virtual Result<std::pair<std::int64_t, std::int64_t>> offsets(std::string_view topic,
                                                                std::int32_t partition) const = 0;

  // Long-poll support: called on an engine thread whenever a partition's high watermark
  // advances, before the callbacks of the appends that advanced it run. One listener (a new call
  // replaces it; nullptr removes it). Keep it cheap and non-blocking; it must not call back into
  // the engine's append path synchronously.
  // set_visibility_listener returns only once no call to the previous listener is in progress
  // (and none will start), so after set_visibility_listener(nullptr) whatever the old listener
  // captured may be destroyed. It must not be called from inside the listener (asserted).
  using VisibilityListener = std::function<void(std::string_view topic, std::int32_t partition,
                                                std::int64_t high_watermark)>;
  virtual void set_visibility_listener(VisibilityListener listener) = 0;

  // Consumer group offsets, one per (group, topic, partition). commit_offset returns once the
  // offset is durable (fdatasync); a commit is atomic (old or new value after a crash). The
  // group id: is_valid_group_id. The topic need not exist.
  virtual Status commit_offset(std::string_view group, std::string_view topic,
                               std::int32_t partition, std::int64_t offset,
                               std::string_view metadata = {}) = 0;
  virtual Result<std::optional<CommittedOffset>> committed_offset(std::string_view group,
                                                                  std::string_view topic,
                                                                  std::int32_t partition) const = 0;
  // A consumer group with members is using its offsets now: they do not expire within
  // offsets_retention_ms from now. In memory only (after a restart every group counts as used
  // at the open); cheap, never waits for the disk, so an event loop may call it. A group
  // without committed offsets, or an invalid name, is ignored.
  virtual void touch_group(std::string_view group) = 0;

  // Every committed offset of `group`, sorted by (topic, partition); empty if it has none
  // (Kafka OffsetFetch with topics = null). kInvalidArgument for a bad group id.
  virtual Result<std::vector<GroupOffset>> list_group_offsets(std::string_view group) const = 0;

  // Deletes sealed segments past their retention now (the engine also does it periodically).
  virtual Status enforce_retention() = 0;
  // Makes everything acknowledged so far durable (fdatasync of every partition written since
  // its last sync, on the syncer thread) and returns when it is; useful with kInterval/kNever.
  virtual Status sync() = 0;

  virtual Result<EngineStats> stats() const = 0;

  // Stops accepting appends (they complete with kClosed), commits what is queued, syncs, writes
  // the recovery checkpoint and the clean-shutdown marker, and releases the directory lock.
  // Idempotent; the destructor calls it.
  virtual Status close() = 0;

 protected:
  Engine() = default;
};

// The one naming rule of the engine, both protocols and the CLI (docs/security.md, "Names").
// "" when `name` is a valid topic name: 1 to 249 characters of [A-Za-z0-9._-], neither "." nor
// ".." (Kafka's rule), so that it is a safe directory name; otherwise why not, for a message.
std::string topic_name_problem(std::string_view name);
// "" when `id` is a valid consumer group id: 1 to 249 bytes of printable ASCII without spaces
// (0x21-0x7e), so that every group Kafka clients use can also be named on a line-protocol request
// line and on the command line; otherwise why not.
std::string group_id_problem(std::string_view id);
bool is_valid_topic_name(std::string_view name);
bool is_valid_group_id(std::string_view id);

}  // namespace ringlog
