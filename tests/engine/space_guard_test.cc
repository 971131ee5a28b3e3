// The disk-space guard (engine/space_guard.h): the decision without a disk, and the engine
// refusing appends and creations below the reserve while reads and commits keep working.
#include <filesystem>

#include "engine/space_guard.h"
#include "engine_test_util.h"

namespace ringlog::test {

constexpr std::uint64_t kMiB = 1 << 20;

TEST_CASE("space guard: the reserve is the smaller of the bounds that are set") {
  const std::uint64_t fs = 100 * kMiB;
  CHECK(reserve_bytes({4 * kMiB, std::nullopt}, fs) == 4 * kMiB);
  CHECK(reserve_bytes({std::nullopt, 5.0}, fs) == 5 * kMiB);
  CHECK(reserve_bytes({4 * kMiB, 5.0}, fs) == 4 * kMiB);
  CHECK(reserve_bytes({std::uint64_t{5} << 30, 5.0}, std::uint64_t{1} << 40) == 5ull << 30);
  CHECK(reserve_bytes({std::nullopt, std::nullopt}, fs) == 0);
  CHECK(reserve_bytes({0, 5.0}, fs) == 0);
  // The default on an 8 MiB test file system: 5% of it, not 5 GiB.
  const EngineOptions defaults;
  CHECK(reserve_bytes({defaults.min_free_space, defaults.min_free_space_percent}, 8 * kMiB) ==
        419431);
}

TEST_CASE("space guard: below the reserve refuses, below twice the reserve is low") {
  CHECK(space_state(10 * kMiB, 4 * kMiB) == SpaceState::kOk);
  CHECK(space_state(8 * kMiB, 4 * kMiB) == SpaceState::kOk);
  CHECK(space_state(8 * kMiB - 1, 4 * kMiB) == SpaceState::kLow);
  CHECK(space_state(4 * kMiB, 4 * kMiB) == SpaceState::kLow);
  CHECK(space_state(4 * kMiB - 1, 4 * kMiB) == SpaceState::kRefusing);
  CHECK(space_state(0, 4 * kMiB) == SpaceState::kRefusing);
  CHECK(space_state(0, 0) == SpaceState::kOk);  // no reserve: no guard
}

TEST_CASE("space guard: a percentage outside [0, 50] is refused") {
  CHECK(space_reserve_problem({std::nullopt, 5.0}).empty());
  CHECK(space_reserve_problem({std::nullopt, 0.0}).empty());
  CHECK(space_reserve_problem({std::nullopt, 50.0}).empty());
  CHECK_FALSE(space_reserve_problem({std::nullopt, 50.5}).empty());
  CHECK_FALSE(space_reserve_problem({std::nullopt, -1.0}).empty());
  CHECK_FALSE(space_reserve_problem({std::nullopt, std::nan("")}).empty());
}

TEST_CASE("space guard: refusal and resumption follow the samples, the message says why") {
  QuietLog quiet;
  SpaceGuard guard({4 * kMiB, std::nullopt}, "/data");
  CHECK_FALSE(guard.refusing());
  guard.update({20 * kMiB, 100 * kMiB});
  CHECK(guard.state() == SpaceState::kOk);
  guard.update({6 * kMiB, 100 * kMiB});
  CHECK(guard.state() == SpaceState::kLow);
  CHECK_FALSE(guard.refusing());
  guard.update({3 * kMiB + kMiB / 10, 100 * kMiB});
  CHECK(guard.refusing());
  CHECK(guard.free_bytes() == 3 * kMiB + kMiB / 10);
  CHECK(guard.reserve() == 4 * kMiB);
  const Error e = guard.refusal();
  CHECK(e.code() == Errc::kNoSpace);
  CHECK(e.message() ==
        "disk space low: 3.1 MiB free on /data, below the reserve of 4 MiB (--min-free-space); "
        "appends resume when space is freed");
  guard.update({4 * kMiB, 100 * kMiB});
  CHECK_FALSE(guard.refusing());
}

TEST_CASE("space guard: appends re-sample after half the headroom, never per append") {
  CHECK(bytes_until_check(20 * kMiB, 4 * kMiB) == 8 * kMiB);
  CHECK(bytes_until_check(4 * kMiB + 1000, 4 * kMiB) == kMinCheckStepBytes);
  CHECK(bytes_until_check(kMiB, 4 * kMiB) == kMinCheckStepBytes);
  CHECK(bytes_until_check(kMiB, 0) == INT64_MAX);
  QuietLog quiet;
  SpaceGuard guard({4 * kMiB, std::nullopt}, "/data");
  guard.update({6 * kMiB, 100 * kMiB});  // headroom 2 MiB: a sample after 1 MiB of appends
  int samples = 0;
  for (int i = 0; i < 1024; ++i)
    samples += guard.note_append(1024) ? 1 : 0;
  CHECK(samples == 1);
  CHECK_FALSE(guard.note_append(1024));               // only the one that used the share up
  guard.update({4 * kMiB + 100 * 1024, 100 * kMiB});  // near the reserve: the smallest step
  CHECK_FALSE(guard.note_append(kMinCheckStepBytes - 1));
  CHECK(guard.note_append(1));
}

TEST_CASE("space guard: engine options with a bad reserve or zero limits are refused") {
  EngineFixture f;
  SUBCASE("percent") {
    f.options.min_free_space_percent = 75;
  }
  SUBCASE("max_topics") {
    f.options.max_topics = 0;
  }
  SUBCASE("max_partitions") {
    f.options.max_partitions = 0;
  }
  auto opened = Engine::open(f.options);
  REQUIRE_FALSE(opened);
  CHECK(opened.error().code() == Errc::kInvalidArgument);
}

TEST_CASE(
    "space guard: below the reserve appends and creations fail with kNoSpace, reads and "
    "commits work") {
  QuietLog quiet;
  EngineFixture f;
  Engine& first = f.open();
  REQUIRE(first.append("t", 0, make_batch("kept", 2)));
  REQUIRE(first.close());
  f.engine.reset();
  // A reserve larger than any file system: refusing from the first sample, at open.
  f.options.min_free_space = std::uint64_t{1} << 62;
  f.options.min_free_space_percent = std::nullopt;
  Engine& e = f.open();
  auto refused = e.append("t", 0, make_batch("no", 1));
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code() == Errc::kNoSpace);
  CHECK(refused.error().message().find("disk space low") != std::string::npos);
  CHECK(refused.error().message().find(f.options.data_dir) != std::string::npos);
  auto created = e.create_topic("new", TopicConfig{});
  REQUIRE_FALSE(created);
  CHECK(created.error().code() == Errc::kNoSpace);
  auto auto_created = e.append("other", 0, make_batch("no", 1));
  REQUIRE_FALSE(auto_created);
  CHECK(auto_created.error().code() == Errc::kNoSpace);
  CHECK_FALSE(std::filesystem::exists(f.options.data_dir + "/new"));
  CHECK_FALSE(std::filesystem::exists(f.options.data_dir + "/other"));
  CHECK(f.all_values("t") == std::vector<std::string>{"kept-0", "kept-1"});
  CHECK(e.commit_offset("g", "t", 0, 2));
  CHECK(e.committed_offset("g", "t", 0).value().value().offset == 2);
  auto stats = e.stats().value();
  CHECK(stats.appends_refused_for_space);
  CHECK(stats.space_refusals >= 1);
  CHECK(stats.free_space_bytes > 0);
  CHECK(stats.min_free_space_bytes == std::uint64_t{1} << 62);
  CHECK(e.delete_topic("t"));
}

}  // namespace ringlog::test
