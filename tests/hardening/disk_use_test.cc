// Disk use grows with the data written, not with what was created (issue 16, bounded
// preallocation): the real `ringlog serve` binary with its default 1 GiB segments.
#include <doctest/doctest.h>

#include <string>

#include "tests/hardening/hardening_support.h"
#include "tests/kafka/kafka_server_support.h"
#include "tests/support/process.h"

namespace ringlog::hardening {

namespace {
constexpr std::uint64_t kMiB = 1 << 20;
constexpr std::uint64_t kGiB = std::uint64_t{1} << 30;
}  // namespace

TEST_CASE("disk use: a 100-partition topic created with the defaults takes almost nothing") {
  TempDir dir;
  const std::string data = dir.path() + "/data";
  Served served(data);
  REQUIRE(line_reply(served.line_address(), "create many 100") == "ok");
  const std::uint64_t empty = testing::disk_usage(data);
  CHECK(empty < 2 * kGiB);  // the bound; the design's:
  CHECK(empty < 8 * kMiB);
  // One message in each: a step reserved ahead of each, not a segment.
  for (int p = 0; p < 100; ++p) {
    RawConnection c(served.line_address());
    c.send("put many " + std::to_string(p) + " 5\r\nhello\r\n");
    REQUIRE(c.line().starts_with("ok "));
  }
  CHECK(testing::wait_until(std::chrono::seconds(10), [&] {
    return line_listing(served.line_address(), "stats").find("stat preallocated_bytes 0\n") ==
           std::string::npos;
  }));
  CHECK(testing::disk_usage(data) < 32 * kMiB);
  // A restart keeps it so, after a clean stop and after kill -9.
  REQUIRE(served.stop() == 0);
  {
    Served again(data);
    CHECK(line_reply(again.line_address(), "get many 99 0").starts_with("msg 0 "));
    again.kill();
  }
  Served after_crash(data);
  CHECK(line_reply(after_crash.line_address(), "get many 42 0").starts_with("msg 0 "));
  CHECK(testing::disk_usage(data) < 32 * kMiB);
}

TEST_CASE("disk use: 1,000 topics auto-created by Kafka clients' Metadata requests take little") {
  TempDir dir;
  const std::string data = dir.path() + "/data";
  Served served(data);
  kafka::test::KafkaConnection kafka(served.kafka_address());
  for (int round = 0; round < 10; ++round) {
    kafka::MetadataRequest request;
    request.topics.emplace();
    for (int i = 0; i < 100; ++i)
      request.topics->push_back("auto-" + std::to_string(round * 100 + i));
    const auto response = kafka.call<kafka::MetadataResponse>(request, 4);
    REQUIRE(response.topics.size() == 100);
  }
  CHECK(line_listing(served.line_address(), "stats").find("stat topics 1000\n") !=
        std::string::npos);
  const std::uint64_t used = testing::disk_usage(data);
  CHECK(used < 1 * kGiB);  // the bound; the design's:
  CHECK(used < 64 * kMiB);
}

}  // namespace ringlog::hardening
