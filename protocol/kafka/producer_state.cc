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

ProducerStateTable::Check ProducerStateTable::check(const Key& key, const Batch& batch) {
  auto [it, fresh] = entries_.try_emplace(key);
  State& state = it->second;
  if (!fresh && !state.batches.empty()) {
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
    if (state.batches.empty()) entries_.erase(it);
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

void ProducerStateTable::restore(const Key& key, const Batch& batch, std::int64_t base_offset) {
  State& state = entries_[key];
  if (!state.batches.empty() && batch.epoch < state.epoch) return;
  if (batch.epoch != state.epoch) state.batches.clear();
  state.epoch = batch.epoch;
  state.batches.push_back({base_offset, batch.first_seq, batch.last_seq, {}});
  while (state.batches.size() > kRememberedBatches)
    state.batches.pop_front();
}

}  // namespace ringlog::kafka
