// A full disk: the affected producers get kNoSpace, nothing acknowledged is lost, and appends
// are accepted again once there is space.
#include <cerrno>

#include "engine_test_util.h"
#include "io/log.h"

namespace ringlog::test {

TEST_CASE("no space: a write failing with ENOSPC fails its appends only, and the next succeed") {
  EngineFixture f;
  Engine& e = f.open();
  REQUIRE(e.append("t", 0, make_batch("before", 2)));
  SUBCASE("the write fails whole") {
    f.fault.fail_next_writes(ENOSPC, 1);
  }
  SUBCASE("the write is cut short") {
    f.fault.short_next_write(ENOSPC);
  }
  auto failed = e.append("t", 0, make_batch("lost", 3));
  REQUIRE_FALSE(failed);
  CHECK(failed.error().code() == Errc::kNoSpace);
  CHECK(e.offsets("t", 0).value().second == 2);
  auto after = e.append("t", 0, make_batch("after", 1));
  REQUIRE(after);
  CHECK(after->first_offset == 2);
  Engine& crashed = f.crash_and_reopen();
  (void)crashed;
  CHECK(f.all_values("t") == std::vector<std::string>{"before-0", "before-1", "after-0"});
}

TEST_CASE("no space: with the disk full appends fail with kNoSpace until space returns") {
  EngineFixture f;
  f.options.preallocation = Preallocation::kNone;
  f.options.segment_bytes = 8192;
  Engine& e = f.open();
  REQUIRE(e.create_topic("t", TopicConfig{}));
  REQUIRE(e.commit_offset("g", "t", 0, 0));  // the offsets file exists before the disk fills
  f.fault.set_space_limit(f.fault.used_bytes() + 20'000);
  LogLevel saved = log_level();
  set_log_level(LogLevel::kOff);
  std::vector<std::string> acked;
  int refused = 0;
  for (int i = 0; i < 200 && refused < 5; ++i) {
    auto batch = make_batch("v" + std::to_string(i), 1, kTimestampNow, 300);
    std::string value = values_of(batch).front();
    auto r = e.append("t", 0, std::move(batch));
    if (r) {
      REQUIRE(r->first_offset == static_cast<std::int64_t>(acked.size()));
      acked.push_back(value);
    } else {
      CHECK(r.error().code() == Errc::kNoSpace);
      ++refused;
    }
  }
  set_log_level(saved);
  CHECK(refused == 5);
  CHECK(acked.size() > 20);
  f.fault.clear_space_limit();
  auto again = e.append("t", 0, make_batch("again"));
  REQUIRE(again);
  CHECK(again->first_offset == static_cast<std::int64_t>(acked.size()));
  acked.push_back("again-0");
  f.crash_and_reopen();
  auto values = f.all_values("t");
  CHECK(values.size() == acked.size());
  for (std::size_t i = 0; i < std::min(values.size(), acked.size()); ++i) {
    CAPTURE(i);
    CHECK(values[i] == acked[i]);
  }
}

}  // namespace ringlog::test
