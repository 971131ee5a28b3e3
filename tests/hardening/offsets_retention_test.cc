// Finding 9 (the offsets half): abandoned consumer groups were never freed. With
// `--offsets-retention`, a group that neither commits nor has members loses its offsets.
#include <doctest/doctest.h>

#include "tests/hardening/hardening_support.h"
#include "tests/support/process.h"

namespace ringlog::hardening {

TEST_CASE("hardening: an idle group's offsets expire after --offsets-retention, durably") {
  TempDir dir;
  const std::string data = dir.path() + "/data";
  {
    Served served(data, {"--offsets-retention", "1s"});
    REQUIRE(line_reply(served.line_address(), "put t 0 1\r\nx") == "ok 0");
    REQUIRE(line_reply(served.line_address(), "commit abandoned t 0 1") == "ok");
    REQUIRE(line_reply(served.line_address(), "committed abandoned t 0") == "offset 1");
    CHECK(testing::wait_until(std::chrono::seconds(15), [&] {
      return line_reply(served.line_address(), "committed abandoned t 0") == "offset -1";
    }));
    CHECK(line_listing(served.line_address(), "stats").find("stat offsets_expired 1\n") !=
          std::string::npos);
    REQUIRE(served.stop() == 0);
  }
  Served again(data);  // the default retention (7 days)
  CHECK(line_reply(again.line_address(), "committed abandoned t 0") == "offset -1");
}

TEST_CASE("hardening: --offsets-retention takes a duration") {
  TempDir dir;
  for (const char* bad : {"0", "soon", "-1d"}) {
    CAPTURE(bad);
    testing::RunResult r = testing::run_command({testing::ringlog_binary(), "serve", "--data",
                                                 dir.path() + "/data", "--offsets-retention", bad});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("--offsets-retention") != std::string::npos);
  }
}

}  // namespace ringlog::hardening
