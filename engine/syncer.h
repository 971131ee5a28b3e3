// Syncer: the thread that fdatasyncs partitions written without a linked sync (durability
// `interval=<ms>` and `never`), so that the writer never waits for a sync it did not need to
// acknowledge an append.
//
// The writer calls note_written() after it published a write that no sync covered. The syncer
// fdatasyncs an `interval` partition once its interval since the start of its previous sync has
// passed, and every noted partition when sync_all() asks (Engine::sync) or at stop(final_sync).
// Each sync covers what the partition had published when the sync started
// (Partition::sync_published); the durable offset advances when it completes. Appends keep being
// written and acknowledged while a sync is in flight; what they add is noted again and covered by
// the next sync.
//
// Bounded work: the syncer holds only the partitions written or synced within their interval (a
// clean partition whose interval has passed is forgotten: a write makes it due at once), ordered
// by when they fall due, so a wake-up costs O(log n) per partition it syncs, never a scan of
// every partition. Each partition whose durable offset advanced is added to `synced` (the
// checkpoint's change set, partition_set.h).
//
// Threading: note_written and sync_all from any thread (the writer, in practice); stop once, from
// the thread that owns the engine. Done callbacks run on the syncer thread and must not block.
// A failed sync is not retried: it takes the partition out of service (Partition::fail_writes),
// and sync_all reports the first failure of its round.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <ringlog/error.h>

#include "engine/partition_set.h"

namespace ringlog {

class Partition;

class Syncer {
 public:
  using Done = std::function<void(Status)>;

  // `syncs` counts the fdatasyncs made (EngineStats::syncs); `synced` receives the partitions
  // synced. Both must outlive the Syncer.
  Syncer(std::atomic<std::uint64_t>& syncs, PartitionSet& synced);
  ~Syncer();  // REQUIRES: stop() was called, or start() never was
  Syncer(const Syncer&) = delete;
  Syncer& operator=(const Syncer&) = delete;

  void start();
  // `partition` published a write not covered by an fdatasync.
  void note_written(const std::shared_ptr<Partition>& partition);
  // Syncs every partition noted so far (including those noted before this call), then calls
  // `done` with the first error, on the syncer thread.
  void sync_all(Done done);
  // Stops the thread. `final_sync`: first syncs every noted partition and completes pending
  // sync_all requests; otherwise (a simulated crash) nothing more is synced and pending requests
  // complete with kClosed.
  void stop(bool final_sync);

 private:
  struct Entry {
    std::shared_ptr<Partition> partition;
    bool dirty = false;  // published writes not covered by a sync
    // `interval` partitions: when the next sync may start (the start of the previous one plus
    // the interval); the key in due_. UINT64_MAX for `never` (synced only by sync_all).
    std::uint64_t due_ms = 0;
  };
  using Entries = std::unordered_map<const Partition*, Entry>;

  void loop();
  // Under mu_: the partitions to sync now (all dirty ones when `all`), marked clean.
  std::vector<std::shared_ptr<Partition>> take_due(bool all, std::uint64_t now_ms);
  // Under mu_: `entry` was synced at `now_ms` (or is to be forgotten when `forget`).
  void mark_synced(Entries::iterator entry, std::uint64_t now_ms);
  void forget(Entries::iterator entry);
  // Under mu_: when the next wake-up falls due (UINT64_MAX: none).
  std::uint64_t next_due_ms() const;
  Status sync_each(const std::vector<std::shared_ptr<Partition>>& partitions);

  std::atomic<std::uint64_t>& syncs_;
  PartitionSet& synced_;
  std::mutex mu_;
  std::condition_variable cv_;
  Entries entries_;
  std::set<std::pair<std::uint64_t, const Partition*>> due_;  // `interval` entries by due_ms
  std::vector<Done> waiters_;
  bool stop_ = false;
  bool final_sync_ = false;
  std::thread thread_;
};

}  // namespace ringlog
