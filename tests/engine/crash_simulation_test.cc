// A seeded crash simulation: rounds of appends (grouped, to several partitions, with injected
// write and sync failures and random durability points), then a power loss (unsynced data
// dropped or torn) and a reopen. After every reopen each partition must hold exactly a prefix
// of what was acknowledged: every record acknowledged as durable present and byte-identical,
// offsets contiguous from 0, nothing that was refused or never sent.
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <random>

#include "engine_test_util.h"
#include "io/log.h"

namespace ringlog::test {

namespace {

constexpr int kPartitions = 2;
const bool kVerbose = std::getenv("RINGLOG_SIM_VERBOSE") != nullptr;

struct Model {
  std::vector<std::string> acked[kPartitions];  // value at each offset
  std::size_t durable[kPartitions] = {};        // offsets below must survive a crash
};

struct Outcome {
  int partition = 0;
  std::vector<std::string> values;
  bool ok = false;
  std::int64_t first = -1, last = -1;
};

class Waiter {
 public:
  void done() {
    std::lock_guard lock(mu_);
    ++completed_;
    cv_.notify_all();
  }
  void wait_for(int n) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return completed_ >= n; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int completed_ = 0;
};

// Appends a group of requests at once (so the writer commits them together), some failing.
void append_group(Engine& engine, FaultInjectionEnv& fault, std::mt19937_64& rng, int round,
                  bool always, Model& model) {
  int requests = 1 + static_cast<int>(rng() % 6);
  std::vector<Outcome> outcomes(static_cast<std::size_t>(requests));
  auto fault_kind = rng() % 10;
  if (kVerbose)
    std::fprintf(stderr, "round %d group: %d requests, fault %d\n", round, requests,
                 (int)fault_kind);
  switch (fault_kind) {
    case 0:
      fault.fail_next_writes(ENOSPC, 1);
      break;
    case 1:
      fault.short_next_write(ENOSPC);
      break;
    case 2:
      fault.fail_next_syncs(EIO, 1);
      break;
    default:
      break;
  }
  Waiter waiter;
  for (int r = 0; r < requests; ++r) {
    Outcome& out = outcomes[static_cast<std::size_t>(r)];
    out.partition = static_cast<int>(rng() % kPartitions);
    std::vector<std::byte> bytes;
    int batches = 1 + static_cast<int>(rng() % 3);
    for (int b = 0; b < batches; ++b) {
      int records = 1 + static_cast<int>(rng() % 4);
      std::string prefix =
          "r" + std::to_string(round) + "." + std::to_string(r) + "." + std::to_string(b);
      auto batch = make_batch(prefix, records, 1000 + round, rng() % 300);
      for (const auto& v : values_of(batch))
        out.values.push_back(v);
      bytes = concat(std::move(bytes), batch);
    }
    engine.append_async("sim", out.partition, std::move(bytes),
                        [&out, &waiter](Result<AppendResult> result) {
                          out.ok = result.has_value();
                          if (result) {
                            out.first = result->first_offset;
                            out.last = result->last_offset;
                          }
                          waiter.done();
                        });
  }
  waiter.wait_for(requests);
  fault.fail_next_writes(0, 0);  // a fault this group did not trigger must not leak on
  fault.fail_next_syncs(0, 0);
  fault.short_next_write(0);
  // Outcomes complete in offset order per partition; apply them in that order.
  std::sort(outcomes.begin(), outcomes.end(),
            [](const Outcome& a, const Outcome& b) { return a.first < b.first; });
  for (Outcome& out : outcomes) {
    if (kVerbose)
      std::fprintf(stderr, "  p%d %zu values ok=%d [%lld, %lld]\n", out.partition,
                   out.values.size(), out.ok, (long long)out.first, (long long)out.last);
    if (!out.ok) continue;
    auto& acked = model.acked[out.partition];
    REQUIRE(out.first == static_cast<std::int64_t>(acked.size()));
    REQUIRE(out.last == static_cast<std::int64_t>(acked.size() + out.values.size()) - 1);
    acked.insert(acked.end(), out.values.begin(), out.values.end());
    if (always) model.durable[out.partition] = acked.size();
  }
}

void verify_after_crash(EngineFixture& f, Model& model) {
  for (int p = 0; p < kPartitions; ++p) {
    CAPTURE(p);
    std::vector<std::int64_t> offsets;
    std::vector<std::string> values = f.all_values("sim", p, &offsets);
    if (kVerbose) {
      auto info = f.engine->describe_topic("sim")->partitions[static_cast<std::size_t>(p)];
      std::fprintf(stderr, "  verify p%d: %zu values, hw %lld, segments %zu, size %llu\n", p,
                   values.size(), (long long)info.high_watermark, info.segments,
                   (unsigned long long)info.size_bytes);
      for (const auto& entry : std::filesystem::directory_iterator(f.partition_dir("sim", p)))
        std::fprintf(stderr, "    %s %llu\n", entry.path().filename().c_str(),
                     (unsigned long long)entry.file_size());
    }
    auto& acked = model.acked[p];
    REQUIRE(values.size() >= model.durable[p]);  // nothing durable lost
    REQUIRE(values.size() <= acked.size());      // nothing invented
    for (std::size_t i = 0; i < values.size(); ++i) {
      REQUIRE(offsets[i] == static_cast<std::int64_t>(i));  // contiguous
      REQUIRE(values[i] == acked[i]);                       // identical
    }
    acked.resize(values.size());  // acknowledged but never synced: lost, as the mode allows
    model.durable[p] = values.size();
  }
}

}  // namespace

TEST_CASE(
    "crash simulation: after any power loss every durable acknowledged record is there, "
    "byte-identical, contiguous, and nothing else") {
  const std::uint64_t base_seed = 0x5eed0000;
  const int kRounds = 1000;
  const int kRoundsPerDirectory = 50;
  std::unique_ptr<EngineFixture> f;
  Model model;
  LogLevel saved_level = log_level();
  set_log_level(kVerbose ? LogLevel::kDebug : LogLevel::kError);  // injected faults: warnings
  for (int round = 0; round < kRounds; ++round) {
    std::uint64_t seed = base_seed + static_cast<std::uint64_t>(round);
    CAPTURE(seed);
    std::mt19937_64 rng(seed);
    if (round % kRoundsPerDirectory == 0) {
      f.reset();
      f = std::make_unique<EngineFixture>(seed);
      f->options.segment_bytes = 4096 + 512 * (rng() % 4);
      f->options.index_interval_bytes = 128;
      TopicConfig config;
      config.partitions = kPartitions;
      model = Model{};
      f->open();
      REQUIRE(f->engine->create_topic("sim", config));
    }
    // always: every acknowledgement is durable; interval (1 ms, so its timer fires) and
    // never: only what a sync(), a roll or a clean close covered.
    auto mode = rng() % 3;
    bool always = mode == 0;
    f->options.durability = always      ? Durability{}
                            : mode == 1 ? Durability{Durability::Mode::kInterval, 1}
                                        : Durability{Durability::Mode::kNever, 0};
    f->options.preallocation = static_cast<Preallocation>(rng() % 4);
    if (round % kRoundsPerDirectory != 0) f->open();
    int groups = 1 + static_cast<int>(rng() % 4);
    for (int g = 0; g < groups; ++g) {
      append_group(*f->engine, f->fault, rng, round, always, model);
      if (rng() % 4 == 0 && f->engine->sync()) {
        if (kVerbose) std::fprintf(stderr, "round %d: sync\n", round);
        for (int p = 0; p < kPartitions; ++p)
          model.durable[p] = model.acked[p].size();
      }
    }
    if (rng() % 10 == 0) {
      if (kVerbose) std::fprintf(stderr, "round %d: clean close\n", round);
      // A clean close now and then: the checkpoint and the clean-shutdown marker are used.
      // A partition out of service after an injected sync failure makes close fail (and leave
      // no clean-shutdown marker); then nothing more became durable.
      bool out_of_service = false;
      TopicInfo topic = f->engine->describe_topic("sim").value();
      for (const PartitionInfo& info : topic.partitions)
        out_of_service = out_of_service || info.write_failure.has_value();
      Status closed = f->engine->close();
      REQUIRE(closed.has_value() == !out_of_service);
      for (int p = 0; p < kPartitions && closed; ++p)
        model.durable[p] = model.acked[p].size();
      f->engine.reset();
      f->open();
    }
    bool tear = rng() % 2 == 0;
    if (kVerbose)
      std::fprintf(stderr,
                   "round %d: always=%d prealloc=%d crash tear=%d durable=%zu/%zu acked=%zu/%zu\n",
                   round, always, (int)f->options.preallocation, tear, model.durable[0],
                   model.durable[1], model.acked[0].size(), model.acked[1].size());
    f->crash_and_reopen(tear);
    verify_after_crash(*f, model);
    static_cast<EngineImpl&>(*f->engine).crash_for_testing();  // next round reopens
    f->engine.reset();
  }
  set_log_level(saved_level);
}

}  // namespace ringlog::test
