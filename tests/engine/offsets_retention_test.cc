// Idle consumer groups' offsets expire (Kafka's offsets.retention.minutes; issue 15, finding 9):
// after the retention without a commit or a touch, durably, with the open as the earliest use.
#include <chrono>
#include <thread>

#include "engine/file_layout.h"
#include "engine/group_offsets.h"
#include "engine_test_util.h"
#include "tests/support/process.h"

namespace ringlog::test {

namespace {

constexpr std::uint64_t kRetention = 10'000;  // ms, for the store driven by explicit times

struct StoreFixture {
  std::unique_ptr<GroupOffsets> open(std::int64_t now_ms) {
    std::vector<std::string> damage;
    auto store = GroupOffsets::open(*env, dir.path(), now_ms, damage);
    REQUIRE(store.has_value());
    CHECK(damage.empty());
    return std::move(*store);
  }

  ScratchDir dir;
  std::unique_ptr<Env> env = make_posix_env();
};

bool has(const GroupOffsets& store, const std::string& group, std::int32_t partition = 0) {
  return store.get(group, "t", partition).has_value();
}

}  // namespace

TEST_CASE("offsets retention: a group's offsets expire together after the retention, not before") {
  StoreFixture f;
  auto store = f.open(1'000);
  REQUIRE(store->commit("idle", "t", 0, 5, "", 2'000));
  REQUIRE(store->commit("idle", "t", 1, 6, "", 2'000));
  REQUIRE(store->commit("busy", "t", 0, 7, "", 2'000));
  REQUIRE(store->commit("busy", "t", 0, 8, "", 9'000));  // a later commit: used later
  CHECK(store->expire(2'000 + kRetention - 1, kRetention, 100).value() == 0);
  CHECK(store->expire(2'000 + kRetention, kRetention, 100).value() == 2);
  CHECK_FALSE(has(*store, "idle", 0));
  CHECK_FALSE(has(*store, "idle", 1));
  CHECK(has(*store, "busy"));
  CHECK(store->expire(9'000 + kRetention, kRetention, 100).value() == 1);
  CHECK(store->size() == 0);
}

TEST_CASE("offsets retention: a touched group is in use and keeps its offsets") {
  StoreFixture f;
  auto store = f.open(0);
  REQUIRE(store->commit("g", "t", 0, 5, "", 1'000));
  store->touch("g", 8'000);
  store->touch("never-committed", 8'000);  // ignored: nothing to keep
  CHECK(store->expire(1'000 + kRetention, kRetention, 100).value() == 0);
  CHECK(store->expire(8'000 + kRetention - 1, kRetention, 100).value() == 0);
  CHECK(has(*store, "g"));
  CHECK(store->expire(8'000 + kRetention, kRetention, 100).value() == 1);
}

TEST_CASE("offsets retention: expiry is bounded per call and durable across reopen") {
  StoreFixture f;
  auto store = f.open(0);
  for (int p = 0; p < 25; ++p)
    REQUIRE(store->commit("g", "t", p, p, "", 1'000));
  REQUIRE(store->commit("other", "t", 0, 1, "", 50'000));
  const std::int64_t later = 1'000 + kRetention;
  CHECK(store->expire(later, kRetention, 10).value() == 10);
  CHECK(store->expire(later, kRetention, 10).value() == 10);
  CHECK(store->size() == 6);
  store.reset();
  store = f.open(later);  // what was expired stays expired; the rest counts as used now
  CHECK(store->size() == 6);
  CHECK(store->expire(later, kRetention, 10).value() == 0);
  CHECK(store->expire(later + kRetention, kRetention, 10).value() == 5);
  CHECK(store->expire(later + kRetention, kRetention, 10).value() == 0);  // "other" was at 50 s
  CHECK(store->size() == 1);
  store.reset();
  CHECK(f.open(later + kRetention)->size() == 1);
}

TEST_CASE("offsets retention: after a long downtime a group counts as used at the open") {
  StoreFixture f;
  auto store = f.open(0);
  REQUIRE(store->commit("g", "t", 0, 5, "", 1'000));
  store.reset();
  const std::int64_t reopened_at = 1'000 + 100 * kRetention;  // down for 100 retentions
  store = f.open(reopened_at);
  CHECK(store->expire(reopened_at, kRetention, 100).value() == 0);
  CHECK(store->expire(reopened_at + kRetention - 1, kRetention, 100).value() == 0);
  CHECK(has(*store, "g"));
  CHECK(store->expire(reopened_at + kRetention, kRetention, 100).value() == 1);
}

TEST_CASE("offsets retention: the engine expires idle groups in maintenance, not touched ones") {
  EngineFixture f;
  f.options.offsets_retention_ms = 300;
  Engine& e = f.open();
  REQUIRE(e.create_topic("t", {}));
  REQUIRE(e.commit_offset("touched", "t", 0, 1));
  REQUIRE(e.commit_offset("idle", "t", 0, 2));
  auto present = [&](const char* group) {
    return e.committed_offset(group, "t", 0).value().has_value();
  };
  // Keep one group in use for several retention periods (and maintenance checks).
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(2500);
  while (std::chrono::steady_clock::now() < until) {
    e.touch_group("touched");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK(present("touched"));
  CHECK_FALSE(present("idle"));
  CHECK(
      ringlog::testing::wait_until(std::chrono::seconds(10), [&] { return !present("touched"); }));
  CHECK(e.stats()->offsets_expired == 2);
  // Durable: a crash and reopen does not bring them back.
  Engine& crashed = f.crash_and_reopen();
  CHECK_FALSE(crashed.committed_offset("touched", "t", 0).value().has_value());
  CHECK_FALSE(crashed.committed_offset("idle", "t", 0).value().has_value());
}

TEST_CASE("offsets retention: the option must be positive") {
  EngineFixture f;
  f.options.offsets_retention_ms = 0;
  auto opened = Engine::open(f.options);
  REQUIRE_FALSE(opened);
  CHECK(opened.error().code() == Errc::kInvalidArgument);
  CHECK(EngineOptions{}.offsets_retention_ms == 604'800'000);
}

}  // namespace ringlog::test
