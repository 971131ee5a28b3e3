#include "engine/space_budget.h"

#include <algorithm>

#include "io/assert.h"

namespace ringlog {

std::uint64_t SpaceBudget::acquire(std::uint64_t want) {
  std::uint64_t used = used_.load(std::memory_order_relaxed);
  while (true) {
    const std::uint64_t room = used >= limit_ ? 0 : limit_ - used;
    const std::uint64_t take = std::min(want, room);
    if (take == 0) return 0;
    if (used_.compare_exchange_weak(used, used + take, std::memory_order_relaxed)) return take;
  }
}

void SpaceBudget::charge(std::uint64_t bytes) {
  used_.fetch_add(bytes, std::memory_order_relaxed);
}

void SpaceBudget::release(std::uint64_t bytes) {
  const std::uint64_t before = used_.fetch_sub(bytes, std::memory_order_relaxed);
  RINGLOG_ASSERT(before >= bytes);
}

std::uint64_t next_reservation_step(std::uint64_t previous, std::uint64_t elapsed_ms,
                                    std::uint64_t min_step, std::uint64_t max_step) {
  if (previous == 0) return min_step;
  std::uint64_t step = previous;
  if (elapsed_ms < kFastStepMs)
    step = previous * 2;
  else if (elapsed_ms > kSlowStepMs)
    step = previous / 2;
  return std::clamp(step, min_step, max_step);
}

}  // namespace ringlog
