// The write path: one writer thread commits everybody's appends in cycles (group commit).
//
// A cycle takes everything queued, assigns offsets (rewriting each baseOffset in the
// producers' own buffers), and submits one write per partition that has pending appends: an
// iovec over the producers' buffers, followed by a linked fdatasync when the partition's
// durability asks for one (`always`). The uring Env submits all of them in one io_uring_enter.
// When the submission completes, the cycle publishes the new log ends (and durable points), hands
// what no sync covered to the syncer (syncer.h: `interval` and `never` are synced off this
// thread), and runs the listener and the callbacks, or hands them to the completion thread when
// there are many (waking many producers takes as long as a sync). Appends arriving meanwhile
// gather in the queue for the next cycle.
#include <algorithm>
#include <chrono>

#include "engine/engine_impl.h"
#include "io/assert.h"
#include "io/log.h"

namespace ringlog {

namespace {
// Bounded by IOV_MAX (1024); the rest of a partition's queue waits for the next cycle.
constexpr std::size_t kMaxRequestsPerWrite = 512;

// Only `always` links an fdatasync to the write; the syncer covers the other modes.
bool sync_with_write(const PartitionConfig& config) {
  return config.durability.mode == Durability::Mode::kAlways;
}

std::string where(const Partition& p) {
  return p.topic() + "/" + std::to_string(p.id());
}
}  // namespace

// How long the writer spins for the next append after a cycle before it sleeps on the queue's
// condition variable. A producer acknowledged by the cycle usually appends again within tens of
// microseconds; sleeping instead costs a futex wake per cycle, and on a VM the wake-up of an idle
// vCPU can take longer than a fast fdatasync. The spin must pay for itself: after one that found
// nothing the writer only tries again every kSpinProbeCycles cycles, so a load whose appends come
// further apart than the spin (a paced producer, a quiet server) wastes at most 1/16 of it.
constexpr auto kIdleSpin = std::chrono::microseconds(100);
constexpr unsigned kSpinProbeCycles = 16;

namespace {
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}
}  // namespace

bool EngineImpl::spin_for_work() const {
  const auto until = std::chrono::steady_clock::now() + kIdleSpin;
  do {
    for (int i = 0; i < 64; ++i) {
      if (queued_.load(std::memory_order_acquire)) return true;
      cpu_relax();
    }
  } while (std::chrono::steady_clock::now() < until);
  return false;
}

void EngineImpl::writer_loop() {
  std::vector<Request> batch;
  bool spin_pays = true;  // the last spin found work
  unsigned cycles_since_spin = 0;
  while (true) {
    if (dirty_.empty() && !queued_.load(std::memory_order_acquire)) {
      if (spin_pays || ++cycles_since_spin >= kSpinProbeCycles) {
        spin_pays = spin_for_work();
        cycles_since_spin = 0;
      }
    }
    {
      std::unique_lock lock(queue_mu_);
      if (dirty_.empty()) queue_cv_.wait(lock, [&] { return !queue_.empty() || stopping_; });
      batch.swap(queue_);
      queued_.store(false, std::memory_order_relaxed);
      if (stopping_ && batch.empty() && dirty_.empty()) break;
    }
    run_cycle(batch);
    batch.clear();
  }
}

void EngineImpl::fail_pending(Partition& p, const Error& error) {
  auto& w = p.writer();
  for (AppendRequest& req : w.pending) {
    cycle_released_bytes_ += req.bytes.size();
    completions_.emplace_back(std::move(req.done), fail(error));
  }
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
  if (auto failure = p.write_failure())
    return fail_pending(p, failure->with_context("append to " + where(p)));
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
        cycle_released_bytes_ += req.bytes.size();
        completions_.emplace_back(std::move(req.done),
                                  fail(rolled.error().with_context("roll " + where(p))));
        w.pending.pop_front();
        counters_.append_errors.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      counters_.rolls.fetch_add(1, std::memory_order_relaxed);
      if (*rolled) counters_.prepared_rolls.fetch_add(1, std::memory_order_relaxed);
      cycle_rolled_ = true;
      seg = &p.active_segment();
      w.write_pos = pos = 0;
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

void EngineImpl::complete_partition(const std::shared_ptr<Partition>& partition,
                                    const Status& result, bool synced) {
  Partition& p = *partition;
  auto& w = p.writer();
  if (result) {
    p.publish_write(synced);
    if (synced)
      counters_.syncs.fetch_add(1, std::memory_order_relaxed);
    else
      syncer_.note_written(partition);
    for (std::size_t i = 0; i < w.taken; ++i) {
      AppendRequest& req = w.pending[i];
      counters_.append_requests.fetch_add(1, std::memory_order_relaxed);
      counters_.append_batches.fetch_add(req.batches, std::memory_order_relaxed);
      counters_.append_records.fetch_add(static_cast<std::uint64_t>(req.records),
                                         std::memory_order_relaxed);
      counters_.append_bytes.fetch_add(req.bytes.size(), std::memory_order_relaxed);
      cycle_released_bytes_ += req.bytes.size();
      completions_.emplace_back(std::move(req.done),
                                AppendResult{req.first_offset, req.last_offset});
    }
  } else {
    p.repair_failed_write();
    note_write_failure(result.error());  // ENOSPC: the space guard re-checks at once
    Error error = result.error().with_context("append to " + where(p));
    for (std::size_t i = 0; i < w.taken; ++i) {
      counters_.append_errors.fetch_add(1, std::memory_order_relaxed);
      cycle_released_bytes_ += w.pending[i].bytes.size();
      completions_.emplace_back(std::move(w.pending[i].done), fail(error));
    }
  }
  w.pending.erase(w.pending.begin(), w.pending.begin() + static_cast<std::ptrdiff_t>(w.taken));
  w.taken = 0;
}

// Hands the sync() barriers of this cycle to the syncer: everything written before them is
// published by now, so its sync_all covers it.
void EngineImpl::pass_sync_waiters() {
  for (Request& waiter : sync_waiters_) {
    syncer_.sync_all([done = std::move(waiter.append.done)](Status s) mutable {
      done(s ? Result<AppendResult>(AppendResult{}) : Result<AppendResult>(fail(s.error())));
    });
  }
  sync_waiters_.clear();
}

// First the bytes of the completed requests leave the pending count (their buffers are gone;
// appenders waiting for room wake, and a producer acknowledged later finds room at once).
void EngineImpl::release_pending_bytes() {
  if (cycle_released_bytes_ == 0) return;
  {
    std::lock_guard lock(queue_mu_);
    RINGLOG_ASSERT(pending_bytes_ >= cycle_released_bytes_);
    pending_bytes_.store(pending_bytes_ - cycle_released_bytes_, std::memory_order_relaxed);
  }
  cycle_released_bytes_ = 0;
  room_cv_.notify_all();
}

// Then the listener (waiting consumers wake as soon as the data is visible), then the producers'
// callbacks: by the time an append returns, the listener has heard of it.
void EngineImpl::deliver(Completions& completions, Visible& visible) {
  if (!visible.empty()) {
    std::lock_guard call(listener_call_mu_);
    std::shared_ptr<VisibilityListener> listener;
    {
      std::lock_guard lock(listener_mu_);
      listener = listener_;
    }
    if (listener) {
      listener_thread_.store(std::this_thread::get_id(), std::memory_order_relaxed);
      for (const auto& [p, hw] : visible)
        (*listener)(p->topic(), p->id(), hw);
      listener_thread_.store(std::thread::id(), std::memory_order_relaxed);
    }
  }
  for (auto& [done, result] : completions)
    done(std::move(result));
  completions.clear();
  visible.clear();
}

namespace {
// Up to this many completions a cycle is delivered inline (when nothing is queued for the
// completion thread): one producer's acknowledgement should not pay a thread hop.
constexpr std::size_t kInlineCompletions = 4;
}  // namespace

void EngineImpl::hand_off_completions() {
  if (completions_.empty() && cycle_visible_.empty()) return;
  {
    std::unique_lock lock(deliver_mu_);
    if (delivering_ || !deliveries_.empty() || completions_.size() > kInlineCompletions) {
      Delivery d;
      if (!spare_deliveries_.empty()) {
        d = std::move(spare_deliveries_.back());
        spare_deliveries_.pop_back();
      }
      d.completions.swap(completions_);
      d.visible.swap(cycle_visible_);
      deliveries_.push_back(std::move(d));
      lock.unlock();
      deliver_cv_.notify_one();
      return;
    }
  }
  // Nothing queued and only the writer queues: the completion thread stays idle meanwhile.
  deliver(completions_, cycle_visible_);
}

void EngineImpl::completion_loop() {
  std::unique_lock lock(deliver_mu_);
  while (true) {
    deliver_cv_.wait(lock, [&] { return !deliveries_.empty() || deliver_stop_; });
    if (deliveries_.empty()) break;  // stopping, and everything handed over was delivered
    Delivery d = std::move(deliveries_.front());
    deliveries_.pop_front();
    delivering_ = true;
    lock.unlock();
    deliver(d.completions, d.visible);
    lock.lock();
    delivering_ = false;
    spare_deliveries_.push_back(std::move(d));
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
  iovs_.clear();
  ops_.clear();
  cycle_files_.clear();
  auto& ranges = cycle_ranges_;
  auto& planned = cycle_planned_;  // shared_ptr: a deleted topic's partition must outlive us
  ranges.clear();
  planned.clear();
  for (const auto& p : dirty_) {
    std::size_t first = iovs_.size();
    bool due = sync_with_write(p->config());
    plan_partition(*p, iovs_);
    if (cycle_rolled_) {
      cycle_rolled_ = false;
      checkpoint_changes_.add(p);
      request_checkpoint();  // so that recovery soon knows the new segment exists
    }
    if (p->writer().taken == 0) continue;
    // Held open for the cycle (file_cache.h). Failing to open (out of descriptors) fails the
    // appends and leaves the partition in service: nothing reached its file.
    auto file = p->active_segment().file->open();
    if (!file) {
      iovs_.resize(first);
      counters_.append_errors.fetch_add(p->writer().pending.size(), std::memory_order_relaxed);
      fail_pending(*p, file.error().with_context("append to " + where(*p)));
      continue;
    }
    cycle_files_.push_back(*file);
    ops_.push_back(WriteOp{file->get(), FilePos(p->writer().write_pos), {}, due, {}});
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
    complete_partition(planned[i], ops_[i].result, ops_[i].sync_after);
    if (ops_[i].result) visible.emplace_back(planned[i], planned[i]->offsets().second);
  }
  cycle_files_.clear();  // an idle partition's file may be closed for another's
  std::erase_if(dirty_, [](const std::shared_ptr<Partition>& p) {
    if (!p->writer().pending.empty()) return false;
    p->writer().queued = false;
    return true;
  });
  pass_sync_waiters();
  checkpoint_changes_.add(planned);
  retention_changes_.add(planned);
  for (const auto& p : planned) {
    if (p->claim_preparer_visit()) queue_preparation(p);
  }
  release_pending_bytes();
  hand_off_completions();
}

}  // namespace ringlog
