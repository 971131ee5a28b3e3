// The descriptor budget (engine/file_cache.h): segment files are opened when used and the least
// recently used ones closed, so the engine holds at most EngineOptions::max_open_files of them
// whatever its partition and segment count.
#include <filesystem>

#include "engine/file_cache.h"
#include "engine_test_util.h"

namespace ringlog::test {

namespace {

std::size_t open_descriptors() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd"))
    ++n;
  return n;
}

TopicConfig partitions(std::int32_t n) {
  TopicConfig config;
  config.partitions = n;
  return config;
}

constexpr int kPartitions = 300;
constexpr std::size_t kBudget = 16;
// Beyond the segment files: the lock, the group-offsets log, the checkpoint or index file being
// written, the io_uring, and the descriptor directory_iterator itself holds.
constexpr std::size_t kOthers = 12;

}  // namespace

TEST_CASE("file budget: 300 partitions written, read and reopened keep 16 segment files open") {
  EngineFixture f;
  f.options.max_open_files = kBudget;
  f.options.segment_bytes = 4096;  // several segments per partition
  const std::size_t before = open_descriptors();
  Engine& e = f.open();
  REQUIRE(e.create_topic("wide", partitions(kPartitions)));
  std::size_t most = 0, most_files = 0;
  auto sample = [&](Engine& engine) {
    most = std::max(most, open_descriptors());
    most_files = std::max<std::size_t>(most_files, engine.stats()->open_segment_files);
  };
  for (int round = 0; round < 3; ++round) {
    for (int p = 0; p < kPartitions; ++p) {
      REQUIRE(e.append("wide", p, make_batch("r" + std::to_string(round), 8, kTimestampNow, 200)));
      sample(e);
    }
  }
  for (int p = 0; p < kPartitions; p += 7) {
    CHECK(f.all_values("wide", p).size() == 24);
    sample(e);
  }
  CHECK(most_files <= kBudget);
  CHECK(most <= before + kBudget + kOthers);

  Engine& reopened = f.reopen();
  sample(reopened);
  for (int p = 0; p < kPartitions; p += 13) {
    CHECK(f.all_values("wide", p).size() == 24);
    sample(reopened);
  }
  Engine& crashed = f.crash_and_reopen();
  sample(crashed);
  for (int p = 0; p < kPartitions; ++p) {
    REQUIRE(crashed.append("wide", p, make_batch("after")));
    sample(crashed);
  }
  for (int p = 0; p < kPartitions; p += 11)
    CHECK(f.all_values("wide", p).size() == 25);
  CHECK(most_files <= kBudget);
  CHECK(most <= before + kBudget + kOthers);
}

TEST_CASE("file budget: a file someone holds is never closed; the least recently used is") {
  ScratchDir dir;
  auto env = make_posix_env();
  FileCache cache(2);
  std::vector<std::unique_ptr<CachedFile>> files;
  for (int i = 0; i < 3; ++i) {
    const std::string path = dir / ("f" + std::to_string(i));
    auto created = env->open_file(path, OpenMode::kCreateExclusive);
    REQUIRE(created);
    files.push_back(cache.adopt(*env, path, std::move(*created)));
  }
  CHECK(cache.open_files() == 2);  // f0 closed: the least recently used
  auto held = files[1]->open();    // f1 now the most recently used, and held
  REQUIRE(held);
  auto f0 = files[0]->open();  // reopened; f2 (unheld, least recent) closes
  REQUIRE(f0);
  CHECK(cache.open_files() == 2);
  auto f2 = files[2]->open();  // everything else is held: the budget is passed, not a close
  REQUIRE(f2);
  CHECK(cache.open_files() == 3);
  f0->reset();
  f2->reset();
  auto again = files[1]->open();
  REQUIRE(again);
  CHECK(again->get() == held->get());  // the held file stayed open, the same descriptor
  files.clear();
  CHECK(cache.open_files() == 0);
}

TEST_CASE("file budget: a budget below 16 is refused") {
  EngineFixture f;
  f.options.max_open_files = 8;
  CHECK(Engine::open(f.options).error().code() == Errc::kInvalidArgument);
}

}  // namespace ringlog::test
