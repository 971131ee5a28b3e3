// Bounded preallocation (docs/design.md, "Bounded preallocation"): the disk a partition's
// active segment has reserved ahead of its write position, and the budget all partitions share.
//
// A partition reserves in steps, never a whole segment up front, and a partition never written
// reserves nothing. When its write position comes within half a step of the reserved end, the
// preparer thread reserves up to one step past the write position (fallocate). The step adapts
// to how fast the partition is written (next_reservation_step): it starts at `min_step`, doubles
// when the last step was used up within kFastStepMs, halves when it lasted longer than
// kSlowStepMs, and stays within [min_step, max_step].
//
// SpaceBudget bounds the bytes reserved ahead of all write positions together. A partition
// that finds the budget spent gets what is left (possibly nothing) and writes past its
// reservation as plain appends, which is correct and only a little slower (docs/design.md has
// the figures), until the budget has room again. The count is conservative: a partition's
// charge falls as its writes use the reserved bytes (Partition::publish_write), so the bytes
// really reserved ahead are at most used() (charge() aside: what recovery found already
// reserved is counted even past the budget).
//
// Thread-safe (one atomic).
#pragma once

#include <atomic>
#include <cstdint>

namespace ringlog {

class SpaceBudget {
 public:
  explicit SpaceBudget(std::uint64_t limit) : limit_(limit) {}
  SpaceBudget(const SpaceBudget&) = delete;
  SpaceBudget& operator=(const SpaceBudget&) = delete;

  // Takes up to `want` bytes of the budget; returns how many it took (0 when it is spent).
  std::uint64_t acquire(std::uint64_t want);
  // Counts `bytes` found reserved already (recovery), even past the limit.
  void charge(std::uint64_t bytes);
  // Gives back bytes taken by acquire or charge. REQUIRES: bytes <= used().
  void release(std::uint64_t bytes);

  std::uint64_t used() const { return used_.load(std::memory_order_relaxed); }
  std::uint64_t limit() const { return limit_; }

 private:
  const std::uint64_t limit_;
  std::atomic<std::uint64_t> used_{0};
};

// A step used up faster than this grows the next one; one that lasted longer than kSlowStepMs
// shrinks it.
inline constexpr std::uint64_t kFastStepMs = 1'000;
inline constexpr std::uint64_t kSlowStepMs = 60'000;

// The next reservation step of a partition whose last step was `previous` bytes (0: none yet)
// and was reserved `elapsed_ms` ago.
std::uint64_t next_reservation_step(std::uint64_t previous, std::uint64_t elapsed_ms,
                                    std::uint64_t min_step, std::uint64_t max_step);

}  // namespace ringlog
