// A partition: an append-only log of RecordBatches in a sequence of segments, with its named
// offsets, its recovery, reads, retention and the writer-side helpers of group commit.
//
// Named offsets, asserted in this order on every update (Redpanda's dirty/stable/committed):
//   log_start <= durable <= high_watermark <= log_end
// `log_end` (written) and `high_watermark` (visible, acknowledged) advance together when the
// writer publishes a completed write; `durable` when an fdatasync covering them completes.
//
// Threading: `mu_` guards the segment list and the offsets; readers take it shared, the writer
// thread takes it exclusive only to publish a completed cycle or a roll. The writer-side state
// (`writer_`) is touched by the engine's writer thread only. Bytes of a segment below its
// published `end_pos` never change, so reads happen outside the lock.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include <ringlog/engine.h>

#include "engine/checkpoint.h"
#include "engine/segment.h"
#include "engine/space_budget.h"
#include "io/env.h"

namespace ringlog {

struct PartitionConfig {
  Durability durability;
  std::uint64_t segment_bytes = 0;
  std::uint64_t retention_ms = 0;
  std::int64_t retention_bytes = -1;
  Preallocation preallocation = Preallocation::kFallocate;
  // Bounded preallocation (space_budget.h): the first and the largest reservation step.
  std::uint64_t reserve_min_step = 64 << 10;
  std::uint64_t reserve_max_step = 16 << 20;
  std::uint32_t index_interval_bytes = 4096;
  std::size_t max_batch_bytes = 0;  // for scans
  // How far recovery looks past damage in the active segment for a valid batch (the largest
  // batch the engine accepts: the next batch starts within it).
  std::uint64_t damage_look_ahead_bytes = 0;
};

struct RecoveryStats {
  std::uint64_t scanned_bytes = 0;
  std::uint64_t truncated_bytes = 0;
};

// One append request in the writer's queue.
struct AppendRequest {
  std::vector<std::byte> bytes;  // the producer's batches; offsets rewritten in place
  Engine::AppendCallback done;
  std::int64_t first_offset = 0;
  std::int64_t last_offset = 0;
  std::uint32_t batches = 0;
  std::int64_t records = 0;  // offsets the request takes (sum of lastOffsetDelta + 1)
};

class Partition {
 public:
  // `budget` bounds the disk reserved ahead of the write positions, `files` the descriptors of
  // the segment files; both outlive the partition.
  Partition(Env& env, std::string topic, std::int32_t id, std::string dir, PartitionConfig config,
            SpaceBudget& budget, FileCache& files);

  const std::string& topic() const { return topic_; }
  std::int32_t id() const { return id_; }
  const std::string& dir() const { return dir_; }
  const PartitionConfig& config() const { return config_; }

  // --- Recovery (on open). REQUIRES: no other thread uses the partition yet.
  // Creates the directory and the first segment of a new partition.
  Status create();
  // Loads the segments: trusts them up to `point` (if any; exactly when `clean_shutdown`),
  // scans the rest with CRC checks, truncates a torn tail, rebuilds missing or damaged indexes.
  // Damage that is not a torn tail marks the partition corrupt (not an error of open), and so
  // does data the checkpoint's `point` says was handed out that the files no longer hold: a
  // hole between segment files, or files that end below the point's durable offset (or below
  // its high watermark, when `clean_shutdown` or `same_boot`: the page cache survived). Such
  // ranges are kept as lost: reads there fail with kDataLoss, and the log end stays at what was
  // handed out, so no offset is ever reused.
  Status recover(const RecoveryPoint* point, bool clean_shutdown, bool same_boot,
                 RecoveryStats& stats);
  // The partition's directory is gone but the checkpoint describes it (`guard`): made anew,
  // empty, at the offset it had reached, damaged, everything it held lost.
  Status create_missing(const RecoveryPoint& guard, std::string_view what);

  // --- Reads (any thread).
  Result<FetchResult> fetch(std::int64_t offset, std::uint32_t max_bytes) const;
  // fetch, then the slice's bytes.
  Result<std::vector<std::byte>> read(std::int64_t offset, std::uint32_t max_bytes) const;
  Result<std::int64_t> offset_for_timestamp(std::int64_t timestamp_ms) const;
  std::pair<std::int64_t, std::int64_t> offsets() const;
  PartitionInfo info() const;
  bool corrupt() const;
  // The I/O failure that took the partition out of service (see fail_writes), if any.
  std::optional<Error> write_failure() const;

  // --- Maintenance (maintenance thread, close).
  // Retention in two steps, so that the engine can record the new log start in a checkpoint
  // before any file goes (recovery then tells a lost oldest segment from an expired one):
  // retire_expired takes the sealed segments past retention out of the partition (log start
  // advances; readers holding slices keep them); remove_retired deletes their files.
  std::vector<std::shared_ptr<Segment>> retire_expired(std::int64_t now_ms);
  Status remove_retired(const std::vector<std::shared_ptr<Segment>>& victims);
  // When (wall clock ms) the oldest segment will be past retention_ms, so that retention can
  // come back then instead of scanning every partition; nullopt when nothing can expire by time
  // (one segment only, no timestamps, out of service).
  std::optional<std::int64_t> retention_deadline_ms() const;
  // Writes the index entries not yet on disk and syncs them.
  Status persist_indexes();
  // The durable point to record in a checkpoint (for a corrupt partition: the point recovery
  // found the damage with, flagged `damaged`); nullopt for a deleted one.
  std::optional<RecoveryPoint> recovery_point() const;
  // --- The preparer thread (engine.cc): bounded preallocation (space_budget.h) and the next
  // segment, off the write path. publish_write asks for them; the writer then queues the
  // partition once (claim_preparer_visit), and the preparer calls prepare_space.
  // True when the partition wants the preparer and was not queued for it yet (it is now).
  bool claim_preparer_visit();
  // Grows the active segment's reservation if asked (up to one step past the write position,
  // within the budget), then prepares the next segment file (`@next.log`) if asked.
  Status prepare_space(std::uint64_t now_ms);
  // The budget bytes this partition holds (its reservation ahead and its prepared segment's).
  std::uint64_t reserved_ahead() const;
  // Marks the partition deleted: the writer fails its pending appends with kNotFound, and its
  // reservations go back to the budget.
  void mark_deleted();
  bool deleted() const;

  // --- Writer thread only.
  struct WriterState {
    std::deque<AppendRequest> pending;
    bool queued = false;          // in the writer's list of partitions with pending appends
    std::size_t taken = 0;        // requests in the current cycle's write
    std::uint64_t write_pos = 0;  // where the current cycle's write starts
    std::uint64_t write_bytes = 0;
    std::int64_t next_offset = 0;
  };
  WriterState& writer() { return writer_; }
  Segment& active_segment() { return *active_; }
  std::int64_t log_end() const;
  // Seals the active segment (trim, sync) and opens the next one at log end.
  // Returns whether the next segment had been prepared in advance.
  Result<bool> roll();
  // After a completed write of `writer().taken` requests: indexes them and publishes the new
  // log end and high watermark (and durable, when `synced`); the reservation's charge falls by
  // the reserved bytes the write used, and the next step or the next segment is asked for when
  // due (claim_preparer_visit).
  void publish_write(bool synced);
  // --- Syncer thread (syncer.h): fdatasyncs the active segment and then advances `durable` to
  // what was published when the sync started. Returns whether a sync was needed and made.
  // A failed sync takes the partition out of service (fail_writes); after that it returns the
  // failure without syncing again.
  Result<bool> sync_published();
  // Takes the partition out of service after an I/O failure that cannot be repaired in place,
  // above all a failed fdatasync: the kernel may have dropped the unsynced pages it covered
  // while marking them clean, so a retried fdatasync could succeed without writing them
  // ("fsyncgate"). From now on `durable` never advances, appends fail with this error, and
  // Engine::sync and close report it; reopening the engine recovers the log by a CRC scan from
  // the last durable point. Any thread; the first failure is kept.
  void fail_writes(const Error& error);
  // After a failed write or sync of the current cycle: cuts whatever part of it reached the
  // file (so that it can never be recovered as if it had been acknowledged).
  void repair_failed_write();

 private:
  // Offsets whose data is gone (recovery found their files missing or cut), sorted.
  struct LostRange {
    std::int64_t from = 0;
    std::int64_t to = 0;  // exclusive
    std::string why;
  };

  void check_offsets() const;  // REQUIRES: mu_ held
  Status create_at(std::int64_t base);
  Status remove_retired_leftovers(std::vector<std::int64_t>& bases, std::int64_t log_start);
  void hold_to_checkpoint(const RecoveryPoint& guard, bool page_cache_intact);
  void note_lost(std::int64_t from, std::int64_t to, std::string why);
  std::string lost_description() const;
  const LostRange* lost_at(std::int64_t offset) const;  // REQUIRES: mu_ held (or recovery)
  Status load_segments(std::vector<std::int64_t>& bases);
  Status recover_segment(Segment& seg, File& file, std::uint64_t file_size, bool last,
                         std::int64_t next_base, const RecoveryPoint* point, bool clean_shutdown,
                         RecoveryStats& stats);
  Status load_trusted_segment(Segment& seg, File& file, std::uint64_t file_size,
                              std::int64_t next_base, RecoveryStats& stats);
  Status finish_active_segment(Segment& seg, File& file, std::uint64_t file_size,
                               std::uint64_t durable_pos, const ScanResult& scan,
                               RecoveryStats& stats);
  Status load_index(Segment& seg, std::uint64_t trusted_end, std::int64_t trusted_next_offset);
  bool index_matches(Segment& seg, File& file);
  Status rebuild_index(Segment& seg, File& file, std::uint64_t file_size, RecoveryStats& stats);
  // `zeros`: the data ends in zeros (preallocated space), not in a torn batch.
  Status truncate_torn_tail(Segment& seg, File& file, std::uint64_t file_size, bool zeros,
                            RecoveryStats& stats);
  void mark_corrupt(std::string why);
  Result<std::unique_ptr<CachedFile>> open_new_segment_file(std::int64_t base);
  // The segment's file, open; a segment removed meanwhile (retention) is kOutOfRange.
  Result<std::shared_ptr<File>> open_for_read(const Segment& seg, std::int64_t offset) const;
  struct Fetched {
    FetchResult result;
    std::shared_ptr<File> file;  // the slice's, open (null when the slice is empty)
  };
  Result<Fetched> fetch_open(std::int64_t offset, std::uint32_t max_bytes) const;
  // Reserves [from, from + length) of `file` as config_.preallocation says; `fresh`: nobody
  // writes the file yet, so a zero fill is allowed (otherwise zero-fill reserves by fallocate).
  Status reserve(File& file, std::uint64_t from, std::uint64_t length, bool fresh);
  // After a cut of the active segment to its end (a failed write): reserves again what was.
  void restore_reservation();
  Status extend_reservation(std::uint64_t now_ms);
  Status prepare_next_segment();
  // The active segment's reservation after recovery: what the file holds past its data.
  void adopt_recovered_reservation();
  void release_reservations();  // REQUIRES: mu_ held
  bool reserving() const { return config_.preallocation != Preallocation::kNone; }

  Env& env_;
  const std::string topic_;
  const std::int32_t id_;
  const std::string dir_;
  const PartitionConfig config_;
  SpaceBudget& budget_;
  FileCache& files_;

  mutable std::shared_mutex mu_;
  std::vector<std::shared_ptr<Segment>> segments_;
  std::int64_t log_start_ = 0;
  std::int64_t durable_ = 0;
  std::int64_t high_watermark_ = 0;
  std::int64_t log_end_ = 0;
  RecoveryPoint durable_point_;
  std::optional<RecoveryPoint> recovered_point_;  // the checkpoint's point, as recovery found it
  std::optional<std::string> corruption_;
  std::vector<LostRange> lost_;
  std::optional<Error> write_failure_;
  std::atomic<bool> failed_{false};  // write_failure_ is set: the writer's lock-free check
  bool deleted_ = false;

  std::shared_ptr<Segment> active_;  // writer thread (and recovery)
  WriterState writer_;

  // Bounded preallocation of the active segment. Guarded by mu_: the writer lowers the charge
  // as writes use the reserved bytes (publish_write) and starts anew at a roll; the preparer
  // grows it (extend_reservation).
  struct Reservation {
    std::uint64_t end = 0;      // bytes of the active segment's file reserved (or written)
    std::uint64_t charged = 0;  // budget held for the reserved bytes ahead of end_pos
    std::uint64_t step = 0;     // the last step (0: none yet)
    std::uint64_t ask_at = 0;   // a published end_pos at or past this asks for the next step
    std::uint64_t last_ms = 0;  // when the last step was reserved
  };
  Reservation reservation_;
  // Held while a reservation grows and while roll trims and replaces the active segment, so no
  // fallocate ever lands on a sealed segment after its trim. Taken before mu_.
  std::mutex extend_mu_;
  std::atomic<bool> reserve_wanted_{false};
  std::atomic<bool> prepare_wanted_{false};
  std::atomic<bool> preparer_queued_{false};

  // `@next.log` is ready (made, reserved and synced; closed until the roll takes it).
  mutable std::mutex prepare_mu_;
  bool prepared_ = false;
  std::uint64_t prepared_reserved_ = 0;  // bytes reserved in it, charged to the budget
};

}  // namespace ringlog
