// Issue 15 point 2, per-connection order: on one connection every request sees the effects of
// every request before it, however the requests are pipelined and whatever runs on the worker
// pool (the server runs with more workers than cores, so that pipelined requests would overlap).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "tests/hardening/hardening_support.h"
#include "tests/kafka/kafka_server_support.h"

namespace ringlog::hardening {
namespace {

const std::vector<std::string> kManyWorkers = {"--workers", "8"};

// A reply made of lines up to "end" on a connection already in use, "\n"-separated.
std::string listing(RawConnection& conn) {
  std::string out;
  for (std::string line = conn.line(); line != "end"; line = conn.line()) {
    if (line == "<timeout>" || line == "<closed>" || line.starts_with("error ")) return out + line;
    out += line + "\n";
  }
  return out;
}

kafka::OffsetCommitRequest commit_request(const std::string& topic, std::int64_t offset) {
  kafka::OffsetCommitRequest commit;
  commit.group_id = "g";
  commit.topics = {{topic, {{0, offset, -1, -1, std::nullopt}}}};
  return commit;
}

kafka::OffsetFetchRequest fetch_request(const std::string& topic) {
  kafka::OffsetFetchRequest fetch;
  fetch.group_id = "g";
  fetch.topics = std::vector<kafka::OffsetFetchRequest::Topic>{{topic, {0}}};
  return fetch;
}

}  // namespace

TEST_CASE("hardening: pipelined line commits apply in order and the next committed sees the last") {
  TempDir dir;
  Served served(dir.path() + "/data", kManyWorkers);
  REQUIRE(line_reply(served.line_address(), "create t 1") == "ok");
  RawConnection conn(served.line_address());
  std::int64_t offset = 0;
  for (int round = 0; round < 300; ++round) {
    CAPTURE(round);
    std::string pipelined;
    for (int i = 0; i < 8; ++i)
      pipelined += "commit g t 0 " + std::to_string(++offset) + "\r\n";
    pipelined += "committed g t 0\r\n";
    REQUIRE(conn.send(pipelined));
    for (int i = 0; i < 8; ++i)
      REQUIRE(conn.line() == "ok");
    REQUIRE(conn.line() == "offset " + std::to_string(offset));
  }
  CHECK(line_reply(served.line_address(), "committed g t 0") == "offset " + std::to_string(offset));
}

TEST_CASE("hardening: a pipelined create is visible to the next command, a delete too") {
  TempDir dir;
  Served served(dir.path() + "/data", kManyWorkers);
  RawConnection conn(served.line_address());
  for (int round = 0; round < 100; ++round) {
    CAPTURE(round);
    const std::string topic = "x" + std::to_string(round);
    REQUIRE(conn.send("create " + topic + " 1\r\ntopics\r\ndelete " + topic + "\r\ntopics\r\n"));
    REQUIRE(conn.line() == "ok");
    const std::string created = listing(conn);
    CHECK(created.find("topic " + topic + " 1\n") != std::string::npos);
    REQUIRE(conn.line() == "ok");
    const std::string deleted = listing(conn);
    CHECK(deleted.find("topic " + topic + " ") == std::string::npos);
  }
  CHECK(line_listing(served.line_address(), "topics") == "end\n");
}

TEST_CASE("hardening: a pipelined put is seen by the commit and get after it") {
  TempDir dir;
  Served served(dir.path() + "/data", kManyWorkers);
  RawConnection conn(served.line_address());
  for (int round = 0; round < 100; ++round) {
    CAPTURE(round);
    const std::string n = std::to_string(round);
    REQUIRE(conn.send("put p 0 1\r\nv\r\ncommit g p 0 " + n +
                      "\r\ncommitted g p 0\r\noffsets p 0\r\n"));
    REQUIRE(conn.line() == "ok " + n);
    REQUIRE(conn.line() == "ok");
    REQUIRE(conn.line() == "offset " + n);
    REQUIRE(conn.line() == "offsets 0 " + std::to_string(round + 1));
  }
}

TEST_CASE("hardening: a pipelined Kafka OffsetFetch sees the OffsetCommit before it") {
  TempDir dir;
  Served served(dir.path() + "/data", kManyWorkers);
  REQUIRE(line_reply(served.line_address(), "create k 1") == "ok");
  kafka::test::KafkaConnection conn(served.kafka_address());
  std::int64_t offset = 0;
  for (int round = 0; round < 200; ++round) {
    CAPTURE(round);
    for (int i = 0; i < 4; ++i)
      conn.send(commit_request("k", ++offset), 7);
    conn.send(fetch_request("k"), 5);
    for (int i = 0; i < 4; ++i) {
      auto committed = conn.read<kafka::OffsetCommitResponse>(7);
      REQUIRE(committed.topics.at(0).partitions.at(0).error_code == 0);
    }
    auto fetched = conn.read<kafka::OffsetFetchResponse>(5);
    REQUIRE(fetched.topics.at(0).partitions.at(0).committed_offset == offset);
  }
}

TEST_CASE("hardening: pipelined Kafka Produce requests are all seen by the Fetch after them") {
  TempDir dir;
  Served served(dir.path() + "/data", kManyWorkers);
  REQUIRE(line_reply(served.line_address(), "create k 1") == "ok");
  kafka::test::KafkaConnection conn(served.kafka_address());
  std::int64_t produced = 0;
  for (int round = 0; round < 50; ++round) {
    CAPTURE(round);
    for (int i = 0; i < 5; ++i)
      conn.send(kafka::test::produce_request("k", kafka::test::batch_of({"v"})), 7);
    conn.send(kafka::test::fetch_request("k", produced), 11);
    for (int i = 0; i < 5; ++i) {
      auto response = conn.read<kafka::ProduceResponse>(7);
      REQUIRE(response.responses.at(0).partitions.at(0).error_code == 0);
    }
    produced += 5;
    auto fetched = conn.read<kafka::FetchResponse>(11);
    const auto& partition = fetched.responses.at(0).partitions.at(0);
    REQUIRE(partition.high_watermark == produced);
  }
}

TEST_CASE("hardening: a commit pipelined after a long poll waits for its answer, a put does not") {
  TempDir dir;
  Served served(dir.path() + "/data", kManyWorkers);
  REQUIRE(line_reply(served.line_address(), "create t 1") == "ok");
  RawConnection conn(served.line_address());
  SUBCASE("the poll expires, then the commit applies") {
    REQUIRE(conn.send("get t 0 0 65536 300\r\ncommit g t 0 1\r\ncommitted g t 0\r\nping\r\n"));
    CHECK(conn.line() == "end 0");
    CHECK(conn.line() == "ok");
    CHECK(conn.line() == "offset 1");
    CHECK(conn.line() == "pong");
  }
  SUBCASE("a put after the poll runs and wakes it") {
    // The poll would wait 20 s; every read here gives up after 5 s, so only the put answers it.
    REQUIRE(conn.send("get t 0 0 65536 20000\r\nput t 0 1\r\nv\r\ncommitted g t 0\r\n"));
    CHECK(conn.line().starts_with("msg 0 "));
    CHECK(conn.line() == "v");
    CHECK(conn.line() == "end 1");
    CHECK(conn.line() == "ok 0");
    CHECK(conn.line() == "offset -1");
  }
}

TEST_CASE("hardening: a Kafka request after an acks=0 Produce sees its records") {
  TempDir dir;
  Served served(dir.path() + "/data", kManyWorkers);
  REQUIRE(line_reply(served.line_address(), "create k 1") == "ok");
  kafka::test::KafkaConnection conn(served.kafka_address());
  for (std::int64_t round = 0; round < 100; ++round) {
    CAPTURE(round);
    conn.send(kafka::test::produce_request("k", kafka::test::batch_of({"v"}), 0), 7);
    conn.send(kafka::test::fetch_request("k", round), 11);
    auto fetched = conn.read<kafka::FetchResponse>(11);
    REQUIRE(fetched.responses.at(0).partitions.at(0).high_watermark == round + 1);
  }
}

}  // namespace ringlog::hardening
