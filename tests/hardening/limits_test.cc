// Issue 16, point 4: limits against creation abuse. With --max-topics 5 --max-partitions 12, a
// creation beyond either, by the line `create`, a line `put` that would auto-create, or a Kafka
// Metadata request that would auto-create, gets the documented error (line 403, Kafka
// POLICY_VIOLATION; Produce to a topic that was not created: UNKNOWN_TOPIC_OR_PARTITION) and
// nothing appears in the data directory; deleting a topic makes room again.
#include <doctest/doctest.h>

#include <filesystem>

#include "tests/hardening/hardening_support.h"
#include "tests/kafka/kafka_server_support.h"

namespace ringlog::hardening {
namespace {

std::int16_t metadata_code(kafka::test::KafkaConnection& kafka, const std::string& topic) {
  kafka::MetadataRequest request;
  request.topics = std::vector<std::string>{topic};
  const auto response = kafka.call<kafka::MetadataResponse>(request, 4);
  return response.topics.at(0).error_code;
}

std::int16_t produce_code(kafka::test::KafkaConnection& kafka, const std::string& topic) {
  const auto response = kafka.call<kafka::ProduceResponse>(
      kafka::test::produce_request(topic, kafka::test::batch_of({"x"})), 7);
  return response.responses.at(0).partitions.at(0).error_code;
}

std::string put_command(const std::string& topic, const std::string& value) {
  return "put " + topic + " 0 " + std::to_string(value.size()) + "\r\n" + value;
}

}  // namespace

TEST_CASE(
    "limits: creations beyond --max-topics or --max-partitions are refused by both protocols "
    "and make no directory, until a topic is deleted") {
  TempDir dir;
  const std::string data = dir.path() + "/data";
  Served served(data, {"--max-topics", "5", "--max-partitions", "12"});
  const std::string& address = served.line_address();
  kafka::test::KafkaConnection kafka(served.kafka_address());
  auto exists = [&](const std::string& topic) {
    return std::filesystem::exists(data + "/" + topic);
  };

  // Partitions: 4 + 4 + 4 = 12, the limit.
  for (const std::string topic : {"a", "b", "c"})
    REQUIRE(line_reply(address, "create " + topic + " 4") == "ok");
  const std::string wide = line_reply(address, "create wide 1");
  CHECK(wide.starts_with("error 403 "));
  CHECK(wide.find("--max-partitions") != std::string::npos);
  CHECK(line_reply(address, put_command("auto", "x")).starts_with("error 403 "));
  CHECK(metadata_code(kafka, "kauto") == kafka::error::kPolicyViolation);
  CHECK(produce_code(kafka, "kprod") == kafka::error::kUnknownTopicOrPartition);
  for (const std::string topic : {"wide", "auto", "kauto", "kprod"}) {
    CAPTURE(topic);
    CHECK_FALSE(exists(topic));
  }

  // Topics: delete one of 4 partitions, then 2 + 3 small ones = 5 topics, 11 partitions.
  REQUIRE(line_reply(address, "delete c") == "ok");
  REQUIRE(line_reply(address, "create d 1") == "ok");
  REQUIRE(line_reply(address, put_command("e", "x")) == "ok 0");
  CHECK(metadata_code(kafka, "f") == kafka::error::kNone);
  const std::string sixth = line_reply(address, "create g 1");
  CHECK(sixth.starts_with("error 403 "));
  CHECK(sixth.find("--max-topics") != std::string::npos);
  CHECK(line_reply(address, put_command("h", "x")).starts_with("error 403 "));
  CHECK(metadata_code(kafka, "i") == kafka::error::kPolicyViolation);
  CHECK(produce_code(kafka, "j") == kafka::error::kUnknownTopicOrPartition);
  for (const std::string topic : {"g", "h", "i", "j"}) {
    CAPTURE(topic);
    CHECK_FALSE(exists(topic));
  }
  const std::string topics = line_listing(address, "topics");
  CHECK(topics == "topic a 4\ntopic b 4\ntopic d 1\ntopic e 1\ntopic f 1\nend\n");

  // Existing topics keep working at the limit; deleting one makes room.
  CHECK(line_reply(address, put_command("a", "y")) == "ok 0");
  REQUIRE(line_reply(address, "delete d") == "ok");
  CHECK(metadata_code(kafka, "i") == kafka::error::kNone);
  CHECK(exists("i"));
  CHECK(served.stop() == 0);
}

}  // namespace ringlog::hardening
