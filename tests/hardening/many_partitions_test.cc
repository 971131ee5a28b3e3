// Ten thousand partitions (issue 16): 1,000 topics of 10 partitions open, serve and restart on
// the real `ringlog serve` binary, within a descriptor budget and a bounded disk.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>

#include "tests/hardening/hardening_support.h"
#include "tests/support/process.h"

namespace ringlog::hardening {

namespace {

// 1,000 topics, or $RINGLOG_SCALE_TOPICS (scripts/test sets 100 under a sanitizer).
const int kTopics = [] {
  const char* env = std::getenv("RINGLOG_SCALE_TOPICS");
  return env && std::atoi(env) > 0 ? std::atoi(env) : 1000;
}();
constexpr int kPartitions = 10;
constexpr std::size_t kFileBudget = 64;
// The server's other descriptors: listeners, the connections of this test (one at a time),
// the io_uring, the lock, the directory lock, group offsets, an index or checkpoint being
// written, the log.
constexpr std::size_t kOthers = 32;

std::size_t descriptors_of(pid_t pid) {
  std::size_t n = 0;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
    ++n;
  return n;
}

std::string topic(int t) {
  return "t" + std::to_string(t);
}

// One pipelined round trip per topic: a command per partition on one connection.
void for_each_partition(const std::string& address,
                        const std::function<std::string(int, int)>& make,
                        const std::function<void(int, int, const std::string&)>& check) {
  RawConnection c(address);
  for (int t = 0; t < kTopics; ++t) {
    std::string batch;
    for (int p = 0; p < kPartitions; ++p)
      batch += make(t, p);
    REQUIRE(c.send(batch));
    for (int p = 0; p < kPartitions; ++p)
      check(t, p, c.line(30'000));
  }
}

}  // namespace

TEST_CASE("scale: 10,000 partitions serve and restart within the descriptor budget") {
  CAPTURE(kTopics);
  TempDir dir;
  const std::string data = dir.path() + "/data";
  const std::vector<std::string> args = {"--max-open-files", std::to_string(kFileBudget),
                                         "--durability", "interval=200"};
  std::size_t most = 0;
  auto served = std::make_unique<Served>(data, args, std::string(), 180);
  auto sample = [&] { most = std::max(most, descriptors_of(served->pid())); };
  {
    RawConnection c(served->line_address());
    for (int t = 0; t < kTopics; ++t) {
      REQUIRE(c.send("create " + topic(t) + " " + std::to_string(kPartitions) + "\r\n"));
      REQUIRE(c.line(30'000) == "ok");
      if (t % 100 == 0) sample();
    }
  }
  sample();
  for_each_partition(
      served->line_address(),
      [](int t, int p) {
        const std::string value = topic(t) + "/" + std::to_string(p);
        return "put " + topic(t) + " " + std::to_string(p) + " " + std::to_string(value.size()) +
               "\r\n" + value + "\r\n";
      },
      [&](int, int, const std::string& reply) {
        REQUIRE(reply == "ok 0");
        sample();
      });
  CHECK(testing::disk_usage(data) < (std::uint64_t{4} << 30));  // the bound
  // Clean restart, then kill -9 and restart: every message is there.
  REQUIRE(served->stop() == 0);
  for (bool crash : {false, true}) {
    CAPTURE(crash);
    const auto started = std::chrono::steady_clock::now();
    served = std::make_unique<Served>(data, args, std::string(), 180);
    const auto took = std::chrono::steady_clock::now() - started;
    const std::string after = crash ? "kill -9" : "clean stop";
    MESSAGE("restart with ", kTopics * kPartitions, " partitions after a ", after, ": ",
            std::chrono::duration_cast<std::chrono::milliseconds>(took).count(), " ms");
    sample();
    RawConnection c(served->line_address());
    for (int t = 0; t < kTopics; ++t) {
      std::string gets;
      for (int p = 0; p < kPartitions; ++p)
        gets += "get " + topic(t) + " " + std::to_string(p) + " 0\r\n";
      REQUIRE(c.send(gets));
      for (int p = 0; p < kPartitions; ++p) {
        REQUIRE(c.line(30'000).starts_with("msg 0 "));
        REQUIRE(c.line(30'000) == topic(t) + "/" + std::to_string(p));
        REQUIRE(c.line(30'000) == "end 1");
      }
      if (t % 50 == 0) sample();
    }
    if (crash) break;
    served->kill();
  }
  CHECK(most <= kFileBudget + kOthers);
  MESSAGE("most descriptors the server held: ", most);
}

}  // namespace ringlog::hardening
