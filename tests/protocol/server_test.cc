#include "protocol/server.h"

#include <doctest/doctest.h>

#include <cerrno>
#include <chrono>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include <ringlog/batch.h>

#include "io/env.h"
#include "io/fault_env.h"
#include "protocol/client.h"
#include "server_fixture.h"

namespace ringlog::protocol {
namespace {

using testing::bytes_of;
using testing::ServerFixture;

std::string text_of(std::span<const std::byte> bytes) {
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

std::vector<std::byte> batch_of(std::initializer_list<std::string_view> values) {
  BatchBuilder builder;
  for (std::string_view v : values)
    builder.add(std::nullopt, bytes_of(v));
  const auto bytes = builder.finish();
  return {bytes.begin(), bytes.end()};
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

int code_of(const Error& error) {
  const auto status = server_status(error);
  return status ? to_int(*status) : 0;
}

TEST_CASE("server: every command answers as documented") {
  ServerFixture f;
  auto c = f.client();
  REQUIRE(c->create("orders", 2));
  auto first = c->put("orders", 1, bytes_of("hello"));
  REQUIRE(first);
  CHECK(*first == 0);
  auto second = c->put("orders", 1, bytes_of("world"), bytes_of("user42"));
  REQUIRE(second);
  CHECK(*second == 1);
  const auto batch = batch_of({"a", "b", "c"});
  auto range = c->putb("orders", 1, batch);
  REQUIRE(range);
  CHECK(range->first_offset == 2);
  CHECK(range->last_offset == 4);

  auto got = c->get("orders", 1, 0);
  REQUIRE(got);
  REQUIRE(got->messages.size() == 5);
  CHECK(got->messages[0].value == "hello");
  CHECK_FALSE(got->messages[0].key);
  CHECK(got->messages[1].key == "user42");
  CHECK(got->messages[4].value == "c");
  CHECK(got->next_offset == 5);

  auto fetched = c->fetch("orders", 1, 1, 1 << 20);
  REQUIRE(fetched);
  CHECK(fetched->high_watermark == 5);
  CHECK(fetched->batches.size() == 2);  // from the batch containing offset 1: [1], [2, 4]
  CHECK(fetched->next_offset == 5);

  auto offsets = c->offsets("orders", 1);
  REQUIRE(offsets);
  CHECK(offsets->log_start == 0);
  CHECK(offsets->high_watermark == 5);

  auto none = c->committed("billing", "orders", 1);
  REQUIRE(none);
  CHECK(*none == -1);
  REQUIRE(c->commit("billing", "orders", 1, 3));
  auto committed = c->committed("billing", "orders", 1);
  REQUIRE(committed);
  CHECK(*committed == 3);

  auto topics = c->topics();
  REQUIRE(topics);
  REQUIRE(topics->size() == 1);
  CHECK((*topics)[0].name == "orders");
  CHECK((*topics)[0].partitions == 2);

  auto described = c->describe("orders");
  REQUIRE(described);
  REQUIRE(described->size() == 2);
  CHECK((*described)[1].high_watermark == 5);

  auto stats = c->stats();
  REQUIRE(stats);
  bool saw_puts = false;
  for (const auto& [name, value] : *stats)
    saw_puts |= name == "cmd_put" && value == "2";
  CHECK(saw_puts);
  auto topic_stats = c->stats("orders");
  REQUIRE(topic_stats);
  CHECK_FALSE(topic_stats->empty());

  auto version = c->version();
  REQUIRE(version);
  CHECK(*version == "0.1.0");
  CHECK(c->ping());
  REQUIRE(c->delete_topic("orders"));
  auto after = c->topics();
  REQUIRE(after);
  CHECK(after->empty());
  CHECK(c->quit());
}

TEST_CASE("server: binary keys and values survive put and get") {
  ServerFixture f;
  auto c = f.client();
  const std::string key("k\0 \r\n\xff", 6);
  const std::string value("v\r\n\0\r\nend", 10);
  REQUIRE(c->put("bin", 0, bytes_of(value), bytes_of(key)));
  REQUIRE(c->put("bin", 0, bytes_of(""), bytes_of("")));
  auto got = c->get("bin", 0, 0);
  REQUIRE(got);
  REQUIRE(got->messages.size() == 2);
  CHECK(got->messages[0].key == key);
  CHECK(got->messages[0].value == value);
  CHECK(got->messages[1].key == "");
  CHECK(got->messages[1].value.empty());
}

TEST_CASE("server: a session typed line by line as with nc") {
  ServerFixture f;
  auto nc = f.raw();
  nc.send("ping\n");
  CHECK(nc.line() == "pong");
  nc.send("create orders 2\n");
  CHECK(nc.line() == "ok");
  nc.send("put orders 0 5\n");
  nc.send("hello\n");
  CHECK(nc.line() == "ok 0");
  nc.send("PUT orders 0 5 key=user42\n");
  nc.send("world\n");
  CHECK(nc.line() == "ok 1");
  nc.send("\n");  // Enter on an empty line: ignored
  nc.send("get orders 0 0\n");
  const std::string msg0 = nc.line();
  CHECK(msg0.starts_with("msg 0 "));
  CHECK(msg0.ends_with(" 5"));
  CHECK(nc.line() == "hello");
  const std::string msg1 = nc.line();
  CHECK(msg1.starts_with("msg 1 "));
  CHECK(msg1.ends_with(" 5 key=user42"));
  CHECK(nc.line() == "world");
  CHECK(nc.line() == "end 2");
  nc.send("offsets orders 0\n");
  CHECK(nc.line() == "offsets 0 2");
  nc.send("commit billing orders 0 2\n");
  CHECK(nc.line() == "ok");
  nc.send("committed billing orders 0\n");
  CHECK(nc.line() == "offset 2");
  nc.send("commit billing nosuch 0 2\n");
  CHECK(nc.line() == "error 404 topic 'nosuch' does not exist");
  nc.send("commit billing orders 9 2\n");
  CHECK(nc.line() == "error 404 topic 'orders' has no partition 9 (it has 2)");
  nc.send("get orders 0 7\n");
  const std::string out_of_range = nc.line();
  CHECK(out_of_range.starts_with("error 416 "));
  CHECK(out_of_range.find("[0, 2]") != std::string::npos);
  nc.send("get nosuch 0 0\n");
  CHECK(nc.line().starts_with("error 404 "));
  nc.send("frobnicate\n");
  CHECK(nc.line().starts_with("error 400 unknown command"));
  nc.send("version\n");
  CHECK(nc.line() == "version 0.1.0");
  nc.send("quit\n");
  CHECK(nc.closed_by_server());
}

TEST_CASE("server: a scripted session piped in at once is answered before the close") {
  ServerFixture f;
  auto nc = f.raw();
  nc.send("put t 0 5\r\nhello\r\nget t 0 0\r\nquit\r\nping\r\n");
  nc.shutdown_write();
  CHECK(nc.line() == "ok 0");
  CHECK(nc.line().starts_with("msg 0 "));
  CHECK(nc.line() == "hello");
  CHECK(nc.line() == "end 1");
  CHECK(nc.closed_by_server());  // nothing after quit: no pong
}

TEST_CASE("server: requests buffered before the client's EOF are all answered, in order") {
  ServerFixture f;
  auto nc = f.raw();
  nc.send("put t 0 1\nA\nget t 0 0\nping\n");
  nc.shutdown_write();
  CHECK(nc.line() == "ok 0");
  CHECK(nc.line().starts_with("msg 0 "));
  CHECK(nc.line() == "A");
  CHECK(nc.line() == "end 1");
  CHECK(nc.line() == "pong");
  CHECK(nc.closed_by_server());
}

TEST_CASE("server: every error code by name") {
  ServerOptions options;
  options.limits.max_message_bytes = 1024;
  SUBCASE("400 bad request") {
    ServerFixture f(options);
    auto c = f.client();
    REQUIRE(c->create("t", 1));
    const std::string junk = "not a batch at all, not at all";
    auto r = c->putb("t", 0, bytes_of(junk));
    REQUIRE_FALSE(r);
    CHECK(code_of(r.error()) == 400);
    CHECK(r.error().code() == Errc::kInvalidArgument);
    CHECK(c->ping());  // the connection is still usable
  }
  SUBCASE("404 unknown topic or partition") {
    ServerFixture f(options);
    auto c = f.client();
    auto r = c->get("nosuch", 0, 0);
    REQUIRE_FALSE(r);
    CHECK(code_of(r.error()) == 404);
    REQUIRE(c->create("t", 1));
    auto p = c->put("t", 5, bytes_of("x"));
    REQUIRE_FALSE(p);
    CHECK(code_of(p.error()) == 404);
  }
  SUBCASE("404 when auto-creation is off") {
    ServerOptions no_auto = options;
    no_auto.auto_create_topics = false;
    ServerFixture f(no_auto);
    auto c = f.client();
    auto r = c->put("fresh", 0, bytes_of("x"));
    REQUIRE_FALSE(r);
    CHECK(code_of(r.error()) == 404);
    REQUIRE(c->create("fresh", 1));
    CHECK(c->put("fresh", 0, bytes_of("x")));
  }
  SUBCASE("409 already exists") {
    ServerFixture f(options);
    auto c = f.client();
    REQUIRE(c->create("t", 1));
    auto r = c->create("t", 1);
    REQUIRE_FALSE(r);
    CHECK(code_of(r.error()) == 409);
  }
  SUBCASE("413 too large, and the body is never written") {
    ServerFixture f(options);
    auto c = f.client();
    auto r = c->put("t", 0, bytes_of(std::string(1025, 'x')));
    REQUIRE_FALSE(r);
    CHECK(code_of(r.error()) == 413);
    auto ok = c->put("t", 0, bytes_of(std::string(1024, 'y')));
    REQUIRE(ok);
    CHECK(*ok == 0);
  }
  SUBCASE("416 offset out of range names the valid range") {
    ServerFixture f(options);
    auto c = f.client();
    REQUIRE(c->put("t", 0, bytes_of("x")));
    auto r = c->fetch("t", 0, 9, 100);
    REQUIRE_FALSE(r);
    CHECK(code_of(r.error()) == 416);
    CHECK(r.error().message().find("[0, 1]") != std::string::npos);
  }
  SUBCASE("503 too many connections") {
    ServerOptions few = options;
    few.max_connections = 1;
    ServerFixture f(few);
    auto first = f.client();
    REQUIRE(first->ping());
    auto second = f.raw();
    CHECK(second.line() == "error 503 too many connections");
    CHECK(second.closed_by_server());
    CHECK(first->ping());
    CHECK(f.server().stats().connections_rejected == 1);
  }
}

TEST_CASE("server: engine failures map to 507 disk full and 500 internal") {
  auto base = make_default_env();
  FaultInjectionEnv fault(*base, 1);
  EngineOptions engine_options;
  engine_options.env = &fault;
  ServerFixture f({}, engine_options);
  auto c = f.client();
  REQUIRE(c->create("t", 1));
  REQUIRE(c->put("t", 0, bytes_of("before")));
  SUBCASE("507") {
    fault.fail_next_writes(ENOSPC);
    auto r = c->put("t", 0, bytes_of("x"));
    REQUIRE_FALSE(r);
    CHECK(code_of(r.error()) == 507);
    CHECK(r.error().code() == Errc::kNoSpace);
  }
  SUBCASE("500") {
    fault.fail_next_writes(EIO);
    auto r = c->put("t", 0, bytes_of("x"));
    REQUIRE_FALSE(r);
    CHECK(code_of(r.error()) == 500);
  }
  CHECK(c->ping());
}

TEST_CASE("server: pipelined requests are answered in order") {
  ServerFixture f;
  auto c = f.client();
  constexpr int kCount = 2000;
  for (int i = 0; i < kCount; ++i) {
    REQUIRE(c->send_put("pipe", 0, bytes_of("m" + std::to_string(i))));
    if (i % 100 == 0) REQUIRE(c->send_ping());
  }
  REQUIRE(c->flush());
  for (int i = 0; i < kCount; ++i) {
    CAPTURE(i);
    auto offset = c->read_put();
    REQUIRE(offset);
    CHECK(*offset == i);
    if (i % 100 == 0) REQUIRE(c->read_pong());
  }
  CHECK(c->outstanding() == 0);
  auto got = c->get("pipe", 0, 1234, 10);
  REQUIRE(got);
  REQUIRE(got->messages.size() == 1);
  CHECK(got->messages[0].value == "m1234");
}

TEST_CASE("server: a Producer batches messages into putb and acknowledges each batch in order") {
  ServerFixture f;
  auto c = f.client();
  REQUIRE(c->create("prod", 2));
  std::vector<Producer::Ack> acks;
  std::int32_t acked_records = 0;
  Producer producer(
      *c, {.batch_bytes = 4096, .linger_us = 1'000'000, .max_in_flight = 4},
      [&](const Producer::Ack& ack) {
        REQUIRE(ack.result);
        acked_records += ack.records;
        acks.push_back({ack.topic, ack.partition, ack.records, ack.first_added, *ack.result});
      });
  for (int i = 0; i < 1000; ++i) {
    REQUIRE(producer.add("prod", i % 2, bytes_of("message-" + std::to_string(i))));
  }
  REQUIRE(producer.flush());
  CHECK(acked_records == 1000);
  CHECK(acks.size() > 4);  // split by batch_bytes
  std::int64_t next[2] = {0, 0};
  for (const Producer::Ack& ack : acks) {
    CHECK(ack.result->first_offset == next[ack.partition]);
    CHECK(ack.result->last_offset == ack.result->first_offset + ack.records - 1);
    next[ack.partition] = ack.result->last_offset + 1;
  }
  CHECK(next[0] == 500);
  CHECK(next[1] == 500);
  auto got = c->get("prod", 1, 0, 100);
  REQUIRE(got);
  REQUIRE_FALSE(got->messages.empty());
  CHECK(got->messages[0].value == "message-1");
}

TEST_CASE("server: a Producer sends a lingering batch on poll") {
  ServerFixture f;
  auto c = f.client();
  int acks = 0;
  Producer producer(*c, {.batch_bytes = 1 << 20, .linger_us = 1000, .max_in_flight = 4},
                    [&](const Producer::Ack& ack) { acks += ack.result ? ack.records : 0; });
  REQUIRE(producer.add("linger", 0, bytes_of("x")));
  CHECK(acks == 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  REQUIRE(producer.poll());
  REQUIRE(producer.flush());
  CHECK(acks == 1);
  auto offsets = c->offsets("linger", 0);
  REQUIRE(offsets);
  CHECK(offsets->high_watermark == 1);
}

TEST_CASE("server: a long poll wakes when a producer appends") {
  ServerFixture f;
  auto consumer = f.client();
  auto producer = f.client();
  REQUIRE(producer->create("lp", 1));
  const auto start = std::chrono::steady_clock::now();
  REQUIRE(consumer->send_fetch("lp", 0, 0, 1 << 20, 10000));
  REQUIRE(consumer->flush());
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  REQUIRE(producer->put("lp", 0, bytes_of("wake up")));
  FetchReply reply;
  REQUIRE(consumer->read_fetch(0, reply));
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
  REQUIRE(reply.batches.size() == 1);
  CHECK(reply.high_watermark == 1);
}

TEST_CASE("server: a long poll answers empty at its timeout") {
  ServerFixture f;
  auto c = f.client();
  REQUIRE(c->create("quiet", 1));
  const auto start = std::chrono::steady_clock::now();
  auto fetched = c->fetch("quiet", 0, 0, 1024, 200);
  const auto waited = std::chrono::steady_clock::now() - start;
  REQUIRE(fetched);
  CHECK(fetched->bytes.empty());
  CHECK(fetched->high_watermark == 0);
  CHECK(waited >= std::chrono::milliseconds(190));
  CHECK(waited < std::chrono::seconds(3));
  auto got = c->get("quiet", 0, 0, 100, 100);
  REQUIRE(got);
  CHECK(got->messages.empty());
  CHECK(got->next_offset == 0);
}

TEST_CASE("server: a long get wakes on produce with the new record") {
  ServerFixture f;
  auto consumer = f.client();
  auto producer = f.client();
  REQUIRE(producer->put("g", 0, bytes_of("first")));
  REQUIRE(consumer->send_get("g", 0, 1, 1024, 10000));
  REQUIRE(consumer->flush());
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  REQUIRE(producer->put("g", 0, bytes_of("second")));
  auto got = consumer->read_get(1);
  REQUIRE(got);
  REQUIRE(got->messages.size() == 1);
  CHECK(got->messages[0].value == "second");
  CHECK(got->next_offset == 2);
}

TEST_CASE("server: fetch bytes are the bytes of the segment file") {
  ServerFixture f;
  auto c = f.client();
  REQUIRE(c->create("z", 1));
  for (int i = 0; i < 50; ++i) {
    REQUIRE(c->putb("z", 0, batch_of({"alpha-" + std::to_string(i), "beta"})));
  }
  auto fetched = c->fetch("z", 0, 0, 1 << 20);
  REQUIRE(fetched);
  CHECK(fetched->batches.size() == 50);
  const std::string segment = read_file(f.data_dir() + "/z/0/00000000000000000000.log");
  REQUIRE(segment.size() >= fetched->bytes.size());
  CHECK(text_of(fetched->bytes) == segment.substr(0, fetched->bytes.size()));
}

TEST_CASE("server: fetch cuts the tail at max_bytes but never the first batch") {
  ServerFixture f;
  auto c = f.client();
  for (int i = 0; i < 4; ++i)
    REQUIRE(c->putb("cut", 0, batch_of({std::string(300, 'v')})));
  auto small = c->fetch("cut", 0, 0, 10);
  REQUIRE(small);
  CHECK(small->batches.size() == 1);
  CHECK(small->next_offset == 1);
  auto middle = c->fetch("cut", 0, 1, 500);
  REQUIRE_MESSAGE(middle, (middle ? "" : middle.error().to_string()));
  CHECK(middle->batches.size() == 1);
  CHECK(middle->cut_tail_bytes > 0);
  CHECK(middle->next_offset == 2);
}

TEST_CASE("server: a consumer that hangs up in the middle of a zero-copy fetch harms no one") {
  ServerFixture f;
  auto c = f.client();
  for (int i = 0; i < 8; ++i)
    REQUIRE(c->putb("big", 0, batch_of({std::string(500'000, 'b')})));
  for (int round = 0; round < 5; ++round) {
    auto nc = f.raw();
    nc.send("fetch big 0 0 8000000\r\n");
    CHECK(nc.line().starts_with("batches "));
  }  // closed with megabytes unread
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::int64_t offset = 0;
  while (offset < 8) {  // one segment (1 MiB in these tests) per fetch
    auto fetched = c->fetch("big", 0, offset, 8'000'000);
    REQUIRE(fetched);
    REQUIRE_FALSE(fetched->batches.empty());
    offset = fetched->next_offset;
  }
  CHECK(c->ping());
}

TEST_CASE("server: zero copy off sends the same bytes") {
  ServerOptions options;
  options.zero_copy = false;
  ServerFixture f(options);
  auto c = f.client();
  REQUIRE(c->putb("nz", 0, batch_of({"one", "two"})));
  auto fetched = c->fetch("nz", 0, 0, 1 << 20);
  REQUIRE(fetched);
  CHECK(fetched->batches.size() == 1);
  const std::string segment = read_file(f.data_dir() + "/nz/0/00000000000000000000.log");
  CHECK(text_of(fetched->bytes) == segment.substr(0, fetched->bytes.size()));
}

TEST_CASE("server: lost framing gets an error and a close; other connections carry on") {
  ServerFixture f;
  auto other = f.client();
  REQUIRE(other->put("t", 0, bytes_of("x")));
  SUBCASE("unreadable length") {
    auto nc = f.raw();
    nc.send("put t 0 abc\r\n");
    CHECK(nc.line().starts_with("error 400 bad length"));
    CHECK(nc.closed_by_server());
  }
  SUBCASE("line too long") {
    auto nc = f.raw();
    nc.send(std::string(5000, 'a'));
    CHECK(nc.line().starts_with("error 413 line too long"));
    CHECK(nc.closed_by_server());
  }
  SUBCASE("body not followed by a line end") {
    auto nc = f.raw();
    nc.send("put t 0 3\r\nabcdef\r\n");
    CHECK(nc.line().starts_with("error 400"));
    CHECK(nc.closed_by_server());
  }
  auto still = other->put("t", 0, bytes_of("y"));
  REQUIRE(still);
  CHECK(*still == 1);
  auto got = other->get("t", 0, 0);
  REQUIRE(got);
  CHECK(got->messages.size() == 2);  // nothing partial was written
}

TEST_CASE("server: an idle connection is closed after the idle timeout") {
  ServerOptions options;
  options.idle_timeout_ms = 200;
  ServerFixture f(options);
  auto nc = f.raw();
  nc.send("ping\n");
  CHECK(nc.line() == "pong");
  CHECK(nc.closed_by_server());
  CHECK(f.server().stats().idle_closed == 1);
}

TEST_CASE("server: a connection that does not read its replies is not read either") {
  ServerOptions options;
  options.max_buffered_bytes = 64 << 10;
  ServerFixture f(options);
  auto c = f.client();
  REQUIRE(c->put("bp", 0, bytes_of(std::string(100'000, 'x'))));
  constexpr int kGets = 1000;  // 100 MB of replies if they were all produced
  for (int i = 0; i < kGets; ++i)
    REQUIRE(c->send_get("bp", 0, 0, 200'000));
  REQUIRE(c->flush());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const std::uint64_t served = f.server().stats().gets;
  CAPTURE(served);
  CHECK(served < kGets);  // stopped at the buffer limit (plus what the socket holds)
  for (int i = 0; i < kGets; ++i) {
    auto got = c->read_get(0);
    REQUIRE(got);
    REQUIRE(got->messages.size() == 1);
  }
  CHECK(f.server().stats().gets == kGets);
  CHECK(c->ping());
}

TEST_CASE("server: restart keeps everything acknowledged") {
  ServerFixture f;
  {
    auto c = f.client();
    for (int i = 0; i < 100; ++i)
      REQUIRE(c->send_put("keep", 0, bytes_of("v" + std::to_string(i))));
    REQUIRE(c->flush());
    for (int i = 0; i < 100; ++i)
      REQUIRE(c->read_put());
    REQUIRE(c->commit("g", "keep", 0, 42));
  }
  f.restart();
  auto c = f.client();
  auto offsets = c->offsets("keep", 0);
  REQUIRE(offsets);
  CHECK(offsets->high_watermark == 100);
  auto got = c->get("keep", 0, 0, 1 << 20);
  REQUIRE(got);
  REQUIRE(got->messages.size() == 100);
  CHECK(got->messages[99].value == "v99");
  auto committed = c->committed("g", "keep", 0);
  REQUIRE(committed);
  CHECK(*committed == 42);
}

TEST_CASE("server: stop finishes in-flight appends before it returns") {
  ServerFixture f;
  auto c = f.client();
  for (int i = 0; i < 500; ++i)
    REQUIRE(c->send_put("s", 0, bytes_of("x")));
  REQUIRE(c->flush());
  auto first = c->read_put();
  REQUIRE(first);
  f.stop();
  int acked = 1;
  while (c->read_put())
    ++acked;
  f.start();
  auto d = f.client();
  auto offsets = d->offsets("s", 0);
  REQUIRE(offsets);
  CHECK(offsets->high_watermark >= acked);
}

}  // namespace
}  // namespace ringlog::protocol
