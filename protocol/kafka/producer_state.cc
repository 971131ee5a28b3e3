#include "protocol/kafka/producer_state.h"

#include <limits>

#include "io/assert.h"
#include "protocol/kafka/api.h"

namespace ringlog::kafka {

std::int32_t ProducerStateTable::next_sequence(std::int32_t seq) noexcept {
  return seq == std::numeric_limits<std::int32_t>::max() ? 0 : seq + 1;
}

std::int32_t ProducerStateTable::last_sequence(std::int32_t first_seq,
                                               std::int32_t record_count) noexcept {
  const std::int64_t last = std::int64_t{first_seq} + record_count - 1;
  const std::int64_t wrap = std::int64_t{std::numeric_limits<std::int32_t>::max()} + 1;
  return static_cast<std::int32_t>(last % wrap);
}

ProducerStateTable::Entry* ProducerStateTable::find(State& state, const Batch& batch) {
  for (Entry& e : state.batches) {
    if (e.first_seq == batch.first_seq && e.last_seq == batch.last_seq) return &e;
  }
  return nullptr;
}

bool ProducerStateTable::appending(const State& state) noexcept {
  for (const Entry& e : state.batches) {
    if (e.base_offset < 0) return true;
  }
  return false;
}

ProducerStateTable::Entries::iterator ProducerStateTable::touch(const Key& key,
                                                                std::int64_t now_ms) {
  auto [it, fresh] = entries_.try_emplace(key);
  if (fresh) {
    it->second.age = by_age_.insert(by_age_.end(), it);
  } else {
    by_age_.splice(by_age_.end(), by_age_, it->second.age);
  }
  it->second.last_write_ms = now_ms;
  if (fresh) evict_beyond_max();
  return it;
}

void ProducerStateTable::forget(Entries::iterator it) {
  by_age_.erase(it->second.age);
  entries_.erase(it);
}

// The newest state (just touched) is never evicted, nor one with a batch being appended.
void ProducerStateTable::evict_beyond_max() {
  for (auto at = by_age_.begin();
       entries_.size() > max_states_ && std::next(at) != by_age_.end();) {
    const Entries::iterator it = *at++;
    if (!appending(it->second)) forget(it);
  }
}

std::size_t ProducerStateTable::expire(std::int64_t now_ms) {
  std::size_t expired = 0;
  for (auto at = by_age_.begin(); at != by_age_.end();) {
    const Entries::iterator it = *at++;
    if (now_ms - it->second.last_write_ms < expiration_ms_) break;  // the rest are newer
    if (appending(it->second)) continue;
    forget(it);
    ++expired;
  }
  return expired;
}

ProducerStateTable::Check ProducerStateTable::check(const Key& key, const Batch& batch,
                                                    std::int64_t now_ms) {
  auto found = entries_.find(key);
  const bool fresh = found == entries_.end();
  if (!fresh && !found->second.batches.empty()) {
    State& state = found->second;
    if (batch.epoch < state.epoch) return {Verdict::kFencedEpoch};
    if (batch.epoch > state.epoch) {
      if (batch.first_seq != 0) return {Verdict::kOutOfOrder};
      state.batches.clear();
    } else if (Entry* e = find(state, batch)) {
      if (e->base_offset < 0) return {Verdict::kWaitDuplicate};
      return {Verdict::kDuplicate, e->base_offset};
    } else if (batch.first_seq != next_sequence(state.batches.back().last_seq)) {
      return {Verdict::kOutOfOrder};
    }
  }
  State& state = touch(key, now_ms)->second;
  state.epoch = batch.epoch;
  state.batches.push_back({-1, batch.first_seq, batch.last_seq, {}});
  // Drop the oldest completed batches beyond the window (a pending one stays until answered).
  while (state.batches.size() > kRememberedBatches && state.batches.front().base_offset >= 0) {
    state.batches.pop_front();
  }
  return {Verdict::kAppend};
}

void ProducerStateTable::complete(const Key& key, const Batch& batch, std::int64_t base_offset) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return;  // reset by a newer epoch meanwhile
  Entry* e = find(it->second, batch);
  if (e == nullptr || it->second.epoch != batch.epoch) return;
  e->base_offset = base_offset;
  auto waiters = std::move(e->waiters);
  e->waiters.clear();
  while (it->second.batches.size() > kRememberedBatches &&
         it->second.batches.front().base_offset >= 0) {
    it->second.batches.pop_front();
  }
  for (Waiter& w : waiters)
    w(error::kNone, base_offset);
}

void ProducerStateTable::abort(const Key& key, const Batch& batch, std::int16_t error_code) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return;
  State& state = it->second;
  for (auto e = state.batches.begin(); e != state.batches.end(); ++e) {
    if (e->first_seq != batch.first_seq || e->last_seq != batch.last_seq) continue;
    auto waiters = std::move(e->waiters);
    state.batches.erase(e);
    if (state.batches.empty()) forget(it);
    for (Waiter& w : waiters)
      w(error_code, -1);
    return;
  }
}

void ProducerStateTable::wait(const Key& key, const Batch& batch, Waiter waiter) {
  auto it = entries_.find(key);
  RINGLOG_ASSERT(it != entries_.end());
  Entry* e = find(it->second, batch);
  RINGLOG_ASSERT(e != nullptr && e->base_offset < 0);
  e->waiters.push_back(std::move(waiter));
}

void ProducerStateTable::restore(const Key& key, const Batch& batch, std::int64_t base_offset,
                                 std::int64_t now_ms) {
  auto found = entries_.find(key);
  if (found != entries_.end() && !found->second.batches.empty() &&
      batch.epoch < found->second.epoch) {
    return;
  }
  State& state = touch(key, now_ms)->second;
  if (batch.epoch != state.epoch) state.batches.clear();
  state.epoch = batch.epoch;
  state.batches.push_back({base_offset, batch.first_seq, batch.last_seq, {}});
  while (state.batches.size() > kRememberedBatches)
    state.batches.pop_front();
}

}  // namespace ringlog::kafka
