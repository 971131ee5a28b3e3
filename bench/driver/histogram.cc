#include "bench/driver/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

namespace ringlog::bench {

static_assert(Histogram::kBucketCount == 34 * 128 + 256);

Histogram::Histogram() : counts_(std::make_unique<std::uint64_t[]>(kBucketCount)) {}

Histogram::Histogram(const Histogram& other) : Histogram() {
  *this = other;
}

Histogram& Histogram::operator=(const Histogram& other) {
  if (this == &other) return *this;
  if (!counts_) counts_ = std::make_unique<std::uint64_t[]>(kBucketCount);
  std::memcpy(counts_.get(), other.counts_.get(), kBucketCount * sizeof(std::uint64_t));
  total_ = other.total_;
  min_ = other.min_;
  max_ = other.max_;
  saturated_ = other.saturated_;
  sum_ = other.sum_;
  return *this;
}

std::size_t Histogram::bucket_index(std::uint64_t value) noexcept {
  value = std::min(value, kMaxValue);
  // Values below kSubBuckets are their own index; above, keep the top 8 bits of the value.
  const unsigned msb = 63 - static_cast<unsigned>(std::countl_zero(value | 1));
  const unsigned shift = msb < kSubBucketBits ? 0 : msb - (kSubBucketBits - 1);
  return static_cast<std::size_t>(shift) * kHalfSubBuckets + (value >> shift);
}

std::uint64_t Histogram::bucket_lowest(std::size_t index) noexcept {
  if (index < kSubBuckets) return index;
  const std::size_t shift = index / kHalfSubBuckets - 1;
  return static_cast<std::uint64_t>(index - shift * kHalfSubBuckets) << shift;
}

std::uint64_t Histogram::bucket_highest(std::size_t index) noexcept {
  if (index < kSubBuckets) return index;
  const std::size_t shift = index / kHalfSubBuckets - 1;
  return bucket_lowest(index) + (std::uint64_t{1} << shift) - 1;
}

void Histogram::record(std::uint64_t value, std::uint64_t count) noexcept {
  if (count == 0) return;
  if (value > kMaxValue) {
    saturated_ += count;
    value = kMaxValue;
  }
  counts_[bucket_index(value)] += count;
  if (total_ == 0 || value < min_) min_ = value;
  max_ = std::max(max_, value);
  total_ += count;
  sum_ += static_cast<long double>(value) * count;
}

void Histogram::merge(const Histogram& other) noexcept {
  if (other.total_ == 0) return;
  for (std::size_t i = 0; i < kBucketCount; ++i)
    counts_[i] += other.counts_[i];
  min_ = total_ == 0 ? other.min_ : std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  total_ += other.total_;
  saturated_ += other.saturated_;
  sum_ += other.sum_;
}

void Histogram::reset() noexcept {
  std::memset(counts_.get(), 0, kBucketCount * sizeof(std::uint64_t));
  total_ = min_ = max_ = saturated_ = 0;
  sum_ = 0;
}

double Histogram::mean() const noexcept {
  return total_ == 0 ? 0.0 : static_cast<double>(sum_ / static_cast<long double>(total_));
}

std::uint64_t Histogram::value_at_percentile(double percentile) const noexcept {
  if (total_ == 0) return 0;
  percentile = std::clamp(percentile, 0.0, 100.0);
  if (percentile >= 100.0) return max_;
  const auto wanted =
      static_cast<std::uint64_t>(std::ceil(percentile / 100.0 * static_cast<double>(total_)));
  const std::uint64_t target = std::max<std::uint64_t>(wanted, 1);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < kBucketCount; ++i) {
    seen += counts_[i];
    if (seen >= target) return std::clamp(bucket_highest(i), min_, max_);
  }
  return max_;
}

}  // namespace ringlog::bench
