// Counters and latency histograms shared between one worker thread (or the engine thread that
// runs its callbacks) and the reporter thread that prints progress and the per-second series.
//
// Each producer and consumer owns one Meter; updates take its mutex once per batch (never per
// message), so the lock is uncontended but for the reporter's once-a-second read.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>

#include "bench/driver/histogram.h"

namespace ringlog::bench {

using Clock = std::chrono::steady_clock;

inline std::uint64_t nanos_between(Clock::time_point from, Clock::time_point to) noexcept {
  return to <= from ? 0
                    : static_cast<std::uint64_t>(
                          std::chrono::duration_cast<std::chrono::nanoseconds>(to - from).count());
}

struct MeterTotals {
  std::uint64_t messages = 0;
  std::uint64_t bytes = 0;  // message payload bytes
  std::uint64_t errors = 0;
};

class Meter {
 public:
  // Adds `messages` of `bytes` and records `latency_ns` once per message.
  void add(std::uint64_t messages, std::uint64_t bytes, std::uint64_t latency_ns) {
    std::lock_guard lock(mu_);
    totals_.messages += messages;
    totals_.bytes += bytes;
    total_.record(latency_ns, messages);
    interval_.record(latency_ns, messages);
  }
  // Adds messages without latency (catch-up consumers).
  void add(std::uint64_t messages, std::uint64_t bytes) {
    std::lock_guard lock(mu_);
    totals_.messages += messages;
    totals_.bytes += bytes;
  }
  void add_error() {
    std::lock_guard lock(mu_);
    ++totals_.errors;
  }
  // Runs `record(histogram_total, histogram_interval)` under the lock, for callers that record
  // many individual latencies from one fetch.
  template <typename F>
  void with_histograms(std::uint64_t messages, std::uint64_t bytes, F&& record) {
    std::lock_guard lock(mu_);
    totals_.messages += messages;
    totals_.bytes += bytes;
    record(total_, interval_);
  }

  MeterTotals totals() const {
    std::lock_guard lock(mu_);
    return totals_;
  }
  // Adds this meter's interval histogram to `into` and starts a new interval.
  void take_interval(Histogram& into) {
    std::lock_guard lock(mu_);
    into.merge(interval_);
    interval_.reset();
  }
  void merge_total(Histogram& into) const {
    std::lock_guard lock(mu_);
    into.merge(total_);
  }

 private:
  mutable std::mutex mu_;
  MeterTotals totals_;
  Histogram total_;
  Histogram interval_;
};

}  // namespace ringlog::bench
