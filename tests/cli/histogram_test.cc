// The latency histogram behind `ringlog bench` (bench/driver/histogram.h): log-linear buckets
// whose percentiles are within 1/128 of the exact ones, mergeable across threads.
#include <doctest/doctest.h>

#ifdef RINGLOG_HAVE_BENCH_DRIVER

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "bench/driver/histogram.h"

namespace ringlog::bench {
namespace {

// The exact percentile of sorted samples, with the histogram's definition (the smallest value
// with at least p% of the samples at or below it).
std::uint64_t exact_percentile(const std::vector<std::uint64_t>& sorted, double p) {
  auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  return sorted[std::max<std::size_t>(rank, 1) - 1];
}

bool within_bucket_precision(std::uint64_t reported, std::uint64_t exact) {
  // The reported value is the top of the exact value's bucket: never below it, at most 1/128
  // of it above.
  return reported >= exact &&
         static_cast<double>(reported - exact) <= static_cast<double>(exact) / 128.0 + 1.0;
}

}  // namespace

TEST_CASE("histogram: small values are counted exactly") {
  Histogram h;
  for (std::uint64_t v = 0; v < 256; ++v)
    h.record(v);
  CHECK(h.count() == 256);
  CHECK(h.min() == 0);
  CHECK(h.max() == 255);
  CHECK(h.value_at_percentile(50) == 127);
  CHECK(h.value_at_percentile(100) == 255);
  for (std::uint64_t v = 0; v < 256; ++v)
    CHECK(Histogram::bucket_lowest(Histogram::bucket_index(v)) == v);
}

TEST_CASE("histogram: every bucket holds the values between its bounds and no others") {
  for (std::size_t i = 1; i < Histogram::kBucketCount; ++i) {
    CAPTURE(i);
    const std::uint64_t low = Histogram::bucket_lowest(i);
    const std::uint64_t high = Histogram::bucket_highest(i);
    REQUIRE(low == Histogram::bucket_highest(i - 1) + 1);  // contiguous, no gaps
    REQUIRE(Histogram::bucket_index(low) == i);
    REQUIRE(Histogram::bucket_index(high) == i);
    REQUIRE(static_cast<double>(high - low) <= static_cast<double>(low) / 128.0);
  }
  CHECK(Histogram::bucket_highest(Histogram::kBucketCount - 1) == Histogram::kMaxValue);
}

TEST_CASE("histogram: percentiles of random latencies are within bucket precision") {
  std::uint64_t seed = 0;
  SUBCASE("uniform") {
    seed = 1;
  }
  SUBCASE("long tail") {
    seed = 2;
  }
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  std::lognormal_distribution<double> tail(11.0, 1.5);  // ~60 us median, a tail into seconds
  std::uniform_int_distribution<std::uint64_t> uniform(1, 10'000'000);
  Histogram h;
  std::vector<std::uint64_t> samples;
  for (int i = 0; i < 200'000; ++i) {
    const std::uint64_t v = seed == 1 ? uniform(rng) : static_cast<std::uint64_t>(tail(rng));
    samples.push_back(v);
    h.record(v);
  }
  std::sort(samples.begin(), samples.end());
  for (double p : {1.0, 10.0, 50.0, 90.0, 99.0, 99.9, 99.99}) {
    CAPTURE(p);
    CHECK(within_bucket_precision(h.value_at_percentile(p), exact_percentile(samples, p)));
  }
  CHECK(h.value_at_percentile(100) == samples.back());
  CHECK(h.min() == samples.front());
  CHECK(h.max() == samples.back());
}

TEST_CASE("histogram: merging per-thread histograms equals recording into one") {
  Histogram a;
  Histogram b;
  Histogram all;
  for (std::uint64_t v = 1; v < 100'000; v += 7) {
    (v % 2 == 0 ? a : b).record(v * 13);
    all.record(v * 13);
  }
  Histogram merged;
  merged.merge(a);
  merged.merge(b);
  CHECK(merged.count() == all.count());
  CHECK(merged.min() == all.min());
  CHECK(merged.max() == all.max());
  CHECK(std::equal(merged.buckets().begin(), merged.buckets().end(), all.buckets().begin()));
  for (double p : {50.0, 99.0, 99.9})
    CHECK(merged.value_at_percentile(p) == all.value_at_percentile(p));
}

TEST_CASE("histogram: weighted records count as that many values") {
  Histogram h;
  h.record(1000, 99);
  h.record(1'000'000, 1);
  CHECK(h.count() == 100);
  CHECK(within_bucket_precision(h.value_at_percentile(99), 1000));
  CHECK(h.value_at_percentile(99.5) == 1'000'000);
  CHECK(h.mean() == doctest::Approx((99 * 1000.0 + 1e6) / 100));
}

TEST_CASE("histogram: values above the range are clamped and counted as saturated") {
  Histogram h;
  h.record(Histogram::kMaxValue + 12345);
  CHECK(h.saturated() == 1);
  CHECK(h.max() == Histogram::kMaxValue);
  CHECK(h.value_at_percentile(50) == Histogram::kMaxValue);
}

TEST_CASE("histogram: an empty or reset histogram reports zeros") {
  Histogram h;
  CHECK(h.value_at_percentile(99) == 0);
  CHECK(h.min() == 0);
  h.record(42);
  h.reset();
  CHECK(h.empty());
  CHECK(h.max() == 0);
  CHECK(h.value_at_percentile(50) == 0);
}

}  // namespace ringlog::bench

#endif  // RINGLOG_HAVE_BENCH_DRIVER
