// Several producers at once, rolls under load, durability modes, retention.
#include <atomic>
#include <set>
#include <thread>

#include "engine_test_util.h"

namespace ringlog::test {

TEST_CASE(
    "concurrency: producers on several threads get unique contiguous offsets, rolls included") {
  EngineFixture f;
  f.options.preallocation = Preallocation::kFallocate;
  const int kThreads = 8, kPerThread = 150, kPartitions = 3;
  Engine& e = f.open();
  TopicConfig config;
  config.partitions = kPartitions;
  REQUIRE(e.create_topic("t", config));
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        std::string prefix = "t" + std::to_string(t) + "." + std::to_string(i);
        auto r =
            e.append("t", (t + i) % kPartitions, make_batch(prefix, 1 + i % 3, kTimestampNow, 100));
        if (!r) failures++;
      }
    });
  }
  for (auto& th : threads)
    th.join();
  CHECK(failures.load() == 0);
  std::size_t records = 0;
  for (int p = 0; p < kPartitions; ++p) {
    std::vector<std::int64_t> offsets;
    auto values = f.all_values("t", p, &offsets);
    for (std::size_t i = 0; i < offsets.size(); ++i)
      CHECK(offsets[i] == static_cast<std::int64_t>(i));
    // Each producer's records on a partition appear in the order it sent them.
    std::map<std::string, int> last_seen;
    for (const auto& v : values) {
      std::string producer = v.substr(0, v.find('.'));
      int seq = std::stoi(v.substr(v.find('.') + 1));
      CHECK(seq >= last_seen[producer]);
      last_seen[producer] = seq;
    }
    records += values.size();
  }
  std::size_t expected = 0;
  for (int i = 0; i < kPerThread; ++i)
    expected += static_cast<std::size_t>(1 + i % 3) * kThreads;
  CHECK(records == expected);
  auto stats = e.stats();
  CHECK(stats->rolls > 10);
  CHECK(stats->append_requests == static_cast<std::uint64_t>(kThreads * kPerThread));
  CHECK(stats->write_cycles <= stats->append_requests);
}

TEST_CASE("concurrency: asynchronous appends are committed in groups") {
  EngineFixture f;
  f.options.segment_bytes = 1 << 20;
  Engine& e = f.open();
  REQUIRE(e.create_topic("t", TopicConfig{}));
  std::atomic<int> done{0};
  const int kAppends = 500;
  for (int i = 0; i < kAppends; ++i)
    e.append_async("t", 0, make_batch("a" + std::to_string(i)), [&](Result<AppendResult> r) {
      REQUIRE(r);
      done++;
    });
  while (done.load() < kAppends)
    std::this_thread::yield();
  auto stats = e.stats();
  CHECK(stats->append_requests == kAppends);
  CHECK(stats->write_cycles < kAppends);  // several appends shared a write and its fdatasync
  CHECK(stats->syncs == stats->write_cycles);
}

TEST_CASE("durability: interval acknowledges before the sync and syncs within the interval") {
  EngineFixture f;
  f.options.durability = Durability{Durability::Mode::kInterval, 20};
  Engine& e = f.open();
  // The first write of a partition is due for a sync at once; later ones wait for the timer.
  REQUIRE(e.append("t", 0, make_batch("a")));
  REQUIRE(e.append("t", 0, make_batch("b")));
  auto info = e.describe_topic("t")->partitions[0];
  CHECK(info.high_watermark == 2);
  CHECK(info.durable <= info.high_watermark);
  for (int i = 0; i < 200 && e.describe_topic("t")->partitions[0].durable < 2; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  CHECK(e.describe_topic("t")->partitions[0].durable == 2);
}

TEST_CASE("durability: never acknowledges after the write; sync() makes it durable") {
  EngineFixture f;
  f.options.durability = Durability{Durability::Mode::kNever, 0};
  Engine& e = f.open();
  REQUIRE(e.append("t", 0, make_batch("a", 3)));
  auto info = e.describe_topic("t")->partitions[0];
  CHECK(info.high_watermark == 3);
  CHECK(info.durable == 0);
  REQUIRE(e.sync());
  CHECK(e.describe_topic("t")->partitions[0].durable == 3);
  REQUIRE(e.append("t", 0, make_batch("b", 1)));
  f.crash_and_reopen();  // "b" was never synced: lost; "a" survives
  CHECK(f.all_values("t") == std::vector<std::string>{"a-0", "a-1", "a-2"});
}

TEST_CASE("durability: a topic's own durability overrides the engine's") {
  EngineFixture f;
  f.options.durability = Durability{Durability::Mode::kNever, 0};
  Engine& e = f.open();
  TopicConfig config;
  config.durability = Durability{};
  REQUIRE(e.create_topic("safe", config));
  REQUIRE(e.append("safe", 0, make_batch("a")));
  CHECK(e.describe_topic("safe")->partitions[0].durable == 1);
}

TEST_CASE("retention: by size deletes whole sealed segments and moves the log start") {
  EngineFixture f;
  f.options.retention_bytes = 10'000;
  Engine& e = f.open();
  for (int i = 0; i < 100; ++i)
    REQUIRE(e.append("t", 0, make_batch("m" + std::to_string(i), 1, kTimestampNow, 200)));
  auto before = e.describe_topic("t")->partitions[0];
  // A slice taken before retention keeps its file readable afterwards.
  auto slice = e.fetch("t", 0, 0, 100);
  REQUIRE(slice);
  REQUIRE(e.enforce_retention());
  auto after = e.describe_topic("t")->partitions[0];
  CHECK(after.segments < before.segments);
  CHECK(after.segments >= 2);
  CHECK(after.log_start > 0);
  CHECK(after.size_bytes >= 10'000 - 4096);
  CHECK(after.size_bytes < 10'000 + 4096);
  CHECK(after.high_watermark == 100);
  auto below = e.fetch("t", 0, 0, 100);
  REQUIRE_FALSE(below);
  CHECK(below.error().code() == Errc::kOutOfRange);
  CHECK(below.error().message().find("earliest " + std::to_string(after.log_start)) !=
        std::string::npos);
  std::vector<std::byte> old(slice->slice.length);
  CHECK(::pread(slice->slice.fd, old.data(), old.size(), 0) == static_cast<ssize_t>(old.size()));
  CHECK(values_of(old).front() == "m0-0" + std::string(200 - 4, 'v'));
  Engine& reopened = f.reopen();
  CHECK(reopened.offsets("t", 0).value().first == after.log_start);
}

TEST_CASE("retention: by age deletes segments whose newest record is older than retention") {
  EngineFixture f;
  f.options.retention_ms = 60'000;
  Engine& e = f.open();
  std::int64_t now = wall_clock_ms();
  for (int i = 0; i < 40; ++i)
    REQUIRE(e.append("t", 0, make_batch("old", 1, now - 3'600'000, 300)));
  for (int i = 0; i < 30; ++i)
    REQUIRE(e.append("t", 0, make_batch("new", 1, now, 300)));
  REQUIRE(e.enforce_retention());
  auto info = e.describe_topic("t")->partitions[0];
  CHECK(info.log_start > 0);
  CHECK(info.log_start <= 40);
  auto values = f.all_values("t");
  CHECK(std::count_if(values.begin(), values.end(), [](auto& v) { return v.starts_with("new"); }) ==
        30);
  // The active segment is never deleted, however old.
  EngineFixture g;
  g.options.retention_ms = 1;
  Engine& only = g.open();
  REQUIRE(only.append("t", 0, make_batch("x", 1, 1000)));
  REQUIRE(only.enforce_retention());
  CHECK(only.offsets("t", 0).value() == std::pair<std::int64_t, std::int64_t>{0, 1});
}

}  // namespace ringlog::test
