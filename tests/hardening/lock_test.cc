// Finding 7: deleting `@lock` defeated the single-owner lock; a second server started on the same
// directory, both handed out the same offsets and overwrote acknowledged records.
#include <doctest/doctest.h>

#include <filesystem>

#include "tests/hardening/hardening_support.h"
#include "tests/support/process.h"

namespace ringlog::hardening {

namespace {

std::string put(const std::string& address, const std::string& value) {
  return line_reply(address, "put t 0 " + std::to_string(value.size()) + "\r\n" + value);
}

}  // namespace

TEST_CASE("hardening: a second ringlog serve on a directory whose @lock was removed is refused") {
  TempDir dir;
  const std::string data = dir.path() + "/data";
  Served first(data);
  for (int i = 0; i < 20; ++i)
    REQUIRE(put(first.line_address(), "before-" + std::to_string(i)) == "ok " + std::to_string(i));
  REQUIRE(std::filesystem::remove(data + "/@lock"));

  testing::RunResult second =
      testing::run_command({testing::ringlog_binary(), "serve", "--data", data, "--listen",
                            "127.0.0.1:0", "--kafka-listen", "off"},
                           {}, {}, std::chrono::seconds(30));
  CHECK(second.exit_code == 1);
  CHECK(second.err.find("is in use by another ringlog process") != std::string::npos);
  CHECK(second.err.find("listening on") == std::string::npos);

  // The first server kept serving, with its own offsets, and put its lock file back.
  REQUIRE(first.running());
  for (int i = 20; i < 40; ++i)
    REQUIRE(put(first.line_address(), "after-" + std::to_string(i)) == "ok " + std::to_string(i));
  CHECK(testing::wait_until(std::chrono::seconds(10),
                            [&] { return std::filesystem::exists(data + "/@lock"); }));
  CHECK(first.log().find("was removed or replaced") != std::string::npos);
  REQUIRE(first.stop() == 0);

  Served again(data);
  CHECK(line_reply(again.line_address(), "offsets t 0") == "offsets 0 40");
  // Every acknowledged record is there, none overwritten.
  std::vector<std::string> lines =
      testing::lines_of(line_listing(again.line_address(), "get t 0 0 1000000"));
  std::vector<std::string> values;
  for (std::size_t i = 0; i + 1 < lines.size(); ++i)
    if (lines[i].starts_with("msg ")) values.push_back(lines[++i]);
  REQUIRE(values.size() == 40);
  for (int i = 0; i < 40; ++i)
    CHECK(values[i] == (i < 20 ? "before-" : "after-") + std::to_string(i));
}

}  // namespace ringlog::hardening
