// Finding 10: one naming rule for topics and group ids in both protocols and the CLI, and the
// Kafka error codes Kafka itself answers for impossible names and failed creations.
#include <doctest/doctest.h>

#include <filesystem>

#include "tests/hardening/hardening_support.h"
#include "tests/kafka/kafka_server_support.h"
#include "tests/support/process.h"

namespace ringlog::hardening {
namespace {

kafka::OffsetCommitRequest commit_request(const std::string& group, const std::string& topic,
                                          std::int64_t offset) {
  kafka::OffsetCommitRequest request;
  request.group_id = group;
  request.topics = {{topic, {{0, offset, -1, -1, std::string("m")}}}};
  return request;
}

std::int16_t commit_code(kafka::test::KafkaConnection& kafka, const std::string& group,
                         const std::string& topic, std::int64_t offset) {
  const auto response =
      kafka.call<kafka::OffsetCommitResponse>(commit_request(group, topic, offset), 2);
  return response.topics.at(0).partitions.at(0).error_code;
}

}  // namespace

TEST_CASE(
    "hardening: group ids Kafka clients commit with are readable by the line protocol and "
    "the CLI") {
  TempDir dir;
  Served served(dir.path() + "/data");
  REQUIRE(line_reply(served.line_address(), "create t 1") == "ok");
  kafka::test::KafkaConnection kafka(served.kafka_address());
  for (const std::string group : {"../g", "a/b", "app:consumer@host#1"}) {
    CAPTURE(group);
    CHECK(commit_code(kafka, group, "t", 42) == kafka::error::kNone);
    CHECK(line_reply(served.line_address(), "committed " + group + " t 0") == "offset 42");
    const testing::RunResult cli =
        testing::run_command({testing::ringlog_binary(), "offsets", "t", "--group", group,
                              "--server", served.line_address()});
    CHECK(cli.exit_code == 0);
    CHECK(cli.out.find("42") != std::string::npos);
  }
  // An id the line protocol could not carry is refused by Kafka requests too.
  CHECK(commit_code(kafka, "two words", "t", 1) == kafka::error::kInvalidGroupId);
  kafka::JoinGroupRequest join;
  join.group_id = "two words";
  join.session_timeout_ms = 10000;
  join.protocol_type = "consumer";
  join.protocols = {{"range", {}}};
  CHECK(kafka.call<kafka::JoinGroupResponse>(join, 5).error_code == kafka::error::kInvalidGroupId);
}

TEST_CASE(
    "hardening: impossible topic names are UNKNOWN_TOPIC_OR_PARTITION on Produce, Fetch and "
    "ListOffsets") {
  TempDir dir;
  Served served(dir.path() + "/data");
  kafka::test::KafkaConnection kafka(served.kafka_address());
  for (const std::string& name : {std::string("a/b"), std::string(".."), std::string(250, 'x')}) {
    CAPTURE(name);
    const auto produced = kafka.call<kafka::ProduceResponse>(
        kafka::test::produce_request(name, kafka::test::batch_of({"x"})), 7);
    CHECK(produced.responses.at(0).partitions.at(0).error_code ==
          kafka::error::kUnknownTopicOrPartition);
    const auto fetched = kafka.call<kafka::FetchResponse>(kafka::test::fetch_request(name, 0), 11);
    CHECK(fetched.responses.at(0).partitions.at(0).error_code ==
          kafka::error::kUnknownTopicOrPartition);
    kafka::ListOffsetsRequest list;
    list.topics = {{name, {{0, kafka::kLatestTimestamp}}}};
    const auto listed = kafka.call<kafka::ListOffsetsResponse>(list, 2);
    CHECK(listed.topics.at(0).partitions.at(0).error_code ==
          kafka::error::kUnknownTopicOrPartition);
  }
}

TEST_CASE(
    "hardening: a topic creation that fails at the open-file limit is not reported as an "
    "unknown topic") {
  TempDir dir;
  // The server runs under a low descriptor limit, hard as well (serve raises its soft limit up
  // to the hard one), and a descriptor budget above it: auto-created topics soon cannot open
  // their files.
  const std::string wrapper = dir.path() + "/serve-with-48-descriptors";
  testing::write_file(wrapper, "#!/bin/sh\nulimit -n 48 || exit 1\nexec '" +
                                   testing::ringlog_binary() + "' \"$@\"\n");
  std::filesystem::permissions(wrapper, std::filesystem::perms::owner_all);
  auto served = std::make_unique<Served>(
      dir.path() + "/data", std::vector<std::string>{"--max-open-files", "1000"}, wrapper);
  kafka::test::KafkaConnection kafka(served->kafka_address());
  std::int16_t failure = kafka::error::kNone;
  for (int i = 0; i < 200 && failure == kafka::error::kNone; ++i) {
    kafka::MetadataRequest request;
    request.topics = std::vector<std::string>{"auto-" + std::to_string(i)};
    const auto response = kafka.call<kafka::MetadataResponse>(request, 4);
    failure = response.topics.at(0).error_code;
  }
  CHECK(failure == kafka::error::kKafkaStorageError);
  CHECK(line_reply(served->line_address(), "ping") == "pong");
}

TEST_CASE("hardening: commits to a topic or partition that does not exist are refused") {
  TempDir dir;
  Served served(dir.path() + "/data");  // auto-creation on (the default): commits do not create
  REQUIRE(line_reply(served.line_address(), "create t 2") == "ok");
  CHECK(line_reply(served.line_address(), "commit g nosuch 0 5").starts_with("error 404"));
  CHECK(line_reply(served.line_address(), "commit g t 2 5").starts_with("error 404"));
  CHECK(line_reply(served.line_address(), "commit g t 1 5") == "ok");
  kafka::test::KafkaConnection kafka(served.kafka_address());
  CHECK(commit_code(kafka, "g", "nosuch", 5) == kafka::error::kUnknownTopicOrPartition);
  CHECK(commit_code(kafka, "g", "t", 7) == kafka::error::kNone);
  // Nothing of the refused commits was stored.
  CHECK(line_reply(served.line_address(), "committed g nosuch 0") != "offset 5");
  CHECK(line_reply(served.line_address(), "committed g t 0") == "offset 7");
  CHECK(line_reply(served.line_address(), "committed g t 1") == "offset 5");
}

}  // namespace ringlog::hardening
