// Helpers shared by the engine suites: a scratch data directory (in /dev/shm when there is one,
// so fdatasync is cheap), batch makers, and a fixture that opens, crashes and reopens an Engine
// over a FaultInjectionEnv with tiny segments.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <ringlog/batch.h>
#include <ringlog/engine.h>

#include "engine/engine_impl.h"
#include "io/env.h"
#include "io/fault_env.h"
#include "io/log.h"
#include "tests/support/files.h"

namespace ringlog::test {

// A fresh directory in memory (/dev/shm when it exists): the engine suites write a lot.
class ScratchDir : public ringlog::testing::TempDir {
 public:
  ScratchDir() : TempDir(Where::kMemory) {}
};

// Silences the engine's log for a scope (tests that provoke the errors it logs).
struct QuietLog {
  QuietLog() : saved(log_level()) { set_log_level(LogLevel::kOff); }
  ~QuietLog() { set_log_level(saved); }
  QuietLog(const QuietLog&) = delete;
  QuietLog& operator=(const QuietLog&) = delete;
  LogLevel saved;
};

// One batch of records "<prefix>-0", "<prefix>-1", ... with the given timestamp.
inline std::vector<std::byte> make_batch(const std::string& prefix, int records = 1,
                                         std::int64_t timestamp_ms = kTimestampNow,
                                         std::size_t value_bytes = 0) {
  BatchBuilder builder;
  for (int i = 0; i < records; ++i) {
    std::string value = prefix + "-" + std::to_string(i);
    if (value.size() < value_bytes) value.append(value_bytes - value.size(), 'v');
    builder.add("k", value, {}, timestamp_ms);
  }
  auto bytes = builder.finish();
  return {bytes.begin(), bytes.end()};
}

inline std::vector<std::byte> concat(std::vector<std::byte> a, const std::vector<std::byte>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// The values of every record in a buffer of whole batches (a trailing cut batch is ignored).
inline std::vector<std::string> values_of(std::span<const std::byte> bytes,
                                          std::vector<std::int64_t>* offsets = nullptr) {
  std::vector<std::string> out;
  BatchReader reader(bytes);
  while (true) {
    ParsedBatch parsed = reader.next();
    if (!parsed.ok()) break;
    for (const RecordView& r : parsed.batch.records()) {
      out.emplace_back(reinterpret_cast<const char*>(r.value->data()), r.value->size());
      if (offsets) offsets->push_back(r.offset);
    }
  }
  return out;
}

// A topic of `n` partitions, with `durability` when given (engine defaults otherwise).
inline TopicConfig with_partitions(std::int32_t n,
                                   std::optional<Durability> durability = std::nullopt) {
  TopicConfig config;
  config.partitions = n;
  config.durability = durability;
  return config;
}

struct EngineFixture {
  explicit EngineFixture(std::uint64_t seed = 1) : fault(*base, seed) {
    options.data_dir = dir / "data";
    options.env = &fault;
    options.segment_bytes = 4096;
    options.index_interval_bytes = 256;
    options.checkpoint_interval_ms = 3'600'000;  // tests write checkpoints by closing
    options.retention_check_interval_ms = 3'600'000;
  }
  ~EngineFixture() { engine.reset(); }

  Engine& open() {
    auto opened = Engine::open(options);
    REQUIRE_MESSAGE(opened.has_value(), (opened ? "" : opened.error().to_string()));
    engine = std::move(*opened);
    return *engine;
  }
  Engine& reopen() {
    REQUIRE(engine->close().has_value());
    engine.reset();
    return open();
  }
  // Power loss: the engine stops without syncing, then unsynced data is dropped (or torn).
  Engine& crash_and_reopen(bool tear = false) {
    static_cast<EngineImpl&>(*engine).crash_for_testing();
    engine.reset();
    REQUIRE((tear ? fault.tear_unsynced() : fault.drop_unsynced()).has_value());
    return open();
  }
  std::string partition_dir(const std::string& topic, int partition = 0) const {
    return options.data_dir + "/" + topic + "/" + std::to_string(partition);
  }
  std::vector<std::string> all_values(const std::string& topic, int partition = 0,
                                      std::vector<std::int64_t>* offsets = nullptr) {
    std::vector<std::string> out;
    auto range = engine->offsets(topic, partition);
    REQUIRE(range.has_value());
    std::int64_t next = range->first;
    while (next < range->second) {
      auto bytes = engine->read(topic, partition, next, 1 << 20);
      REQUIRE_MESSAGE(bytes.has_value(), (bytes ? "" : bytes.error().to_string()));
      std::vector<std::int64_t> offs;
      auto values = values_of(*bytes, &offs);
      REQUIRE(!offs.empty());
      for (std::size_t i = 0; i < values.size(); ++i) {
        if (offs[i] < next) continue;
        out.push_back(values[i]);
        if (offsets) offsets->push_back(offs[i]);
      }
      next = offs.back() + 1;
    }
    return out;
  }

  ScratchDir dir;
  std::unique_ptr<Env> base = make_posix_env();
  FaultInjectionEnv fault;
  EngineOptions options;
  std::unique_ptr<Engine> engine;
};

}  // namespace ringlog::test
