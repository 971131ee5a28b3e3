// The harness itself: the served binary answers on both listeners and restarts on its directory.
#include <doctest/doctest.h>

#include "tests/hardening/hardening_support.h"
#include "tests/kafka/kafka_server_support.h"

namespace ringlog::hardening {

TEST_CASE("hardening: the served binary answers both protocols and restarts on its data") {
  TempDir dir;
  const std::string data = dir.path() + "/data";
  {
    Served served(data);
    CHECK(line_reply(served.line_address(), "ping") == "pong");
    CHECK(line_reply(served.line_address(), "put t 0 5\r\nhello").starts_with("ok 0"));
    kafka::test::KafkaConnection kafka(served.kafka_address());
    auto response = kafka.call<kafka::MetadataResponse>(kafka::MetadataRequest{}, 1);
    CHECK(response.brokers.size() == 1);
    CHECK(served.stop() == 0);
  }
  Served again(data);
  CHECK(line_reply(again.line_address(), "offsets t 0") == "offsets 0 1");
  CHECK(run_verify(data) == 0);
}

}  // namespace ringlog::hardening
