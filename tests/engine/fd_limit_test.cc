// Topic creation at the open-file limit: it fails with an error and leaves nothing behind, and
// the engine keeps serving (issue 15, finding 10).
#include <sys/resource.h>

#include <filesystem>

#include "engine_test_util.h"

namespace ringlog::test {

namespace {

TopicConfig one_partition() {
  TopicConfig config;
  config.partitions = 1;
  return config;
}

}  // namespace

TEST_CASE("engine: a topic creation that runs out of descriptors fails cleanly") {
  testing::TempDir dir;
  EngineOptions options;
  options.data_dir = dir.path() + "/data";
  options.preallocation = Preallocation::kNone;
  auto posix = make_posix_env();
  options.env = posix.get();
  auto engine = Engine::open(options);
  REQUIRE(engine.has_value());
  rlimit saved{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved) == 0);
  int created = 0;
  Status failure;
  {
    rlimit low = saved;
    low.rlim_cur = 64;
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
    for (int i = 0; i < 200 && failure; ++i) {
      failure = (*engine)->create_topic("t" + std::to_string(i), one_partition());
      if (failure) ++created;
    }
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &saved) == 0);
  }
  REQUIRE_FALSE(failure.has_value());
  CHECK(created > 0);
  const std::string failed = "t" + std::to_string(created);
  CHECK_FALSE(std::filesystem::exists(options.data_dir + "/" + failed));
  CHECK((*engine)->list_topics().size() == static_cast<std::size_t>(created));
  CHECK((*engine)->create_topic(failed, one_partition()).has_value());
  BatchBuilder builder;
  builder.add(std::nullopt, as_bytes(std::string_view("x")));
  const auto batch = builder.finish();
  CHECK(
      (*engine)->append(failed, 0, std::vector<std::byte>(batch.begin(), batch.end())).has_value());
}

}  // namespace ringlog::test
