// A log-linear latency histogram in the manner of HdrHistogram: fixed memory, constant-time
// record, mergeable, with a bounded relative error instead of a sorted vector of samples.
//
// Values (nanoseconds, or any unsigned integer unit) below 2 * kSubBuckets are counted exactly.
// Above that, each power-of-two range [2^k, 2^(k+1)) is split into kSubBuckets/2 = 128 linear
// buckets of width 2^(k-7), so every value is known to within 1/128 (0.78%) of itself: better
// than two significant decimal digits, as HdrHistogram's `significantFigures = 2`. Values above
// kMaxValue are clamped to it (and counted in saturated()).
//
// Percentiles are reported as the highest value equivalent to the bucket that holds them (as
// HdrHistogram's valueAtPercentile does), capped at the largest value recorded; min and max are
// exact.
//
// Memory: kBucketCount counters (about 36 KiB), allocated once. A Histogram is a plain value:
// copy it, merge() others into it (per-thread histograms are merged for the report), reset() it.
// Threading: not synchronized; one writer at a time (see Recorder for shared use).
#pragma once

#include <cstdint>
#include <memory>
#include <span>

namespace ringlog::bench {

class Histogram {
 public:
  static constexpr unsigned kSubBucketBits = 8;  // 256 exact values, then 128 per octave
  static constexpr std::uint64_t kSubBuckets = std::uint64_t{1} << kSubBucketBits;
  static constexpr std::uint64_t kHalfSubBuckets = kSubBuckets / 2;
  static constexpr unsigned kMaxValueBits = 42;  // 2^42 ns ~ 73 minutes
  static constexpr std::uint64_t kMaxValue = (std::uint64_t{1} << kMaxValueBits) - 1;
  // index(kMaxValue) + 1
  static constexpr std::size_t kBucketCount =
      (kMaxValueBits - kSubBucketBits) * kHalfSubBuckets + kSubBuckets;

  Histogram();
  Histogram(const Histogram& other);
  Histogram& operator=(const Histogram& other);
  Histogram(Histogram&&) noexcept = default;
  Histogram& operator=(Histogram&&) noexcept = default;
  ~Histogram() = default;

  // Records `value` `count` times (count 0 is a no-op).
  void record(std::uint64_t value, std::uint64_t count = 1) noexcept;
  void merge(const Histogram& other) noexcept;
  void reset() noexcept;

  std::uint64_t count() const noexcept { return total_; }
  bool empty() const noexcept { return total_ == 0; }
  std::uint64_t min() const noexcept { return total_ == 0 ? 0 : min_; }
  std::uint64_t max() const noexcept { return max_; }
  double mean() const noexcept;
  std::uint64_t saturated() const noexcept { return saturated_; }

  // The value below or at which `percentile` percent of the recorded values lie, within the
  // bucket precision; 0 when empty. percentile is clamped to [0, 100]; 100 gives max().
  std::uint64_t value_at_percentile(double percentile) const noexcept;

  // Bucket arithmetic, exposed for tests and for printing distributions.
  static std::size_t bucket_index(std::uint64_t value) noexcept;
  static std::uint64_t bucket_lowest(std::size_t index) noexcept;
  static std::uint64_t bucket_highest(std::size_t index) noexcept;
  std::span<const std::uint64_t> buckets() const noexcept { return {counts_.get(), kBucketCount}; }

 private:
  std::unique_ptr<std::uint64_t[]> counts_;
  std::uint64_t total_ = 0;
  std::uint64_t min_ = 0;
  std::uint64_t max_ = 0;
  std::uint64_t saturated_ = 0;
  long double sum_ = 0;
};

}  // namespace ringlog::bench
