// End to end: topics, offsets, stats and dump in embedded mode.
#include <doctest/doctest.h>

#include "cli/cli_support.h"

namespace ringlog::cli::test {

TEST_CASE("cli: topics create, list, describe and delete, with --json") {
  TempDir dir;
  RunResult created = run_ringlog(dir.path(), {"topics", "create", "orders", "-n", "3"});
  REQUIRE_MESSAGE(created.exit_code == 0, created.err);
  CHECK(created.out == "created topic orders with 3 partitions\n");
  CHECK(run_ringlog(dir.path(), {"topics", "create", "orders"}).exit_code == 1);
  CHECK(run_ringlog(dir.path(), {"topics", "create", "orders", "--if-not-exists"}).exit_code == 0);
  REQUIRE(run_ringlog(dir.path(), {"produce", "orders", "-p", "2"}, "x\ny\n").exit_code == 0);

  Json list = parse_json(run_ringlog(dir.path(), {"topics", "list", "--json"}).out);
  REQUIRE(list.array.size() == 1);
  CHECK(list.array[0]["name"].string == "orders");
  CHECK(list.array[0]["partitions"].number == 3);

  RunResult described = run_ringlog(dir.path(), {"topics", "describe", "orders", "--json"});
  REQUIRE_MESSAGE(described.exit_code == 0, described.err);
  Json d = parse_json(described.out);
  REQUIRE(d["partitions"].array.size() == 3);
  CHECK(d["partitions"].array[2]["high_watermark"].number == 2);
  CHECK(d["partitions"].array[0]["high_watermark"].number == 0);
  CHECK(d["durability"].string == "always");

  Json offsets = parse_json(run_ringlog(dir.path(), {"offsets", "orders", "--json"}).out);
  CHECK(offsets["partitions"].array.size() == 3);

  Json stats = parse_json(run_ringlog(dir.path(), {"stats", "--json"}).out);
  CHECK(stats["topics"].number == 1);
  CHECK(stats["partitions"].number == 3);

  CHECK(run_ringlog(dir.path(), {"topics", "delete", "orders"}).exit_code == 0);
  CHECK(run_ringlog(dir.path(), {"topics", "list"}).out.empty());
  RunResult gone = run_ringlog(dir.path(), {"topics", "describe", "orders"});
  CHECK(gone.exit_code == 1);
  CHECK(gone.err.find("orders") != std::string::npos);
}

TEST_CASE("cli: reading a directory that does not exist says so instead of creating it") {
  TempDir dir;
  RunResult r = run_ringlog(dir.path(), {"consume", "t"});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("no data directory './ringlog-data'") != std::string::npos);
  RunResult list = run_ringlog(dir.path(), {"topics", "list", "--data", "elsewhere"});
  CHECK(list.exit_code == 1);
  CHECK(list.err.find("'elsewhere'") != std::string::npos);
}

TEST_CASE("cli: dump prints a segment's batches and records") {
  TempDir dir;
  REQUIRE(run_ringlog(dir.path(), {"produce", "t", "--key", "id"}, "hello\nworld\n").exit_code ==
          0);
  std::string segment = "ringlog-data/t/0/00000000000000000000.log";
  RunResult text = run_ringlog(dir.path(), {"dump", segment});
  REQUIRE_MESSAGE(text.exit_code == 0, text.err);
  CHECK(text.out.find("batch at byte 0: offsets 0..1, 2 records") != std::string::npos);
  CHECK(text.out.find("offset 1") != std::string::npos);
  CHECK(text.out.find("key \"id\"  value \"world\"") != std::string::npos);

  RunResult json = run_ringlog(dir.path(), {"dump", segment, "--json"});
  auto lines = lines_of(json.out);
  REQUIRE(lines.size() == 2);  // one batch, then the end marker
  Json batch = parse_json(lines[0]);
  CHECK(batch["crc_ok"].boolean);
  REQUIRE(batch["records"].array.size() == 2);
  CHECK(batch["records"].array[0]["value"].string == "hello");
  CHECK(parse_json(lines[1])["end"].string == "zero_filled");
}

}  // namespace ringlog::cli::test
