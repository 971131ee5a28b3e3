// Findings 5 and 6: segment files or a partition directory that go missing while the server is
// down. The partition is reported damaged; the lost offsets answer a storage error (line 510,
// Kafka KAFKA_STORAGE_ERROR), never "out of range"; the high watermark stays at what was
// acknowledged and appends are refused, so no acknowledged offset is ever handed out again.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>

#include "engine/file_layout.h"
#include "tests/hardening/hardening_support.h"
#include "tests/kafka/kafka_server_support.h"

namespace ringlog::hardening {
namespace {

namespace fs = std::filesystem;

constexpr int kRecords = 3500;

std::string putb_command(const std::string& topic, std::int32_t partition,
                         std::span<const std::byte> body) {
  std::string out = "putb " + topic + " " + std::to_string(partition) + " " +
                    std::to_string(body.size()) + "\r\n";
  out.append(reinterpret_cast<const char*>(body.data()), body.size());
  return out;
}

// 3,500 records of about 100 bytes in batches of 100, over 64 KiB segments (six or so).
struct LostFiles {
  TempDir dir;
  std::string data = dir.path() + "/data";
  std::vector<std::string> args{"--segment-size", "64KiB"};

  void produce() {
    Served served(data, args);
    RawConnection conn(served.line_address());
    for (int first = 0; first < kRecords; first += 100) {
      BatchBuilder builder;
      for (int i = first; i < first + 100; ++i)
        builder.add(std::nullopt, as_bytes("record-" + std::to_string(i) + std::string(90, 'r')));
      conn.send(putb_command("t", 0, builder.finish()) + "\r\n");
      const std::string reply = conn.line();
      REQUIRE_MESSAGE(reply.starts_with("ok "), reply);
    }
    REQUIRE(served.stop() == 0);
  }
  std::string partition_dir() const { return data + "/t/0"; }
  std::vector<std::int64_t> bases() const {
    std::vector<std::int64_t> out;
    for (const auto& entry : fs::directory_iterator(partition_dir())) {
      if (auto found = parse_segment_file_name(entry.path().filename().string(), kLogSuffix))
        out.push_back(*found);
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  void remove_segment(std::int64_t first) {
    for (std::string_view suffix : {kLogSuffix, kIndexSuffix, kTimeIndexSuffix})
      fs::remove(partition_dir() + "/" + segment_file_name(first, suffix));
  }
};

std::int16_t kafka_fetch_code(Served& served, std::int64_t offset) {
  kafka::test::KafkaConnection kafka(served.kafka_address());
  const auto response =
      kafka.call<kafka::FetchResponse>(kafka::test::fetch_request("t", offset), 11);
  return response.responses.at(0).partitions.at(0).error_code;
}

void check_damaged_and_refusing(Served& served, std::int64_t lost_offset) {
  CHECK(line_reply(served.line_address(), "offsets t 0") ==
        "offsets 0 " + std::to_string(kRecords));
  CHECK(line_reply(served.line_address(), "fetch t 0 " + std::to_string(lost_offset) + " 65536")
            .starts_with("error 510 "));
  CHECK(kafka_fetch_code(served, lost_offset) == kafka::error::kKafkaStorageError);
  // Appends are refused: nothing below the acknowledged high watermark is handed out again.
  CHECK(line_reply(served.line_address(), "put t 0 1\r\nx").starts_with("error "));
  CHECK(line_reply(served.line_address(), "offsets t 0") ==
        "offsets 0 " + std::to_string(kRecords));
  CHECK(served.log().find("are lost") != std::string::npos);
}

}  // namespace

TEST_CASE(
    "hardening: a sealed segment missing inside the log is a reported hole, never out of "
    "range") {
  LostFiles f;
  f.produce();
  const auto bases = f.bases();
  REQUIRE(bases.size() >= 4);
  f.remove_segment(bases[1]);
  Served served(f.data, f.args);
  check_damaged_and_refusing(served, bases[1]);
  // What surrounds the hole is still served.
  CHECK(line_reply(served.line_address(), "fetch t 0 0 65536").starts_with("batches "));
  CHECK(line_reply(served.line_address(), "fetch t 0 " + std::to_string(bases[2]) + " 65536")
            .starts_with("batches "));
  CHECK(kafka_fetch_code(served, bases[2]) == kafka::error::kNone);
}

TEST_CASE(
    "hardening: a missing active segment after a clean stop is reported and its offsets are "
    "never reused") {
  LostFiles f;
  f.produce();
  const auto bases = f.bases();
  f.remove_segment(bases.back());
  Served served(f.data, f.args);
  check_damaged_and_refusing(served, bases.back());
  CHECK(
      line_reply(served.line_address(), "fetch t 0 " + std::to_string(bases.back() - 1) + " 65536")
          .starts_with("batches "));
}

TEST_CASE(
    "hardening: a missing partition directory after a clean stop is reported and its "
    "offsets are never reused") {
  LostFiles f;
  f.produce();
  fs::remove_all(f.partition_dir());
  Served served(f.data, f.args);
  check_damaged_and_refusing(served, 0);
  CHECK(served.stop() == 0);
  // Still damaged, with the same high watermark, after another restart.
  Served again(f.data, f.args);
  check_damaged_and_refusing(again, kRecords - 1);
}

}  // namespace ringlog::hardening
