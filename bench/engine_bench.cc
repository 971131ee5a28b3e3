// Engine append throughput and acknowledgement latency (docs/performance.md, "Engine").
//
// BM_EngineAppend/<record bytes>/<durability: 0 always, 1 interval=5, 2 never>/<producers>/
// <records per batch>: <producers> threads each append one batch of that many records at a time
// (blocking: the next append starts when the previous is acknowledged) to one partition for
// RINGLOG_BENCH_SECONDS (default 1.5 s). Reported: messages/s (items), MB/s (bytes),
// acknowledgement latency percentiles and the mean group size (appends per write cycle). The data
// directory is RINGLOG_BENCH_DIR (default /var/tmp/ringlog-bench): put it on the disk under test,
// not on tmpfs.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <benchmark/benchmark.h>
#include <ringlog/batch.h>
#include <ringlog/engine.h>

#include "engine/engine_impl.h"

namespace {

using Clock = std::chrono::steady_clock;

std::string bench_dir() {
  const char* dir = std::getenv("RINGLOG_BENCH_DIR");
  return dir ? dir : "/var/tmp/ringlog-bench";
}

double bench_seconds() {
  const char* s = std::getenv("RINGLOG_BENCH_SECONDS");
  return s ? std::atof(s) : 1.5;
}

std::vector<std::byte> make_batch(std::size_t value_bytes, int records) {
  ringlog::BatchBuilder builder;
  std::string value(value_bytes, 'x');
  for (int i = 0; i < records; ++i)
    builder.add(std::nullopt, ringlog::as_bytes(value));
  auto bytes = builder.finish();
  return {bytes.begin(), bytes.end()};
}

double percentile(std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  return sorted[std::min(sorted.size() - 1, static_cast<std::size_t>(p * sorted.size()))];
}

void BM_EngineAppend(benchmark::State& state) {
  const auto record_bytes = static_cast<std::size_t>(state.range(0));
  const auto mode = state.range(1);
  const auto producers = static_cast<int>(state.range(2));
  const auto records = static_cast<int>(state.range(3));
  std::string dir = bench_dir() + "/append-" + std::to_string(record_bytes) + "-" +
                    std::to_string(mode) + "-" + std::to_string(producers) + "-" +
                    std::to_string(records);
  std::filesystem::remove_all(dir);
  ringlog::EngineOptions options;
  options.data_dir = dir;
  options.segment_bytes = 256u << 20;
  options.durability = mode == 0   ? ringlog::Durability{}
                       : mode == 1 ? ringlog::Durability{ringlog::Durability::Mode::kInterval, 5}
                                   : ringlog::Durability{ringlog::Durability::Mode::kNever, 0};
  auto engine = ringlog::Engine::open(options);
  if (!engine) {
    state.SkipWithError(engine.error().to_string().c_str());
    return;
  }
  ringlog::TopicConfig config;
  (void)(*engine)->create_topic("bench", config);
  const auto batch = make_batch(record_bytes, records);
  std::vector<std::vector<double>> latencies(static_cast<std::size_t>(producers));
  std::atomic<std::uint64_t> messages{0};
  std::atomic<bool> failed{false};
  double elapsed = 0;
  for (auto _ : state) {
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    auto start = Clock::now();
    for (int t = 0; t < producers; ++t) {
      threads.emplace_back([&, t] {
        auto& lat = latencies[static_cast<std::size_t>(t)];
        lat.reserve(1 << 16);
        while (!stop.load(std::memory_order_relaxed)) {
          auto t0 = Clock::now();
          auto r = (*engine)->append("bench", 0, batch);
          if (!r) failed = true;
          lat.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
          messages.fetch_add(1, std::memory_order_relaxed);
        }
      });
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(bench_seconds()));
    stop = true;
    for (auto& th : threads)
      th.join();
    elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    state.SetIterationTime(elapsed);
  }
  if (failed) state.SkipWithError("an append failed");
  std::vector<double> all;
  for (auto& l : latencies)
    all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  auto stats = (*engine)->stats();
  const std::uint64_t appends = messages.load();
  state.SetItemsProcessed(static_cast<std::int64_t>(appends) * records);
  state.SetBytesProcessed(static_cast<std::int64_t>(appends * record_bytes) * records);
  state.counters["msgs_per_s"] = static_cast<double>(appends) * records / elapsed;
  state.counters["MB_per_s"] = static_cast<double>(appends * batch.size()) / elapsed / 1e6;
  state.counters["p50_us"] = percentile(all, 0.50);
  state.counters["p99_us"] = percentile(all, 0.99);
  state.counters["p999_us"] = percentile(all, 0.999);
  if (stats && stats->write_cycles > 0)
    state.counters["group"] =
        static_cast<double>(stats->append_requests) / static_cast<double>(stats->write_cycles);
  (void)(*engine)->close();
  engine->reset();
  std::filesystem::remove_all(dir);
}

BENCHMARK(BM_EngineAppend)
    ->ArgNames({"bytes", "mode", "producers", "batch"})
    ->ArgsProduct({{100, 1024}, {0, 1, 2}, {1, 16, 64}, {1, 64}})
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

// BM_EngineRecovery: restart time after a crash. Writes RINGLOG_BENCH_RECOVERY_GIB (default 2)
// GiB of 1 MiB batches in `never` mode, syncs, waits for a checkpoint, appends a 64 MiB
// unsynced tail, then stops the engine as a crash would (no sync, no checkpoint, no clean
// marker) and times Engine::open. Reported: open time and the bytes recovery scanned.
void BM_EngineRecovery(benchmark::State& state) {
  const char* gib_env = std::getenv("RINGLOG_BENCH_RECOVERY_GIB");
  const double gib = gib_env ? std::atof(gib_env) : 2.0;
  std::string dir = bench_dir() + "/recovery";
  std::filesystem::remove_all(dir);
  ringlog::EngineOptions options;
  options.data_dir = dir;
  options.durability = ringlog::Durability{ringlog::Durability::Mode::kNever, 0};
  auto engine = ringlog::Engine::open(options);
  if (!engine) return state.SkipWithError(engine.error().to_string().c_str());
  const auto batch = make_batch(1024, 1000);  // ~1 MiB
  std::uint64_t written = 0;
  const auto target = static_cast<std::uint64_t>(gib * (1u << 30));
  while (written < target) {
    if (!(*engine)->append("log", 0, batch)) return state.SkipWithError("append failed");
    written += batch.size();
  }
  if (!(*engine)->sync()) return state.SkipWithError("sync failed");
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // a checkpoint is written
  for (std::uint64_t tail = 0; tail < (64u << 20); tail += batch.size())
    (void)(*engine)->append("log", 0, batch);
  static_cast<ringlog::EngineImpl&>(**engine).crash_for_testing();
  engine->reset();
  double open_ms = 0;
  std::uint64_t scanned = 0;
  for (auto _ : state) {
    auto start = Clock::now();
    auto reopened = ringlog::Engine::open(options);
    open_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    state.SetIterationTime(open_ms / 1000);
    if (!reopened) return state.SkipWithError(reopened.error().to_string().c_str());
    scanned = (*reopened)->stats()->recovery_scanned_bytes;
    static_cast<ringlog::EngineImpl&>(**reopened).crash_for_testing();
  }
  state.counters["log_GiB"] = gib;
  state.counters["open_ms"] = open_ms;
  state.counters["scanned_MiB"] = static_cast<double>(scanned) / (1 << 20);
  std::filesystem::remove_all(dir);
}

BENCHMARK(BM_EngineRecovery)->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);

}  // namespace
