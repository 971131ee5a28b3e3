// Bounded preallocation (engine/space_budget.h): disk is reserved in steps ahead of a written
// partition's write position, never a whole segment up front, within an engine-wide budget.
#include <chrono>
#include <filesystem>

#include "engine/file_layout.h"
#include "engine/space_budget.h"
#include "engine_test_util.h"
#include "tests/support/process.h"

namespace ringlog::test {
namespace {

using ringlog::testing::disk_usage;
using ringlog::testing::wait_until;
using namespace std::chrono_literals;

constexpr std::uint64_t kMiB = 1 << 20;

TopicConfig partitions(std::int32_t n) {
  TopicConfig config;
  config.partitions = n;
  return config;
}

// Defaults as a server has them (1 GiB segments, extending fallocate), on the real file seam.
struct DefaultsFixture {
  DefaultsFixture() {
    options.data_dir = dir / "data";
    options.checkpoint_interval_ms = 3'600'000;
  }
  Engine& open() {
    auto opened = Engine::open(options);
    REQUIRE_MESSAGE(opened.has_value(), (opened ? "" : opened.error().to_string()));
    engine = std::move(*opened);
    return *engine;
  }
  std::string segment(const std::string& topic, int partition) const {
    return options.data_dir + "/" + topic + "/" + std::to_string(partition) + "/" +
           segment_file_name(0, ".log");
  }
  std::uint64_t preallocated() const { return engine->stats()->preallocated_bytes; }

  ringlog::testing::TempDir dir;  // a disk file system, as a server has
  EngineOptions options;
  std::unique_ptr<Engine> engine;
};

}  // namespace

TEST_CASE("preallocation: a topic of 100 partitions never written reserves nothing") {
  DefaultsFixture f;
  Engine& e = f.open();
  REQUIRE(e.create_topic("many", partitions(100)));
  CHECK(disk_usage(f.options.data_dir) < 4 * kMiB);
  CHECK(f.preallocated() == 0);
  REQUIRE(e.close());
  f.engine.reset();
  f.open();  // a restart reserves nothing either
  CHECK(disk_usage(f.options.data_dir) < 4 * kMiB);
}

TEST_CASE("preallocation: a written partition reserves one step ahead, not its segment") {
  DefaultsFixture f;
  Engine& e = f.open();
  REQUIRE(e.create_topic("t", partitions(2)));
  REQUIRE(e.append("t", 0, make_batch("one")));
  CHECK(wait_until(10s, [&] {  // the batch, then one step
    return std::filesystem::file_size(f.segment("t", 0)) > f.options.preallocation_min_step;
  }));
  const auto size = std::filesystem::file_size(f.segment("t", 0));
  CHECK(size <= f.options.preallocation_min_step + 4096);
  CHECK(f.preallocated() <= f.options.preallocation_min_step);
  CHECK(disk_usage(f.options.data_dir) < 2 * kMiB);
  CHECK(std::filesystem::file_size(f.segment("t", 1)) == 0);  // never written
  // The data stays readable and the reservation survives a clean restart.
  REQUIRE(e.close());
  f.engine.reset();
  Engine& reopened = f.open();
  CHECK(reopened.offsets("t", 0)->second == 1);
  CHECK(reopened.append("t", 0, make_batch("two"))->first_offset == 1);
}

TEST_CASE("preallocation: a busy partition's step grows, up to the largest step") {
  DefaultsFixture f;
  f.options.durability = Durability{Durability::Mode::kNever};
  f.options.preallocation_max_step = 4 * kMiB;
  Engine& e = f.open();
  REQUIRE(e.create_topic("busy", {}));
  const auto batch = make_batch("b", 16, kTimestampNow, 16 << 10);  // 256 KiB
  std::uint64_t most_ahead = 0, data = 0;
  for (int i = 0; i < 160; ++i) {
    REQUIRE(e.append("busy", 0, batch));
    data += batch.size();
    most_ahead = std::max(most_ahead, f.preallocated());
  }
  CHECK(most_ahead > f.options.preallocation_min_step);
  CHECK(most_ahead <= f.options.preallocation_max_step);
  // Never more than the largest step past the data.
  CHECK(std::filesystem::file_size(f.segment("busy", 0)) <=
        data + f.options.preallocation_max_step);
}

TEST_CASE("preallocation: all partitions together reserve within the budget") {
  DefaultsFixture f;
  f.options.preallocation_budget = 1 * kMiB;
  Engine& e = f.open();
  REQUIRE(e.create_topic("t", partitions(40)));
  for (int p = 0; p < 40; ++p)
    REQUIRE(e.append("t", p, make_batch("x")));
  CHECK(wait_until(10s, [&] { return f.preallocated() == f.options.preallocation_budget; }));
  std::uint64_t reserved_files = 0;
  for (int p = 0; p < 40; ++p)
    reserved_files += std::filesystem::file_size(f.segment("t", p));
  CHECK(reserved_files <= f.options.preallocation_budget + 40 * 4096);
  // Past the budget the appends still succeed (without a reservation).
  for (int p = 0; p < 40; ++p)
    CHECK(e.append("t", p, make_batch("y"))->first_offset == 1);
  // A deleted topic gives its reservations back.
  REQUIRE(e.delete_topic("t"));
  CHECK(f.preallocated() == 0);
}

TEST_CASE("preallocation: reservations are released as the writes use them") {
  SpaceBudget budget(100);
  CHECK(budget.acquire(60) == 60);
  CHECK(budget.acquire(60) == 40);
  CHECK(budget.acquire(1) == 0);
  budget.release(50);
  CHECK(budget.used() == 50);
  budget.charge(80);  // found reserved by recovery: counted even past the limit
  CHECK(budget.used() == 130);
  CHECK(budget.acquire(1) == 0);
}

TEST_CASE("preallocation: the step doubles when used within a second and halves after a minute") {
  constexpr std::uint64_t kMin = 64 << 10, kMax = 16 << 20;
  CHECK(next_reservation_step(0, 0, kMin, kMax) == kMin);
  CHECK(next_reservation_step(kMin, 10, kMin, kMax) == 2 * kMin);
  CHECK(next_reservation_step(kMax, 10, kMin, kMax) == kMax);
  CHECK(next_reservation_step(4 * kMin, 5'000, kMin, kMax) == 4 * kMin);
  CHECK(next_reservation_step(4 * kMin, 120'000, kMin, kMax) == 2 * kMin);
  CHECK(next_reservation_step(kMin, 120'000, kMin, kMax) == kMin);
}

TEST_CASE("preallocation: options below 4 KiB steps or with max below min are refused") {
  DefaultsFixture f;
  f.options.preallocation_min_step = 1024;
  CHECK(Engine::open(f.options).error().code() == Errc::kInvalidArgument);
  f.options.preallocation_min_step = 1 * kMiB;
  f.options.preallocation_max_step = 64 << 10;
  CHECK(Engine::open(f.options).error().code() == Errc::kInvalidArgument);
}

}  // namespace ringlog::test
