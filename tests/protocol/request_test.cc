#include "protocol/request.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace ringlog::protocol {
namespace {

std::string text_of(std::span<const std::byte> bytes) {
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

// One parsed outcome, copied out of the parser so it outlives the buffer.
struct Seen {
  ParseOutcome outcome = ParseOutcome::kNeedMore;
  Command command = Command::kPing;
  std::string topic;
  std::string group;
  std::int32_t partition = 0;
  std::int64_t offset = 0;
  std::int32_t max_bytes = 0;
  std::uint32_t wait_ms = 0;
  std::int32_t partitions = 0;
  bool has_key = false;
  std::string key;
  std::string body;
  int code = 0;
  std::string message;
};

// A parser with domain verbs: send bytes, then collect every outcome until it needs more.
class ParserFixture {
 public:
  explicit ParserFixture(ParserLimits limits = {}) : parser_(limits) {}

  std::vector<Seen> send(std::string_view bytes) {
    std::vector<Seen> seen;
    while (!bytes.empty()) {
      const std::size_t taken = parser_.feed(bytes);
      bytes.remove_prefix(taken);
      drain(seen);
      if (taken == 0) break;
    }
    if (bytes.empty()) drain(seen);
    return seen;
  }

  // The single outcome expected from `bytes`.
  Seen one(std::string_view bytes) {
    auto seen = send(bytes);
    REQUIRE(seen.size() == 1);
    return seen.front();
  }

  RequestParser& parser() { return parser_; }

 private:
  void drain(std::vector<Seen>& seen) {
    while (!lost_) {
      Request r;
      const ParseOutcome outcome = parser_.next(r);
      if (outcome == ParseOutcome::kNeedMore) return;
      Seen s;
      s.outcome = outcome;
      if (outcome == ParseOutcome::kReady) {
        s.command = r.command;
        s.topic = r.topic;
        s.group = r.group;
        s.partition = r.partition;
        s.offset = r.offset;
        s.max_bytes = r.max_bytes;
        s.wait_ms = r.wait_ms;
        s.partitions = r.partitions;
        s.has_key = r.has_key;
        s.key = r.key;
        s.body = text_of(r.body);
      } else {
        s.code = to_int(parser_.error().code);
        s.message = parser_.error().message;
      }
      seen.push_back(s);
      lost_ = outcome == ParseOutcome::kFramingLost;
    }
  }

  RequestParser parser_;
  bool lost_ = false;
};

TEST_CASE("request: a put with CRLF framing yields its topic, partition and body") {
  ParserFixture p;
  const Seen s = p.one("put orders 3 5\r\nhello\r\n");
  CHECK(s.outcome == ParseOutcome::kReady);
  CHECK(s.command == Command::kPut);
  CHECK(s.topic == "orders");
  CHECK(s.partition == 3);
  CHECK(s.body == "hello");
  CHECK_FALSE(s.has_key);
  CHECK(p.parser().buffered_bytes() == 0);
}

TEST_CASE("request: bare newlines frame lines and bodies as CRLF does") {
  ParserFixture p;
  const auto seen = p.send("put t 0 5\nhello\nping\n");
  REQUIRE(seen.size() == 2);
  CHECK(seen[0].body == "hello");
  CHECK(seen[1].command == Command::kPing);
}

TEST_CASE("request: command names are case-insensitive, arguments are not") {
  ParserFixture p;
  const auto seen = p.send("PING\r\nPuT Orders 0 1\r\nx\r\nGeT Orders 0 0\r\n");
  REQUIRE(seen.size() == 3);
  CHECK(seen[0].command == Command::kPing);
  CHECK(seen[1].command == Command::kPut);
  CHECK(seen[1].topic == "Orders");
  CHECK(seen[2].command == Command::kGet);
}

TEST_CASE("request: a body may hold any bytes, line ends included") {
  ParserFixture p;
  const std::string body("a\r\nb\n\0c", 7);
  const Seen s = p.one("put t 0 7\r\n" + body + "\r\n");
  CHECK(s.outcome == ParseOutcome::kReady);
  CHECK(s.body == body);
}

TEST_CASE("request: an empty body is a valid put") {
  ParserFixture p;
  const Seen s = p.one("put t 0 0\r\n\r\n");
  CHECK(s.outcome == ParseOutcome::kReady);
  CHECK(s.body.empty());
}

TEST_CASE("request: bytes arriving one at a time need more until the request is whole") {
  const std::string wire = "put t 1 4 key=k\r\nabcd\r\n";
  ParserFixture p;
  for (std::size_t i = 0; i + 1 < wire.size(); ++i) {
    CAPTURE(i);
    CHECK(p.send(wire.substr(i, 1)).empty());
  }
  const auto seen = p.send(wire.substr(wire.size() - 1));
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].outcome == ParseOutcome::kReady);
  CHECK(seen[0].body == "abcd");
  CHECK(seen[0].key == "k");
}

TEST_CASE("request: empty and blank lines are ignored") {
  ParserFixture p;
  const auto seen = p.send("\r\n\n  \t \r\nping\r\n");
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].command == Command::kPing);
}

TEST_CASE("request: tokens may be separated by runs of spaces and tabs") {
  ParserFixture p;
  const Seen s = p.one("  get \t orders   2\t 10  \r\n");
  CHECK(s.outcome == ParseOutcome::kReady);
  CHECK(s.topic == "orders");
  CHECK(s.partition == 2);
  CHECK(s.offset == 10);
}

TEST_CASE("request: every command parses its arguments") {
  ParserFixture p;
  SUBCASE("putb") {
    const Seen s = p.one("putb t 1 3\r\nabc\r\n");
    CHECK(s.command == Command::kPutb);
    CHECK(s.body == "abc");
  }
  SUBCASE("get with defaults") {
    const Seen s = p.one("get t 1 5\r\n");
    CHECK(s.command == Command::kGet);
    CHECK(s.offset == 5);
    CHECK(s.max_bytes == kDefaultGetMaxBytes);
    CHECK(s.wait_ms == 0);
  }
  SUBCASE("get with max_bytes and wait_ms") {
    const Seen s = p.one("get t 1 5 100 250\r\n");
    CHECK(s.max_bytes == 100);
    CHECK(s.wait_ms == 250);
  }
  SUBCASE("fetch") {
    const Seen s = p.one("fetch t 2 9223372036854775807 1048576 10\r\n");
    CHECK(s.command == Command::kFetch);
    CHECK(s.offset == INT64_MAX);
    CHECK(s.max_bytes == 1048576);
    CHECK(s.wait_ms == 10);
  }
  SUBCASE("offsets") {
    const Seen s = p.one("offsets t 2147483647\r\n");
    CHECK(s.command == Command::kOffsets);
    CHECK(s.partition == INT32_MAX);
  }
  SUBCASE("commit") {
    const Seen s = p.one("commit g1 t 0 42\r\n");
    CHECK(s.command == Command::kCommit);
    CHECK(s.group == "g1");
    CHECK(s.topic == "t");
    CHECK(s.offset == 42);
  }
  SUBCASE("committed") {
    const Seen s = p.one("committed g1 t 4\r\n");
    CHECK(s.command == Command::kCommitted);
    CHECK(s.group == "g1");
    CHECK(s.partition == 4);
  }
  SUBCASE("create") {
    const Seen s = p.one("create t 8\r\n");
    CHECK(s.command == Command::kCreate);
    CHECK(s.partitions == 8);
  }
  SUBCASE("topics, describe, delete, stats, version, ping, quit") {
    const auto seen = p.send(
        "topics\r\ndescribe t\r\ndelete t\r\nstats\r\nstats t\r\nversion\r\nping\r\nquit\r\n");
    REQUIRE(seen.size() == 8);
    CHECK(seen[0].command == Command::kTopics);
    CHECK(seen[1].command == Command::kDescribe);
    CHECK(seen[1].topic == "t");
    CHECK(seen[2].command == Command::kDelete);
    CHECK(seen[3].command == Command::kStats);
    CHECK(seen[3].topic.empty());
    CHECK(seen[4].topic == "t");
    CHECK(seen[5].command == Command::kVersion);
    CHECK(seen[6].command == Command::kPing);
    CHECK(seen[7].command == Command::kQuit);
  }
}

TEST_CASE("request: command_name and parse_outcome_name give the documented words") {
  CHECK(command_name(Command::kPutb) == "putb");
  CHECK(command_name(Command::kCommitted) == "committed");
  CHECK(parse_outcome_name(ParseOutcome::kNeedMore) == "need_more");
  CHECK(parse_outcome_name(ParseOutcome::kReady) == "ready");
  CHECK(parse_outcome_name(ParseOutcome::kBadRequest) == "bad_request");
  CHECK(parse_outcome_name(ParseOutcome::kFramingLost) == "framing_lost");
}

TEST_CASE("request: keys come as key= text or keyhex= bytes") {
  ParserFixture p;
  SUBCASE("plain") {
    const Seen s = p.one("put t 0 1 key=user42\r\nx\r\n");
    CHECK(s.has_key);
    CHECK(s.key == "user42");
  }
  SUBCASE("empty") {
    const Seen s = p.one("put t 0 1 key=\r\nx\r\n");
    CHECK(s.has_key);
    CHECK(s.key.empty());
  }
  SUBCASE("hex") {
    const Seen s = p.one("put t 0 1 keyhex=00ff0d0a\r\nx\r\n");
    CHECK(s.has_key);
    CHECK(s.key == std::string_view("\x00\xff\r\n", 4));
  }
  SUBCASE("malformed hex is a bad request and its body is skipped") {
    const auto seen = p.send("put t 0 1 keyhex=0g\r\nx\r\nping\r\n");
    REQUIRE(seen.size() == 2);
    CHECK(seen[0].outcome == ParseOutcome::kBadRequest);
    CHECK(seen[0].code == 400);
    CHECK(seen[1].command == Command::kPing);
  }
  SUBCASE("an unknown fifth token is a bad request") {
    const Seen s = p.send("put t 0 1 flag=1\r\nx\r\n").front();
    CHECK(s.outcome == ParseOutcome::kBadRequest);
  }
}

TEST_CASE("request: bad requests keep framing and the next request is parsed") {
  ParserFixture p;
  struct Case {
    std::string_view line;
    std::string_view why;
  };
  const Case cases[] = {
      {"frobnicate\r\n", "unknown command"},
      {"get t 0\r\n", "too few arguments"},
      {"ping extra\r\n", "too many arguments"},
      {"get t 0 0 1 2 3 4 5 6\r\n", "more tokens than any command takes"},
      {"get t x 0\r\n", "non-numeric partition"},
      {"get t -1 0\r\n", "negative partition"},
      {"get t 2147483648 0\r\n", "partition above int32"},
      {"get t 0 9223372036854775808\r\n", "offset above int64"},
      {"get t 0 -5\r\n", "negative offset"},
      {"get t 0 0 1x\r\n", "non-numeric max_bytes"},
      {"get t 0 0 1 99999999999999999999999\r\n", "wait_ms overflow"},
      {"fetch t 0 0\r\n", "fetch without max_bytes"},
      {"get a/b 0 0\r\n", "bad topic name"},
      {"get .. 0 0\r\n", "topic '..'"},
      {"commit caf\xc3\xa9 t 0 1\r\n", "bad group name (not ASCII)"},
      {"create t 0\r\n", "zero partitions"},
      {"create t 100001\r\n", "too many partitions"},
      {"stats a:b\r\n", "bad stats topic"},
      {"put t/x 0 3\r\nabc\r\n", "bad topic name on a put (body skipped)"},
      {"put t 0 3 key=a b\r\nabc\r\n", "too many tokens on a put (body skipped)"},
      {"putb t zz 3\r\nabc\r\n", "bad partition on a putb (body skipped)"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.why);
    const auto seen = p.send(std::string(c.line) + "ping\r\n");
    REQUIRE(seen.size() == 2);
    CHECK(seen[0].outcome == ParseOutcome::kBadRequest);
    CHECK(seen[0].code == 400);
    CHECK_FALSE(seen[0].message.empty());
    CHECK(seen[1].outcome == ParseOutcome::kReady);
    CHECK(seen[1].command == Command::kPing);
  }
}

TEST_CASE("request: error messages name the offending token, shortened") {
  ParserFixture p;
  const Seen s = p.one("get " + std::string(300, 'x') + " 0 0\r\n");
  CHECK(s.outcome == ParseOutcome::kBadRequest);
  CHECK(s.message.size() < 120);
  CHECK(s.message.find("...") != std::string::npos);
}

TEST_CASE("request: wait_ms above the limit is lowered to it") {
  ParserLimits limits;
  limits.max_wait_ms = 1000;
  ParserFixture p(limits);
  CHECK(p.one("fetch t 0 0 10 5000\r\n").wait_ms == 1000);
  CHECK(p.one("fetch t 0 0 10 999\r\n").wait_ms == 999);
}

TEST_CASE("request: a put above the message limit gets 413 and its body is skipped") {
  ParserLimits limits;
  limits.max_message_bytes = 10;
  ParserFixture p(limits);
  SUBCASE("all at once") {
    const auto seen = p.send("put t 0 11\r\n01234567890\r\nping\r\n");
    REQUIRE(seen.size() == 2);
    CHECK(seen[0].outcome == ParseOutcome::kBadRequest);
    CHECK(seen[0].code == 413);
    CHECK(seen[1].command == Command::kPing);
  }
  SUBCASE("the error comes before the body, which is dropped as it arrives") {
    const auto first = p.send("put t 0 11\r\n0123");
    REQUIRE(first.size() == 1);
    CHECK(first[0].code == 413);
    CHECK(p.send("4567").empty());
    CHECK(p.parser().buffered_bytes() == 0);
    const auto rest = p.send("890\r\nping\r\n");
    REQUIRE(rest.size() == 1);
    CHECK(rest[0].command == Command::kPing);
  }
  SUBCASE("exactly at the limit is accepted") {
    CHECK(p.one("put t 0 10\r\n0123456789\r\n").outcome == ParseOutcome::kReady);
  }
}

TEST_CASE("request: a putb above the batch limit gets 413") {
  ParserLimits limits;
  limits.max_message_bytes = 4;
  limits.max_batch_bytes = 8;
  ParserFixture p(limits);
  CHECK(p.one("putb t 0 8\r\n01234567\r\n").outcome == ParseOutcome::kReady);
  const auto seen = p.send("putb t 0 9\r\n012345678\r\nping\r\n");
  REQUIRE(seen.size() == 2);
  CHECK(seen[0].code == 413);
  CHECK(seen[1].command == Command::kPing);
}

TEST_CASE("request: a huge body skip stays in bounded memory") {
  ParserLimits limits;
  limits.max_message_bytes = 1024;
  ParserFixture p(limits);
  REQUIRE(p.send("put t 0 10000000\r\n").size() == 1);
  const std::string chunk(64 * 1024, 'z');
  for (int i = 0; i < 152; ++i)
    p.send(chunk);  // 9961472 bytes
  CHECK(p.parser().capacity_bytes() <= 64 * 1024);
  const auto seen = p.send(std::string(10000000 - 152 * chunk.size(), 'z') + "\r\nping\r\n");
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].command == Command::kPing);
}

TEST_CASE("request: framing is lost when the length cannot be read, and stays lost") {
  ParserFixture p;
  struct Case {
    std::string_view bytes;
    int code;
    std::string_view why;
  };
  const Case cases[] = {
      {"put t 0 abc\r\n", 400, "non-numeric length"},
      {"put t 0\r\n", 400, "missing length"},
      {"put t 0 -1\r\n", 400, "negative length"},
      {"putb t 0 99999999999999999999999\r\n", 400, "overflowing length"},
      {"put t 0 3\r\nabcX", 400, "body not followed by a line end"},
      {"put t 0 3\r\nabc\rX", 400, "body followed by CR and not LF"},
      {"put t 0 999999999\r\n", 413, "too large to skip"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.why);
    ParserFixture fresh;
    const auto seen = fresh.send(c.bytes);
    REQUIRE(seen.size() == 1);
    CHECK(seen[0].outcome == ParseOutcome::kFramingLost);
    CHECK(seen[0].code == c.code);
    Request r;
    CHECK(fresh.parser().next(r) == ParseOutcome::kFramingLost);
    CHECK(fresh.parser().prepare().empty());
    CHECK(fresh.parser().feed(std::string_view("ping\r\n")) == 0);
  }
}

TEST_CASE("request: a skipped body must still end with a line end") {
  ParserLimits limits;
  limits.max_message_bytes = 2;
  ParserFixture p(limits);
  const auto seen = p.send("put t 0 3\r\nabcX");
  REQUIRE(seen.size() == 2);
  CHECK(seen[0].outcome == ParseOutcome::kBadRequest);
  CHECK(seen[1].outcome == ParseOutcome::kFramingLost);
}

TEST_CASE("request: a line longer than the limit loses framing with 413") {
  ParserLimits limits;
  limits.max_line_bytes = 64;
  SUBCASE("no newline within the limit") {
    ParserFixture p(limits);
    const auto seen = p.send(std::string(100, 'a'));
    REQUIRE(seen.size() == 1);
    CHECK(seen[0].outcome == ParseOutcome::kFramingLost);
    CHECK(seen[0].code == 413);
  }
  SUBCASE("a newline just past the limit") {
    ParserFixture p(limits);
    const auto seen = p.send("get " + std::string(60, 't') + " 0 0\r\n");
    REQUIRE(seen.size() == 1);
    CHECK(seen[0].outcome == ParseOutcome::kFramingLost);
  }
  SUBCASE("a line of exactly the limit is accepted") {
    ParserFixture p(limits);
    const std::string line = "get " + std::string(54, 't') + " 0 0\r\n";
    REQUIRE(line.size() == 64);
    CHECK(p.one(line).outcome == ParseOutcome::kReady);
  }
  SUBCASE("a partial line below the limit just needs more") {
    ParserFixture p(limits);
    CHECK(p.send(std::string(63, 'a')).empty());
  }
}

TEST_CASE("request: pipelined requests come out in order") {
  ParserFixture p;
  std::string wire;
  for (int i = 0; i < 1000; ++i) {
    const std::string body = "m" + std::to_string(i);
    wire += "put t 0 " + std::to_string(body.size()) + "\r\n" + body + "\r\n";
    wire += "get t 0 " + std::to_string(i) + "\n";
  }
  const auto seen = p.send(wire);
  REQUIRE(seen.size() == 2000);
  for (int i = 0; i < 1000; ++i) {
    CAPTURE(i);
    CHECK(seen[2 * i].body == "m" + std::to_string(i));
    CHECK(seen[2 * i + 1].offset == i);
  }
}

TEST_CASE("request: a stream split at random points parses the same") {
  const std::uint64_t seed = std::random_device{}();
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  std::string wire;
  std::vector<std::string> bodies;
  for (int i = 0; i < 200; ++i) {
    std::string body(rng() % 3000, static_cast<char>('a' + i % 26));
    wire += "put t 0 " + std::to_string(body.size()) + (i % 2 ? "\r\n" : "\n") + body + "\r\n";
    wire += "frob\r\n";
    bodies.push_back(std::move(body));
  }
  ParserFixture p;
  std::vector<Seen> seen;
  std::size_t at = 0;
  while (at < wire.size()) {
    const std::size_t n = std::min<std::size_t>(1 + rng() % 5000, wire.size() - at);
    auto more = p.send(std::string_view(wire).substr(at, n));
    seen.insert(seen.end(), more.begin(), more.end());
    at += n;
  }
  REQUIRE(seen.size() == 400);
  for (std::size_t i = 0; i < bodies.size(); ++i) {
    CAPTURE(i);
    CHECK(seen[2 * i].outcome == ParseOutcome::kReady);
    CHECK(seen[2 * i].body == bodies[i]);
    CHECK(seen[2 * i + 1].outcome == ParseOutcome::kBadRequest);
  }
}

TEST_CASE("request: the buffer grows for a large body and shrinks back after it") {
  ParserFixture p;
  const std::size_t initial = p.parser().capacity_bytes();
  const std::string body(900 * 1024, 'b');
  const Seen s = p.one("put t 0 " + std::to_string(body.size()) + "\r\n" + body + "\r\n");
  CHECK(s.body == body);
  CHECK(p.parser().capacity_bytes() > initial);
  p.parser().prepare();
  CHECK(p.parser().capacity_bytes() == initial);
}

TEST_CASE("request: views stay valid across next() until the buffer is prepared again") {
  RequestParser parser;
  parser.feed(std::string_view("put a 0 2\r\nxy\r\nput b 1 2\r\nzw\r\n"));
  Request first;
  Request second;
  REQUIRE(parser.next(first) == ParseOutcome::kReady);
  REQUIRE(parser.next(second) == ParseOutcome::kReady);
  CHECK(first.topic == "a");
  CHECK(text_of(first.body) == "xy");
  CHECK(second.topic == "b");
  CHECK(text_of(second.body) == "zw");
}

TEST_CASE("request: feed stops when the buffer is full of unparsed requests") {
  ParserLimits limits;
  limits.initial_buffer_bytes = 4096;
  limits.max_line_bytes = 4096;
  RequestParser parser(limits);
  std::string wire;
  while (wire.size() < 10000)
    wire += "ping\r\n";
  const std::size_t taken = parser.feed(wire);
  CHECK(taken == 4096);
  Request r;
  std::size_t pings = 0;
  while (parser.next(r) == ParseOutcome::kReady)
    ++pings;
  CHECK(pings == 4096 / 6);
  CHECK(parser.feed(std::string_view(wire).substr(taken)) > 0);
}

}  // namespace
}  // namespace ringlog::protocol
