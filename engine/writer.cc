// The write path: one writer thread commits everybody's appends in cycles (group commit).
//
// A cycle takes everything queued, assigns offsets (rewriting each baseOffset in the
// producers' own buffers), and submits one write per partition that has pending appends: an
// iovec over the producers' buffers, followed by a linked fdatasync when the partition's
// durability asks for one. The uring Env submits all of them in one io_uring_enter. When the
// submission completes, the cycle publishes the new log ends (and durable points) and runs the
// callbacks. Appends arriving meanwhile gather in the queue for the next cycle.
#include <algorithm>
#include <chrono>

#include "engine/engine_impl.h"
#include "io/assert.h"
#include "io/log.h"

namespace ringlog {

namespace {
// Bounded by IOV_MAX (1024); the rest of a partition's queue waits for the next cycle.
constexpr std::size_t kMaxRequestsPerWrite = 512;

bool sync_due(const PartitionConfig& config, const Partition::WriterState& w,
              std::uint64_t now_ms) {
  switch (config.durability.mode) {
    case Durability::Mode::kAlways:
      return true;
    case Durability::Mode::kNever:
      return false;
    case Durability::Mode::kInterval:
      return now_ms >= w.last_sync_ms + config.durability.interval_ms;
  }
  return true;
}

std::string where(const Partition& p) {
  return p.topic() + "/" + std::to_string(p.id());
}
}  // namespace

std::uint64_t EngineImpl::next_interval_deadline_ms() const {
  std::uint64_t deadline = UINT64_MAX;
  for (const auto& p : unsynced_) {
    const PartitionConfig& c = p->config();
    if (c.durability.mode == Durability::Mode::kInterval)
      deadline = std::min(deadline, p->writer().last_sync_ms + c.durability.interval_ms);
  }
  return deadline;
}

void EngineImpl::writer_loop() {
  std::vector<Request> batch;
  while (true) {
    {
      std::unique_lock lock(queue_mu_);
      auto has_work = [&] { return !queue_.empty() || stopping_; };
      if (dirty_.empty()) {
        std::uint64_t deadline = next_interval_deadline_ms();
        if (deadline == UINT64_MAX) {
          queue_cv_.wait(lock, has_work);
        } else {
          std::uint64_t now = monotonic_ms();
          if (deadline > now)
            queue_cv_.wait_for(lock, std::chrono::milliseconds(deadline - now), has_work);
        }
      }
      batch.swap(queue_);
      if (stopping_ && batch.empty() && dirty_.empty()) break;
    }
    run_cycle(batch);
    batch.clear();
  }
  if (!crash_) sync_partitions(false, monotonic_ms());
}

void EngineImpl::fail_pending(Partition& p, const Error& error) {
  auto& w = p.writer();
  for (AppendRequest& req : w.pending)
    completions_.emplace_back(std::move(req.done), fail(error));
  w.pending.clear();
  w.taken = 0;
}

// Chooses the requests of this cycle's write to `p`, rolling first if the next one does not fit
// the active segment, and assigns their offsets.
void EngineImpl::plan_partition(Partition& p, std::vector<iovec>& iovs) {
  auto& w = p.writer();
  w.taken = 0;
  if (p.deleted())
    return fail_pending(p, Error(Errc::kNotFound, "topic '" + p.topic() + "' was deleted"));
  if (w.sticky) return fail_pending(p, w.sticky->with_context("append to " + where(p)));
  Segment* seg = &p.active_segment();
  w.write_pos = seg->end_pos;
  w.next_offset = seg->next_offset;
  std::uint64_t pos = w.write_pos;
  const std::uint64_t segment_bytes = p.config().segment_bytes;
  while (w.taken < w.pending.size() && w.taken < kMaxRequestsPerWrite) {
    AppendRequest& req = w.pending[w.taken];
    if (pos > 0 && pos + req.bytes.size() > segment_bytes) {
      if (w.taken > 0) break;  // this write ends here; the roll happens next cycle
      auto rolled = p.roll();
      if (!rolled) {
        completions_.emplace_back(std::move(req.done),
                                  fail(rolled.error().with_context("roll " + where(p))));
        w.pending.pop_front();
        counters_.append_errors.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      counters_.rolls.fetch_add(1, std::memory_order_relaxed);
      if (*rolled) counters_.prepared_rolls.fetch_add(1, std::memory_order_relaxed);
      seg = &p.active_segment();
      w.write_pos = pos = 0;
      maintenance_cv_.notify_one();
    }
    req.first_offset = w.next_offset;
    std::size_t at = 0;
    while (at < req.bytes.size()) {
      std::span<std::byte> b(req.bytes.data() + at, req.bytes.size() - at);
      BatchHeader h = read_batch_header(b);
      set_base_offset(b, w.next_offset);
      w.next_offset += static_cast<std::int64_t>(h.last_offset_delta) + 1;
      at += 12 + static_cast<std::size_t>(h.batch_length);
    }
    req.last_offset = w.next_offset - 1;
    iovs.push_back({req.bytes.data(), req.bytes.size()});
    pos += req.bytes.size();
    w.taken += 1;
  }
  w.write_bytes = pos - w.write_pos;
}

void EngineImpl::complete_partition(Partition& p, const Status& result, bool synced) {
  auto& w = p.writer();
  std::uint64_t now = monotonic_ms();
  if (result) {
    p.publish_write(synced);
    if (synced) {
      w.last_sync_ms = now;
      w.unsynced = false;
      counters_.syncs.fetch_add(1, std::memory_order_relaxed);
    } else if (!w.unsynced) {
      w.unsynced = true;
      if (std::find_if(unsynced_.begin(), unsynced_.end(),
                       [&](const auto& q) { return q.get() == &p; }) == unsynced_.end()) {
        for (const auto& q : dirty_) {
          if (q.get() == &p) unsynced_.push_back(q);
        }
      }
    }
    for (std::size_t i = 0; i < w.taken; ++i) {
      AppendRequest& req = w.pending[i];
      counters_.append_requests.fetch_add(1, std::memory_order_relaxed);
      counters_.append_batches.fetch_add(req.batches, std::memory_order_relaxed);
      counters_.append_records.fetch_add(static_cast<std::uint64_t>(req.records),
                                         std::memory_order_relaxed);
      counters_.append_bytes.fetch_add(req.bytes.size(), std::memory_order_relaxed);
      completions_.emplace_back(std::move(req.done),
                                AppendResult{req.first_offset, req.last_offset});
    }
  } else {
    p.repair_failed_write();
    Error error = result.error().with_context("append to " + where(p));
    for (std::size_t i = 0; i < w.taken; ++i) {
      counters_.append_errors.fetch_add(1, std::memory_order_relaxed);
      completions_.emplace_back(std::move(w.pending[i].done), fail(error));
    }
  }
  w.pending.erase(w.pending.begin(), w.pending.begin() + static_cast<std::ptrdiff_t>(w.taken));
  w.taken = 0;
}

// fdatasyncs the active segment of every partition with unsynced writes (only those whose
// interval is due, when `only_due`). Returns through sync_waiters_ the first error.
void EngineImpl::sync_partitions(bool only_due, std::uint64_t now_ms) {
  Status result;
  std::vector<std::shared_ptr<Partition>> keep;
  for (auto& p : unsynced_) {
    auto& w = p->writer();
    if (!w.unsynced) continue;
    if (only_due && (p->config().durability.mode != Durability::Mode::kInterval ||
                     !sync_due(p->config(), w, now_ms))) {
      keep.push_back(p);
      continue;
    }
    Status s = p->active_segment().file->sync();
    counters_.syncs.fetch_add(1, std::memory_order_relaxed);
    if (s) {
      p->publish_synced();
      w.unsynced = false;
      w.last_sync_ms = now_ms;
    } else {
      RINGLOG_WARN("engine: sync of %s failed: %s", where(*p).c_str(),
                   s.error().to_string().c_str());
      if (result) result = fail(s.error().with_context("sync " + where(*p)));
      keep.push_back(p);
    }
  }
  unsynced_.swap(keep);
  if (!only_due) {
    for (Request& waiter : sync_waiters_) {
      Result<AppendResult> r = result ? Result<AppendResult>(AppendResult{}) : fail(result.error());
      completions_.emplace_back(std::move(waiter.append.done), std::move(r));
    }
    sync_waiters_.clear();
  }
}

void EngineImpl::run_cycle(std::vector<Request>& batch) {
  for (Request& req : batch) {
    if (!req.partition) {
      sync_waiters_.push_back(std::move(req));
      continue;
    }
    auto& w = req.partition->writer();
    if (!w.queued) {
      w.queued = true;
      dirty_.push_back(req.partition);
    }
    w.pending.push_back(std::move(req.append));
  }
  std::uint64_t now = monotonic_ms();
  iovs_.clear();
  ops_.clear();
  auto& ranges = cycle_ranges_;
  auto& planned = cycle_planned_;  // shared_ptr: a deleted topic's partition must outlive us
  ranges.clear();
  planned.clear();
  for (const auto& p : dirty_) {
    std::size_t first = iovs_.size();
    bool due = sync_due(p->config(), p->writer(), now);
    plan_partition(*p, iovs_);
    if (p->writer().taken == 0) continue;
    ops_.push_back(
        WriteOp{&*p->active_segment().file, FilePos(p->writer().write_pos), {}, due, {}});
    ranges.emplace_back(first, iovs_.size());
    planned.push_back(p);
  }
  for (std::size_t i = 0; i < ops_.size(); ++i)
    ops_[i].data =
        std::span<const iovec>(iovs_.data() + ranges[i].first, ranges[i].second - ranges[i].first);
  if (!ops_.empty()) {
    env_->submit_writes(ops_);
    counters_.write_cycles.fetch_add(1, std::memory_order_relaxed);
    counters_.writes.fetch_add(ops_.size(), std::memory_order_relaxed);
  }
  auto& visible = cycle_visible_;
  visible.clear();
  for (std::size_t i = 0; i < ops_.size(); ++i) {
    complete_partition(*planned[i], ops_[i].result, ops_[i].sync_after);
    if (ops_[i].result) visible.emplace_back(planned[i].get(), planned[i]->offsets().second);
  }
  std::erase_if(dirty_, [](const std::shared_ptr<Partition>& p) {
    if (!p->writer().pending.empty()) return false;
    p->writer().queued = false;
    return true;
  });
  sync_partitions(true, now);
  if (!sync_waiters_.empty()) sync_partitions(false, now);
  bool prepare = false;
  for (const auto& p : planned)
    prepare = prepare || p->wants_prepared_segment();
  if (prepare) maintenance_cv_.notify_one();
  // The listener first (waiting consumers wake as soon as the data is visible), then the
  // producers' callbacks: by the time an append returns, the listener has heard of it.
  if (!visible.empty()) {
    std::shared_ptr<VisibilityListener> listener;
    {
      std::lock_guard lock(listener_mu_);
      listener = listener_;
    }
    if (listener) {
      for (const auto& [p, hw] : visible)
        (*listener)(p->topic(), p->id(), hw);
    }
  }
  for (auto& [done, result] : completions_)
    done(std::move(result));
  completions_.clear();
}

}  // namespace ringlog
