// Limits against creation abuse (EngineOptions::max_topics, max_partitions): a creation beyond
// them fails with kLimitExceeded before anything is made on disk, concurrent creations cannot
// overshoot, and deleting a topic makes room.
#include <atomic>
#include <filesystem>
#include <thread>

#include "engine_test_util.h"

namespace ringlog::test {

TEST_CASE("limits: creating beyond max_topics or max_partitions fails and makes nothing") {
  QuietLog quiet;
  EngineFixture f;
  f.options.max_topics = 3;
  f.options.max_partitions = 5;
  Engine& e = f.open();
  REQUIRE(e.create_topic("a", with_partitions(2)));
  REQUIRE(e.create_topic("b", with_partitions(2)));
  auto wide = e.create_topic("wide", with_partitions(2));
  REQUIRE_FALSE(wide);
  CHECK(wide.error().code() == Errc::kLimitExceeded);
  CHECK(wide.error().message().find("max_partitions") != std::string::npos);
  REQUIRE(e.create_topic("c", with_partitions(1)));
  auto fourth = e.create_topic("d", with_partitions(1));
  REQUIRE_FALSE(fourth);
  CHECK(fourth.error().code() == Errc::kLimitExceeded);
  CHECK(fourth.error().message().find("max_topics") != std::string::npos);
  auto appended = e.append("auto", 0, make_batch("x"));
  REQUIRE_FALSE(appended);
  CHECK(appended.error().code() == Errc::kLimitExceeded);
  for (const char* name : {"wide", "d", "auto"})
    CHECK_FALSE(std::filesystem::exists(f.options.data_dir + "/" + name));
  REQUIRE(e.delete_topic("a"));
  CHECK(e.create_topic("d", with_partitions(2)));
}

TEST_CASE("limits: concurrent creations never overshoot max_topics or max_partitions") {
  QuietLog quiet;
  EngineFixture f;
  f.options.max_topics = 5;
  f.options.max_partitions = 8;
  Engine& e = f.open();
  std::atomic<int> created{0}, refused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 4; ++i) {
        auto s = e.create_topic("t" + std::to_string(t) + "-" + std::to_string(i),
                                with_partitions(1 + (t + i) % 2));
        if (s) {
          created.fetch_add(1);
        } else {
          CHECK(s.error().code() == Errc::kLimitExceeded);
          refused.fetch_add(1);
        }
      }
    });
  }
  for (auto& t : threads)
    t.join();
  CHECK(created + refused == 32);
  const auto stats = e.stats().value();
  CHECK(stats.topics <= 5);
  CHECK(stats.partitions <= 8);
  CHECK(stats.topics == static_cast<std::uint64_t>(created.load()));
  std::size_t dirs = 0;
  for (const auto& entry : std::filesystem::directory_iterator(f.options.data_dir))
    dirs += entry.is_directory() && entry.path().filename().string()[0] == 't' ? 1 : 0;
  CHECK(dirs == stats.topics);
}

}  // namespace ringlog::test
