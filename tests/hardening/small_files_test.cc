// Findings 3 and 4: the small files of a data directory. One flipped byte in `@group-offsets`
// erased every later commit, silently; a missing `@topic` deleted the topic's data.
#include <doctest/doctest.h>

#include <ringlog/batch.h>

#include <filesystem>
#include <map>

#include "tests/hardening/hardening_support.h"

namespace ringlog::hardening {

namespace {

void flip_byte(const std::string& path, std::size_t at) {
  std::string bytes = testing::read_file(path);
  REQUIRE(at < bytes.size());
  bytes[at] = static_cast<char>(bytes[at] ^ 0x20);
  testing::write_file(path, bytes);
}

std::vector<std::string> quarantine_entries(const std::string& data) {
  std::vector<std::string> names;
  if (!std::filesystem::exists(data + "/@quarantine")) return names;
  for (const auto& entry : std::filesystem::directory_iterator(data + "/@quarantine"))
    names.push_back(entry.path().filename().string());
  return names;
}

// Every regular file under `dir`, by path relative to it, with its bytes.
std::map<std::string, std::string> tree_of(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    out[std::filesystem::relative(entry.path(), dir).string()] = testing::read_file(entry.path());
  }
  return out;
}

// 7 putb requests of 1,000 records each to t/0 on one connection.
void produce_7000(const std::string& address) {
  RawConnection conn(address);
  for (int b = 0; b < 7; ++b) {
    BatchBuilder builder;
    for (int i = 0; i < 1000; ++i)
      builder.add({}, "record number " + std::to_string(b * 1000 + i), {}, 1'700'000'000'000);
    auto bytes = builder.finish();
    std::string body(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    conn.send("putb t 0 " + std::to_string(body.size()) + "\r\n" + body + "\r\n");
    REQUIRE(conn.line() == "ok " + std::to_string(b * 1000) + " " + std::to_string(b * 1000 + 999));
  }
}

}  // namespace

TEST_CASE("hardening: a flipped byte in @group-offsets loses one commit, reported, not all later") {
  TempDir dir;
  const std::string data = dir.path() + "/data";
  {
    Served served(data);
    REQUIRE(line_reply(served.line_address(), "put t 0 1\r\nx") == "ok 0");
    for (int i = 0; i < 200; ++i) {
      REQUIRE(line_reply(served.line_address(),
                         "commit g" + std::to_string(i) + " t 0 " + std::to_string(i)) == "ok");
    }
    REQUIRE(served.stop() == 0);
  }
  flip_byte(data + "/@group-offsets", 354);

  Served served(data);
  int lost = 0;
  for (int i = 0; i < 200; ++i) {
    const std::string reply =
        line_reply(served.line_address(), "committed g" + std::to_string(i) + " t 0");
    if (reply == "offset -1") {
      ++lost;
    } else {
      CHECK(reply == "offset " + std::to_string(i));
    }
  }
  CHECK(lost == 1);
  const std::string log = served.log();
  CHECK(log.find("error engine: " + data + "/@group-offsets: damaged at byte") !=
        std::string::npos);
  CHECK(log.find("kept the 199 sound records") != std::string::npos);
  const std::string stats = line_listing(served.line_address(), "stats");
  CHECK(stats.find("stat damage 1\n") != std::string::npos);
  CHECK(stats.find("stat damage.0 " + data + "/@group-offsets: damaged at byte") !=
        std::string::npos);
  REQUIRE(quarantine_entries(data).size() == 1);
  std::string verify;
  CHECK(run_verify(data, &verify) == 3);
  CHECK(verify.find("@quarantine/@group-offsets-") != std::string::npos);
}

TEST_CASE("hardening: a topic whose @topic is missing is moved aside whole, never deleted") {
  TempDir dir;
  const std::string data = dir.path() + "/data";
  {
    Served served(data, {"--segment-size", "64KiB"});
    produce_7000(served.line_address());
    REQUIRE(served.stop() == 0);
  }
  REQUIRE(std::filesystem::remove(data + "/t/@topic"));
  const auto before = tree_of(data + "/t");
  REQUIRE(before.size() > 6);  // several segments and their indexes

  Served served(data);
  const std::string log = served.log();
  CHECK(log.find("error engine: topic directory " + data + "/t has no @topic") !=
        std::string::npos);
  CHECK(log.find("moved it to " + data + "/@quarantine/t-") != std::string::npos);
  CHECK(log.find("nothing was deleted") != std::string::npos);
  CHECK(line_listing(served.line_address(), "topics") == "end\n");
  const std::string stats = line_listing(served.line_address(), "stats");
  CHECK(stats.find("stat damage 1\n") != std::string::npos);
  CHECK(stats.find("stat damage.0 " + data + "/t has no @topic") != std::string::npos);

  auto moved = quarantine_entries(data);
  REQUIRE(moved.size() == 1);
  CHECK(moved[0].starts_with("t-"));
  CHECK(tree_of(data + "/@quarantine/" + moved[0]) == before);  // all 7,000 records, byte for byte
  std::string verify;
  CHECK(run_verify(data, &verify) == 3);
  CHECK(verify.find("@quarantine/" + moved[0]) != std::string::npos);
}

}  // namespace ringlog::hardening
