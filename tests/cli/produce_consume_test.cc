// End to end: `ringlog produce` and `ringlog consume` in embedded mode (no server).
#include <doctest/doctest.h>

#include <string>

#include "cli/cli_support.h"

namespace ringlog::cli::test {

namespace {

std::string numbered_lines(int count) {
  std::string text;
  for (int i = 1; i <= count; ++i)
    text += "line " + std::to_string(i) + " of the test input\n";
  return text;
}

}  // namespace

TEST_CASE("cli: a text file produced line by line consumes back byte-identical") {
  TempDir dir;
  std::string input = numbered_lines(20000) + "\n" + "last line after an empty one\n";
  write_file(dir / "input.txt", input);
  RunResult produced = run_ringlog(dir.path(), {"produce", "events", "--file", "input.txt"});
  REQUIRE_MESSAGE(produced.exit_code == 0, produced.err);
  CHECK(produced.err.find("produced 20002 messages") != std::string::npos);
  CHECK(produced.err.find("offsets 0..20001") != std::string::npos);

  RunResult consumed = run_ringlog(dir.path(), {"consume", "events", "--from", "earliest"});
  REQUIRE_MESSAGE(consumed.exit_code == 0, consumed.err);
  CHECK(consumed.out == input);

  SUBCASE("standard input works the same and appends after the first run") {
    RunResult again = run_ringlog(dir.path(), {"produce", "events"}, "a\nb\n");
    REQUIRE_MESSAGE(again.exit_code == 0, again.err);
    CHECK(again.err.find("offsets 20002..20003") != std::string::npos);
    RunResult tail = run_ringlog(dir.path(), {"consume", "events", "--from", "20002"});
    CHECK(tail.out == "a\nb\n");
  }
}

TEST_CASE("cli: small fetches skip cut batches and fetch them again") {
  TempDir dir;
  std::string input = numbered_lines(3000);
  REQUIRE(run_ringlog(dir.path(), {"produce", "t", "--batch-size", "1KiB"}, input).exit_code == 0);
  // 1500-byte fetches end inside the second batch of nearly every reply.
  RunResult r = run_ringlog(dir.path(), {"consume", "t", "--max-bytes", "1500"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  CHECK(r.out == input);
  CHECK(
      run_ringlog(dir.path(), {"consume", "t", "--max-bytes", "1500", "--from", "1234", "-n", "1"})
          .out == "line 1235 of the test input\n");
}

TEST_CASE("cli: a last line without a newline is still a message") {
  TempDir dir;
  REQUIRE(run_ringlog(dir.path(), {"produce", "t"}, "x\ny").exit_code == 0);
  CHECK(run_ringlog(dir.path(), {"consume", "t"}).out == "x\ny\n");
}

TEST_CASE("cli: consume --count, --from OFFSET and --from latest pick the records") {
  TempDir dir;
  REQUIRE(run_ringlog(dir.path(), {"produce", "t"}, "0\n1\n2\n3\n4\n5\n").exit_code == 0);
  CHECK(run_ringlog(dir.path(), {"consume", "t", "--from", "2", "--count", "3"}).out ==
        "2\n3\n4\n");
  CHECK(run_ringlog(dir.path(), {"consume", "t", "--from", "latest"}).out.empty());
  CHECK(run_ringlog(dir.path(), {"consume", "t", "--from", "@0", "-n", "1"}).out == "0\n");
  RunResult beyond = run_ringlog(dir.path(), {"consume", "t", "--from", "99"});
  CHECK(beyond.exit_code == 1);
  CHECK(beyond.err.find("out of range") != std::string::npos);
}

TEST_CASE("cli: consume --format json prints one object per record with escaped values") {
  TempDir dir;
  using namespace std::string_literals;
  std::string input = "k1=plain\0k2=tab\there \"quoted\"\0k3=\xff\xfe binary\0noval"s;
  RunResult produced =
      run_ringlog(dir.path(), {"produce", "t", "--null", "--key-separator", "="}, input);
  // The last message has no separator: refused, and the batches before it are not appended.
  CHECK(produced.exit_code == 1);
  CHECK(produced.err.find("message 4 has no key separator '='") != std::string::npos);

  input.resize(input.size() - "\0noval"s.size());
  produced = run_ringlog(dir.path(), {"produce", "t", "--null", "--key-separator", "="}, input);
  REQUIRE_MESSAGE(produced.exit_code == 0, produced.err);

  RunResult consumed = run_ringlog(dir.path(), {"consume", "t", "--format", "json"});
  REQUIRE_MESSAGE(consumed.exit_code == 0, consumed.err);
  auto lines = lines_of(consumed.out);
  REQUIRE(lines.size() == 3);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    CAPTURE(lines[i]);
    Json record = parse_json(lines[i]);
    REQUIRE(record.type == Json::Type::kObject);
    CHECK(record["offset"].number == static_cast<double>(i));
    CHECK(record["timestamp"].number > 1.6e12);
    CHECK(record["partition"].number == 0);
    CHECK(record["key"].string == "k" + std::to_string(i + 1));
  }
  CHECK(parse_json(lines[0])["value"].string == "plain");
  CHECK(parse_json(lines[1])["value"].string == "tab\there \"quoted\"");
  // Not UTF-8: the value comes as base64 under another name.
  Json binary = parse_json(lines[2]);
  CHECK_FALSE(binary.has("value"));
  CHECK(binary["value_base64"].string == "//4gYmluYXJ5");
}

TEST_CASE("cli: --null and --format raw carry binary values unchanged") {
  TempDir dir;
  std::string value = std::string("a\nb\r\n\x01\x7f\xff", 8);
  REQUIRE(run_ringlog(dir.path(), {"produce", "bin", "-0"}, value + std::string(1, '\0') + value)
              .exit_code == 0);
  RunResult raw = run_ringlog(dir.path(), {"consume", "bin", "--format", "raw"});
  CHECK(raw.out == value + value);
}

TEST_CASE("cli: --group resumes from its committed offset after a restart") {
  TempDir dir;
  REQUIRE(run_ringlog(dir.path(), {"produce", "t"}, "1\n2\n3\n4\n5\n6\n7\n").exit_code == 0);
  CHECK(run_ringlog(dir.path(), {"consume", "t", "--group", "g", "--count", "3"}).out ==
        "1\n2\n3\n");
  // Each command is a new process that reopens the directory: the commit survived.
  CHECK(run_ringlog(dir.path(), {"consume", "t", "--group", "g", "--count", "2"}).out == "4\n5\n");
  CHECK(run_ringlog(dir.path(), {"consume", "t", "-g", "g"}).out == "6\n7\n");
  CHECK(run_ringlog(dir.path(), {"consume", "t", "-g", "g"}).out.empty());
  // Another group starts from --from.
  CHECK(run_ringlog(dir.path(), {"consume", "t", "-g", "other", "--from", "5"}).out == "6\n7\n");

  RunResult offsets = run_ringlog(dir.path(), {"offsets", "t", "--group", "g", "--json"});
  REQUIRE_MESSAGE(offsets.exit_code == 0, offsets.err);
  Json o = parse_json(offsets.out);
  REQUIRE(o["partitions"].array.size() == 1);
  CHECK(o["partitions"].array[0]["committed"].number == 7);
  CHECK(o["partitions"].array[0]["lag"].number == 0);
  CHECK(o["partitions"].array[0]["high_watermark"].number == 7);
}

TEST_CASE("cli: produce --json reports the offsets it got") {
  TempDir dir;
  RunResult r = run_ringlog(dir.path(), {"produce", "t", "--json", "--key", "k"}, "a\nb\nc\n");
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  Json summary = parse_json(r.out);
  CHECK(summary["topic"].string == "t");
  CHECK(summary["count"].number == 3);
  CHECK(summary["first_offset"].number == 0);
  CHECK(summary["last_offset"].number == 2);
  auto records = lines_of(run_ringlog(dir.path(), {"consume", "t", "--json"}).out);
  REQUIRE(records.size() == 3);
  CHECK(parse_json(records[2])["key"].string == "k");
}

}  // namespace ringlog::cli::test
