#include "engine/syncer.h"

#include <algorithm>
#include <chrono>
#include <cstdint>

#include "engine/engine_impl.h"
#include "engine/partition.h"
#include "io/assert.h"

namespace ringlog {

Syncer::Syncer(std::atomic<std::uint64_t>& syncs) : syncs_(syncs) {}

Syncer::~Syncer() {
  RINGLOG_ASSERT(!thread_.joinable());
}

void Syncer::start() {
  thread_ = std::thread([this] { loop(); });
}

void Syncer::note_written(const std::shared_ptr<Partition>& partition) {
  bool wake = false;
  {
    std::lock_guard lock(mu_);
    Entry& entry = entries_[partition.get()];
    if (!entry.partition) entry.partition = partition;
    wake = !entry.dirty && partition->config().durability.mode == Durability::Mode::kInterval;
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

std::vector<std::shared_ptr<Partition>> Syncer::take_due(bool all, std::uint64_t now_ms) {
  std::vector<std::shared_ptr<Partition>> due;
  for (auto it = entries_.begin(); it != entries_.end();) {
    Entry& entry = it->second;
    if (entry.partition->deleted()) {
      it = entries_.erase(it);
      continue;
    }
    const Durability& d = entry.partition->config().durability;
    bool interval_due =
        d.mode == Durability::Mode::kInterval && now_ms >= entry.last_sync_ms + d.interval_ms;
    if (entry.dirty && (all || interval_due)) {
      entry.dirty = false;
      entry.last_sync_ms = now_ms;
      due.push_back(entry.partition);
    }
    ++it;
  }
  return due;
}

std::uint64_t Syncer::next_due_ms() const {
  std::uint64_t next = UINT64_MAX;
  for (const auto& [key, entry] : entries_) {
    const Durability& d = entry.partition->config().durability;
    if (entry.dirty && d.mode == Durability::Mode::kInterval)
      next = std::min(next, entry.last_sync_ms + d.interval_ms);
  }
  return next;
}

Status Syncer::sync_each(const std::vector<std::shared_ptr<Partition>>& partitions) {
  Status result;
  for (const auto& p : partitions) {
    auto synced = p->sync_published();
    if (synced) {
      if (*synced) syncs_.fetch_add(1, std::memory_order_relaxed);
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
