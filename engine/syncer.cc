#include "engine/syncer.h"

#include <algorithm>
#include <chrono>
#include <cstdint>

#include "engine/engine_impl.h"
#include "engine/partition.h"
#include "io/assert.h"

namespace ringlog {

Syncer::Syncer(std::atomic<std::uint64_t>& syncs, PartitionSet& synced)
    : syncs_(syncs), synced_(synced) {}

Syncer::~Syncer() {
  RINGLOG_ASSERT(!thread_.joinable());
}

void Syncer::start() {
  thread_ = std::thread([this] { loop(); });
}

namespace {
bool is_interval(const Partition& p) {
  return p.config().durability.mode == Durability::Mode::kInterval;
}
}  // namespace

void Syncer::note_written(const std::shared_ptr<Partition>& partition) {
  bool wake = false;
  {
    std::lock_guard lock(mu_);
    auto [it, inserted] = entries_.try_emplace(partition.get());
    Entry& entry = it->second;
    if (inserted) {
      entry.partition = partition;
      // Not synced within its interval: due at once.
      entry.due_ms = is_interval(*partition) ? 0 : UINT64_MAX;
      if (entry.due_ms != UINT64_MAX) due_.emplace(entry.due_ms, it->first);
    }
    wake = !entry.dirty && entry.due_ms != UINT64_MAX;
    entry.dirty = true;
  }
  if (wake) cv_.notify_one();
}

void Syncer::sync_all(Done done) {
  {
    std::lock_guard lock(mu_);
    waiters_.push_back(std::move(done));
  }
  cv_.notify_one();
}

void Syncer::stop(bool final_sync) {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    final_sync_ = final_sync;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void Syncer::forget(Entries::iterator entry) {
  if (entry->second.due_ms != UINT64_MAX) due_.erase({entry->second.due_ms, entry->first});
  entries_.erase(entry);
}

void Syncer::mark_synced(Entries::iterator entry, std::uint64_t now_ms) {
  Entry& e = entry->second;
  e.dirty = false;
  if (e.due_ms == UINT64_MAX) {  // `never`: nothing to remember
    forget(entry);
    return;
  }
  due_.erase({e.due_ms, entry->first});
  e.due_ms = now_ms + e.partition->config().durability.interval_ms;
  due_.emplace(e.due_ms, entry->first);
}

std::vector<std::shared_ptr<Partition>> Syncer::take_due(bool all, std::uint64_t now_ms) {
  std::vector<std::shared_ptr<Partition>> due;
  if (all) {
    std::vector<Entries::iterator> dirty;
    for (auto it = entries_.begin(); it != entries_.end(); ++it)
      if (it->second.dirty) dirty.push_back(it);
    for (auto it : dirty) {
      if (it->second.partition->deleted()) {
        forget(it);
        continue;
      }
      due.push_back(it->second.partition);
      mark_synced(it, now_ms);
    }
  }
  // Interval entries in due order: the dirty ones are synced; a clean one whose interval has
  // passed is forgotten (its next write is due at once, as if it had never been synced).
  while (!due_.empty() && due_.begin()->first <= now_ms) {
    auto it = entries_.find(due_.begin()->second);
    RINGLOG_ASSERT(it != entries_.end());
    if (!it->second.dirty || it->second.partition->deleted()) {
      forget(it);
      continue;
    }
    due.push_back(it->second.partition);
    mark_synced(it, now_ms);
  }
  return due;
}

std::uint64_t Syncer::next_due_ms() const {
  return due_.empty() ? UINT64_MAX : due_.begin()->first;
}

Status Syncer::sync_each(const std::vector<std::shared_ptr<Partition>>& partitions) {
  Status result;
  for (const auto& p : partitions) {
    auto synced = p->sync_published();
    if (synced) {
      if (*synced) {
        syncs_.fetch_add(1, std::memory_order_relaxed);
        synced_.add(p);
      }
      continue;
    }
    // Not retried: the partition took itself out of service (Partition::fail_writes) and logged
    // why; a retried fdatasync could succeed without having written the data.
    if (result)
      result =
          fail(synced.error().with_context("sync " + p->topic() + "/" + std::to_string(p->id())));
  }
  return result;
}

void Syncer::loop() {
  std::unique_lock lock(mu_);
  while (!(stop_ && !final_sync_)) {
    bool all = !waiters_.empty() || stop_;
    std::uint64_t now = monotonic_ms();
    std::vector<std::shared_ptr<Partition>> due = take_due(all, now);
    std::vector<Done> done;
    if (all) done.swap(waiters_);
    if (due.empty() && done.empty()) {
      if (stop_) break;
      std::uint64_t next = next_due_ms();
      if (next == UINT64_MAX)
        cv_.wait(lock);
      else if (next > now)
        cv_.wait_for(lock, std::chrono::milliseconds(next - now));
      continue;
    }
    lock.unlock();
    Status result = sync_each(due);
    for (Done& d : done)
      d(result);
    lock.lock();
  }
  std::vector<Done> left;
  left.swap(waiters_);
  lock.unlock();
  for (Done& d : left)
    d(fail(Errc::kClosed, "engine stopped before the sync"));
}

}  // namespace ringlog
