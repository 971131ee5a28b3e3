// The Engine implementation (ringlog/engine.h has the contract). Internal: tests include it to
// simulate a crash (EngineImpl::crash_for_testing).
//
// Threads:
//   - callers: validate appends on their own thread and queue them; read without the writer;
//   - the writer (writer.cc): takes everything queued, one write per dirty partition through
//     Env::submit_writes (with a linked fdatasync for `always`), publishes, then calls the
//     listener and the callbacks. Appends that arrive meanwhile wait for the next cycle: that is
//     the group commit;
//   - the syncer (syncer.h): fdatasyncs `interval` partitions when due, and everything for
//     sync() and close, off the writer thread;
//   - the preparer: grows the partitions' disk reservations in steps (space_budget.h) and
//     prepares their next segments, for the partitions the writer queued, so that no fallocate
//     and no file creation runs on the write path;
//   - maintenance: rewrites the recovery checkpoint, enforces retention, expires idle groups'
//     offsets, re-creates a removed `@lock`, samples the free disk space for the space guard
//     (space_guard.h).
//
// Backpressure: `pending_bytes_` counts the bytes of appends queued or in the writer's hands
// (guarded by queue_mu_, atomic for stats); it rises when an append is queued and falls after
// its callback ran. append_async refuses with kBusy beyond max_pending_bytes, append waits.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include <ringlog/engine.h>

#include "engine/checkpoint.h"
#include "engine/file_cache.h"
#include "engine/group_offsets.h"
#include "engine/partition.h"
#include "engine/partition_set.h"
#include "engine/space_budget.h"
#include "engine/space_guard.h"
#include "engine/syncer.h"
#include "io/env.h"

namespace ringlog {

struct Topic {
  std::string name;
  TopicConfig stored;  // as created (overrides only)
  PartitionConfig effective;
  std::vector<std::shared_ptr<Partition>> partitions;
};

class EngineImpl final : public Engine {
 public:
  explicit EngineImpl(EngineOptions options);
  ~EngineImpl() override;

  Status start();  // lock, recover, start threads

  Status create_topic(std::string_view name, const TopicConfig& config) override;
  Status delete_topic(std::string_view name) override;
  std::vector<std::string> list_topics() const override;
  Result<TopicInfo> describe_topic(std::string_view name) const override;
  void append_async(std::string_view topic, std::int32_t partition, std::vector<std::byte> batches,
                    AppendCallback done) override;
  void append_async(std::string_view topic, std::int32_t partition, ValidatedBatches batches,
                    AppendCallback done) override;
  Result<AppendResult> append(std::string_view topic, std::int32_t partition,
                              std::vector<std::byte> batches) override;
  Result<AppendResult> append(std::string_view topic, std::int32_t partition,
                              ValidatedBatches batches) override;
  AppendLimits append_limits() const override;
  Result<FetchResult> fetch(std::string_view topic, std::int32_t partition, std::int64_t offset,
                            std::uint32_t max_bytes) const override;
  Result<std::vector<std::byte>> read(std::string_view topic, std::int32_t partition,
                                      std::int64_t offset, std::uint32_t max_bytes) const override;
  Result<std::int64_t> offset_for_timestamp(std::string_view topic, std::int32_t partition,
                                            std::int64_t timestamp_ms) const override;
  Result<std::pair<std::int64_t, std::int64_t>> offsets(std::string_view topic,
                                                        std::int32_t partition) const override;
  void set_visibility_listener(VisibilityListener listener) override;
  Status commit_offset(std::string_view group, std::string_view topic, std::int32_t partition,
                       std::int64_t offset, std::string_view metadata) override;
  Result<std::optional<CommittedOffset>> committed_offset(std::string_view group,
                                                          std::string_view topic,
                                                          std::int32_t partition) const override;
  Result<std::vector<GroupOffset>> list_group_offsets(std::string_view group) const override;
  void touch_group(std::string_view group) override;
  Status enforce_retention() override;
  Status sync() override;
  Result<EngineStats> stats() const override;
  Status close() override;

  // Stops the threads as a crash would: what is queued is still committed (so every append
  // has an outcome), but nothing is synced, no checkpoint or clean-shutdown marker is written.
  // The test then drops or tears unsynced data through its FaultInjectionEnv and reopens.
  void crash_for_testing();

 private:
  struct Request {
    std::shared_ptr<Partition> partition;  // nullptr: a sync barrier
    AppendRequest append;
  };

  Status validate_options() const;
  // Takes the directory lock and `@lock` (kBusy when another engine holds either).
  Status lock_data_dir();
  // Maintenance: re-creates and re-locks `@lock` if it was removed or replaced (logged).
  void check_lock_file();
  PartitionConfig effective_config(const TopicConfig& config) const;
  // Reports what earlier starts left in `@quarantine` (EngineStats::damage).
  Status note_quarantine_leftovers();
  void report_damage(std::string line);
  Status recover_topics();
  Status recover_topic(const std::string& name, const Checkpoint& checkpoint, bool clean,
                       bool same_boot);
  // Samples the data directory's free space into space_guard_ (maintenance; the writer after a
  // write failed with ENOSPC). A failed statvfs keeps the last decision (logged once).
  void check_space();
  // Called by the writer when a write failed: an ENOSPC re-samples the free space at once.
  void note_write_failure(const Error& error);
  // create_topic, under admin_mu_: kLimitExceeded when a topic of `partitions` partitions would
  // go beyond max_topics or max_partitions; kNoSpace while the space guard refuses.
  Status check_creation_allowed(std::string_view name, std::int32_t partitions) const;
  // Moves the directory of topic `name` into `@quarantine/` (open: no readable `@topic`),
  // logged at ERROR and reported in EngineStats::damage.
  Status quarantine_topic(const std::string& name, const std::string& why);
  // create_topic: a directory already named like the new topic is moved into `@quarantine/`.
  Status move_leftover_aside(const std::string& name);
  Status build_topic(const std::string& dir, Topic& topic);
  Result<std::shared_ptr<Topic>> find_topic(std::string_view name) const;
  Result<std::shared_ptr<Partition>> find_partition(std::string_view topic,
                                                    std::int32_t partition) const;
  Result<std::shared_ptr<Partition>> partition_for_append(std::string_view topic,
                                                          std::int32_t partition);
  // The size limits again, for batches validated by the caller.
  Status check_sizes(const ValidatedBatches& batches) const;
  // append_async and append: validate, then queue (waiting for room when `wait_for_room`,
  // otherwise refusing with kBusy beyond max_pending_bytes).
  void submit_append(std::string_view topic, std::int32_t partition, std::vector<std::byte> batches,
                     AppendCallback done, bool wait_for_room);
  void submit_validated(std::string_view topic, std::int32_t partition, ValidatedBatches batches,
                        AppendCallback done, bool wait_for_room);
  // Queues a validated request under the pending-bytes bound, or completes it with kBusy /
  // kClosed.
  void queue_append(Request req, bool wait_for_room);
  std::vector<std::shared_ptr<Partition>> all_partitions() const;
  // Writes the recovery checkpoint when a point changed (or always when `force`), asking the
  // partitions in checkpoint_changes_, or every partition when `all` (and for the first one).
  Status write_checkpoint(bool force, bool all = false);
  Status persist_checkpoint(const Checkpoint& checkpoint,
                            const std::vector<std::shared_ptr<Partition>>& changed);
  // Retention over the partitions that may have something to expire (retention_mu_ held).
  std::vector<std::shared_ptr<Partition>> retention_candidates(bool all);
  Status enforce_retention(const std::vector<std::shared_ptr<Partition>>& candidates);
  // The first partition out of service after an I/O failure (Partition::fail_writes), if any.
  Status first_write_failure() const;
  void stop_threads(bool crash);

  // writer.cc
  void writer_loop();
  // Spins a little for the next append before the writer sleeps (writer.cc, kIdleSpin); true
  // if one came.
  bool spin_for_work() const;
  void run_cycle(std::vector<Request>& batch);
  void plan_partition(Partition& p, std::vector<iovec>& iovs);
  void complete_partition(const std::shared_ptr<Partition>& partition, const Status& result,
                          bool synced);
  void pass_sync_waiters();
  // After a cycle: the completed requests' bytes leave the pending count (on the writer), then
  // the listener and the callbacks run, inline or on the completion thread (hand_off).
  void release_pending_bytes();
  void hand_off_completions();
  void completion_loop();
  void fail_pending(Partition& p, const Error& error);

  // The preparer thread (Partition::prepare_space), fed by the writer.
  void queue_preparation(std::shared_ptr<Partition> partition);
  void preparer_loop();

  // maintenance
  void maintenance_loop();
  // Asks the maintenance thread for a checkpoint now (after a roll: until the checkpoint names a
  // new segment, recovery cannot tell that segment was lost if its file goes missing).
  void request_checkpoint();
  // Removes offsets of groups idle for offsets_retention_ms (at most
  // kMaxExpiredOffsetsPerCheck per call); logs a failure.
  void expire_group_offsets();

  EngineOptions options_;
  // Before everything that holds partitions: they charge it until they are destroyed.
  SpaceBudget space_budget_;
  FileCache files_;
  std::unique_ptr<Env> owned_env_;
  Env* env_ = nullptr;
  std::string env_name_;
  std::unique_ptr<FileLock> dir_lock_;  // flock on the data directory itself
  std::unique_ptr<FileLock> lock_;      // `@lock`; replaced by check_lock_file (maintenance)
  std::unique_ptr<GroupOffsets> group_offsets_;

  mutable std::shared_mutex topics_mu_;
  std::map<std::string, std::shared_ptr<Topic>, std::less<>> topics_;
  std::mutex admin_mu_;  // serialises create/delete topic
  // Shared by commit_offset from its topic check until the commit is stored; exclusive while
  // delete_topic removes the topic from topics_ (so no commit to it is stored after its
  // offsets were removed). Taken before topics_mu_.
  std::shared_mutex commit_topics_mu_;
  std::mutex checkpoint_mu_;      // serialises checkpoint writes
  Checkpoint last_checkpoint_;    // the points in the checkpoint file, when have_checkpoint_
  bool have_checkpoint_ = false;  // false: the next checkpoint asks every partition
  // What maintenance must visit (partition_set.h): the partitions whose recovery point may have
  // moved since the last checkpoint, those written since the last retention pass, and when each
  // partition's oldest segment expires by time.
  PartitionSet checkpoint_changes_;
  PartitionSet retention_changes_;
  DeadlineSchedule retention_schedule_;
  std::mutex retention_mu_;         // serialises retention passes
  bool retention_scanned_ = false;  // guarded by retention_mu_

  // Writer queue.
  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::condition_variable room_cv_;  // pending_bytes_ fell (or stopping_)
  std::vector<Request> queue_;
  std::atomic<bool> queued_{false};  // queue_ is not empty: what the idle writer spins on
  std::atomic<std::uint64_t> pending_bytes_{0};
  bool stopping_ = false;
  bool crash_ = false;
  std::thread writer_;
  // Writer-thread only.
  std::vector<std::shared_ptr<Partition>> dirty_;  // with pending appends
  std::vector<Request> sync_waiters_;
  std::uint64_t cycle_released_bytes_ = 0;  // of the requests completed this cycle
  std::vector<WriteOp> ops_;
  std::vector<std::shared_ptr<File>> cycle_files_;  // the files of ops_, held open
  std::vector<iovec> iovs_;
  using Completions = std::vector<std::pair<Engine::AppendCallback, Result<AppendResult>>>;
  // High watermarks published by a cycle, for the visibility listener.
  using Visible = std::vector<std::pair<std::shared_ptr<Partition>, std::int64_t>>;
  Completions completions_;
  std::vector<std::pair<std::size_t, std::size_t>> cycle_ranges_;
  std::vector<std::shared_ptr<Partition>> cycle_planned_;
  bool cycle_rolled_ = false;  // plan_partition rolled the partition it planned
  Visible cycle_visible_;

  // The completion thread: runs the listener and the callbacks of a cycle with many completions,
  // in cycle order, so that the writer starts the next group commit while the producers of the
  // last one are being woken (each wake is a futex syscall; 64 of them cost as much as an
  // fdatasync on a VM). A cycle with few completions is delivered inline by the writer when the
  // completion thread has nothing queued (same order, one thread hop less of latency).
  struct Delivery {
    Completions completions;
    Visible visible;
  };
  void deliver(Completions& completions, Visible& visible);  // then clears both
  std::mutex deliver_mu_;
  std::condition_variable deliver_cv_;  // a delivery queued, or deliver_stop_
  std::deque<Delivery> deliveries_;
  std::vector<Delivery> spare_deliveries_;  // cleared, capacity kept
  bool delivering_ = false;                 // the completion thread is running one
  bool deliver_stop_ = false;
  std::thread completer_;

  std::mutex prepare_mu_;
  std::condition_variable prepare_cv_;
  std::deque<std::shared_ptr<Partition>> prepare_queue_;  // each partition at most once
  bool prepare_stop_ = false;
  std::thread preparer_;

  std::mutex maintenance_mu_;
  std::condition_variable maintenance_cv_;
  bool maintenance_stop_ = false;
  bool checkpoint_requested_ = false;  // guarded by maintenance_mu_
  std::thread maintenance_;

  std::mutex listener_mu_;  // guards listener_
  std::shared_ptr<VisibilityListener> listener_;
  // Held while the listener is called, so that set_visibility_listener can wait
  // for a call in progress. Taken before listener_mu_.
  std::mutex listener_call_mu_;
  std::atomic<std::thread::id> listener_thread_{};  // the thread inside the listener, if any

  bool closed_ = false;
  bool started_ = false;  // recovery finished and the threads run: close() checkpoints
  std::mutex close_mu_;

  struct Counters {
    std::atomic<std::uint64_t> append_requests{0}, append_batches{0}, append_records{0},
        append_bytes{0}, append_errors{0}, write_cycles{0}, writes{0}, syncs{0}, rolls{0},
        prepared_rolls{0}, fetches{0}, segments_deleted{0}, checkpoints{0}, append_busy{0},
        offsets_expired{0}, space_refusals{0};
  };
  mutable Counters counters_;
  Syncer syncer_{counters_.syncs, checkpoint_changes_};
  RecoveryStats recovery_stats_;
  // EngineStats::damage. Appended to by open and create_topic (admin_mu_ held), read by stats.
  mutable std::mutex damage_mu_;
  std::vector<std::string> damage_;
  std::uint64_t recovery_ms_ = 0;
  bool recovered_clean_ = false;
  bool quarantined_topics_ = false;  // open moved a topic directory into quarantine
  SpaceGuard space_guard_{SpaceReserve{options_.min_free_space, options_.min_free_space_percent},
                          options_.data_dir};
  std::atomic<bool> space_check_failed_{false};  // the last statvfs failed (logged once)
};

// How often maintenance checks that `@lock` is still the file it locked.
inline constexpr std::uint64_t kLockCheckIntervalMs = 1000;
// How often maintenance expires idle groups' offsets, and at most how many per time (one write
// and one fdatasync of delete records), so a mass expiry never stalls commits for long.
inline constexpr std::uint64_t kOffsetsExpiryIntervalMs = 1000;
inline constexpr std::size_t kMaxExpiredOffsetsPerCheck = 1000;

std::uint64_t monotonic_ms();
std::int64_t wall_clock_ms();

}  // namespace ringlog
