// End to end through `ringlog serve`: the same commands with --server.
#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include "cli/cli_support.h"

namespace ringlog::cli::test {

TEST_CASE("cli: produce and consume through a server are byte-identical") {
  TempDir dir;
  ServerProcess server(dir.path(), "data", {"--segment-size", "1MiB"});
  std::string input;
  for (int i = 0; i < 20000; ++i)
    input += "through the server " + std::to_string(i) + "\n";
  RunResult produced =
      run_ringlog(dir.path(), {"produce", "t", "--server", server.address()}, input);
  REQUIRE_MESSAGE(produced.exit_code == 0, produced.err);
  CHECK(produced.err.find("produced 20000 messages") != std::string::npos);

  RunResult consumed = run_ringlog(dir.path(), {"consume", "t", "--server", server.address()});
  REQUIRE_MESSAGE(consumed.exit_code == 0, consumed.err);
  CHECK(consumed.out == input);

  SUBCASE("a group resumes across client processes") {
    std::vector<std::string> args{"consume", "t", "-g",       "g",
                                  "-n",      "2", "--server", server.address()};
    CHECK(run_ringlog(dir.path(), args).out == "through the server 0\nthrough the server 1\n");
    CHECK(run_ringlog(dir.path(), args).out == "through the server 2\nthrough the server 3\n");
  }
  SUBCASE("small fetches skip cut batches and fetch them again") {
    const std::string lines = input.substr(0, input.find('\n', 30000) + 1);
    RunResult small = run_ringlog(
        dir.path(), {"produce", "small", "--batch-size", "1KiB", "--server", server.address()},
        lines);
    REQUIRE(small.exit_code == 0);
    RunResult r = run_ringlog(
        dir.path(), {"consume", "small", "--max-bytes", "1500", "--server", server.address()});
    CHECK(r.exit_code == 0);
    CHECK(r.out == lines);
  }
  SUBCASE("--from @TIME finds the first batch at or after the time") {
    RunResult r = run_ringlog(
        dir.path(), {"consume", "t", "--from", "@0", "-n", "1", "--server", server.address()});
    CHECK(r.out == "through the server 0\n");
    RunResult future = run_ringlog(
        dir.path(), {"consume", "t", "--from", "@99999999999999", "--server", server.address()});
    CHECK(future.exit_code == 0);
    CHECK(future.out.empty());
  }
  SUBCASE("stats, topics and offsets answer in JSON") {
    Json stats =
        parse_json(run_ringlog(dir.path(), {"stats", "--json", "--server", server.address()}).out);
    CHECK(stats.type == Json::Type::kObject);
    CHECK(stats["topics"].number == 1);
    Json list = parse_json(
        run_ringlog(dir.path(), {"topics", "list", "--json", "--server", server.address()}).out);
    CHECK(list.array.at(0)["name"].string == "t");
    Json offsets = parse_json(
        run_ringlog(dir.path(), {"offsets", "t", "--json", "--server", server.address()}).out);
    CHECK(offsets["partitions"].array.at(0)["high_watermark"].number == 20000);
  }
  SUBCASE("the embedded form points at --server while the server holds the directory") {
    RunResult busy = run_ringlog(dir.path(), {"produce", "t", "--data", "data"}, "x\n");
    CHECK(busy.exit_code == 1);
    CHECK(busy.err.find("--server") != std::string::npos);
  }
  CHECK(server.stop() == 0);
  CHECK(server.log().find("stopped cleanly") != std::string::npos);

  // After a clean shutdown the data is all there for embedded mode, and verifies clean.
  RunResult embedded = run_ringlog(dir.path(), {"consume", "t", "--data", "data"});
  CHECK(embedded.out == input);
  CHECK(run_ringlog(dir.path(), {"verify", "data"}).exit_code == 0);
}

TEST_CASE("cli: consume --follow long-polls a server for new messages") {
  TempDir dir;
  ServerProcess server(dir.path(), "data");
  REQUIRE(run_ringlog(dir.path(), {"produce", "t", "--server", server.address()}, "first\n")
              .exit_code == 0);
  // --count ends the follow once the second message arrives; it is produced only afterwards.
  TempDir io;
  std::thread producer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    run_ringlog(dir.path(), {"produce", "t", "--server", server.address()}, "second\n");
  });
  RunResult followed = run_ringlog(
      dir.path(), {"consume", "t", "--follow", "--count", "2", "--server", server.address()});
  producer.join();
  CHECK(followed.exit_code == 0);
  CHECK(followed.out == "first\nsecond\n");
}

TEST_CASE("cli: serve reads its settings from a config file") {
  TempDir dir;
  write_file(dir / "ringlog.toml", "durability = \"interval=100\"\nsegment-size = \"64KiB\"\n");
  ServerProcess server(dir.path(), "data", {"--config", "ringlog.toml"});
  CHECK(server.log().find("durability interval=100, segments of 64.0 KiB") != std::string::npos);
}

}  // namespace ringlog::cli::test
