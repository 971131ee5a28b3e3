// The Kafka listener of the real server (protocol::Server), over sockets: bad frames close only
// their own connection, acks=0 and reply order, long polls woken by line-protocol appends, and
// both protocols reading each other's records.
#include <doctest/doctest.h>

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <vector>

#include "io/socket.h"
#include "kafka_server_support.h"

namespace ringlog::kafka {
namespace {

using protocol::testing::ServerFixture;
using test::eventually;
using test::KafkaConnection;

class KafkaServerFixture : public ServerFixture {
 public:
  explicit KafkaServerFixture(protocol::ServerOptions options = test::kafka_server_options())
      : ServerFixture(std::move(options), test::fast_engine_options()) {}

  KafkaConnection kafka() { return KafkaConnection(server().kafka_address()); }

  void create(const std::string& topic, std::int32_t partitions = 1) {
    TopicConfig config;
    config.partitions = partitions;
    REQUIRE(engine().create_topic(topic, config).has_value());
  }

  std::int64_t high_watermark(const std::string& topic) {
    auto offsets = engine().offsets(topic, 0);
    return offsets ? offsets->second : -1;
  }
};

// A server whose Kafka frames may be at most 64 KiB.
class SmallFrameFixture : public KafkaServerFixture {
 public:
  static constexpr std::size_t kMaxFrame = 64 << 10;
  SmallFrameFixture() : KafkaServerFixture(options()) {}

 private:
  static protocol::ServerOptions options() {
    protocol::ServerOptions o = test::kafka_server_options();
    o.kafka_max_frame_bytes = kMaxFrame;
    return o;
  }
};

Bytes size_prefix(std::int32_t size) {
  Writer w;
  w.i32(size);
  return std::move(w).take().bytes;
}

Bytes concat(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

Bytes request_frame(std::int16_t api_key, std::int16_t version, std::int32_t correlation,
                    const Bytes& body = {}) {
  return encode_request_frame({api_key, version, correlation, "bad"}, body);
}

TEST_CASE_FIXTURE(SmallFrameFixture, "kafka server: a bad frame closes only its own connection") {
  create("t");
  KafkaConnection bystander = kafka();
  KafkaConnection victim = kafka();
  auto line = client();
  // The victim's valid request before the bad frame is still answered, then the server closes.
  const Bytes good = request_frame(18, 0, 1);
  Bytes bad;
  SUBCASE("negative size") {
    bad = concat(size_prefix(-5), test::bytes_of({1, 2, 3, 4, 5}));
  }
  SUBCASE("size above the maximum") {
    bad = size_prefix(static_cast<std::int32_t>(kMaxFrame) + 1);
  }
  SUBCASE("truncated request header") {
    bad = concat(size_prefix(3), test::bytes_of({0, 3, 0}));
  }
  SUBCASE("unknown api key") {
    bad = request_frame(999, 0, 2);
  }
  SUBCASE("unsupported version") {
    bad = request_frame(static_cast<std::int16_t>(ApiKey::kProduce), 99, 2);
  }
  SUBCASE("malformed body") {
    bad = request_frame(static_cast<std::int16_t>(ApiKey::kMetadata), 4, 2, test::bytes_of({0, 0}));
  }
  victim.send_raw(concat(good, bad));
  std::int32_t correlation = 0;
  CHECK(victim.read<ApiVersionsResponse>(0, &correlation).error_code == 0);
  CHECK(correlation == 1);
  CHECK(victim.closed());
  CHECK(eventually([&] { return server().stats().kafka_closed == 1; }));

  CHECK(bystander.call<ApiVersionsResponse>(ApiVersionsRequest{}, 2).error_code == 0);
  auto produced =
      bystander.call<ProduceResponse>(test::produce_request("t", test::batch_of({"x"})), 7);
  CHECK(produced.responses.at(0).partitions.at(0).error_code == 0);
  auto ping = line->ping();
  CHECK(ping.has_value());
  CHECK(line->put("t", 0, protocol::testing::bytes_of("y")).value_or(-1) == 1);
}

TEST_CASE_FIXTURE(KafkaServerFixture,
                  "kafka server: a truncated request and a hang-up close only that connection") {
  KafkaConnection bystander = kafka();
  KafkaConnection victim = kafka();
  victim.send_raw(concat(size_prefix(100), test::bytes_of({0, 18, 0, 0, 0, 0, 0, 7})));
  victim.shutdown_write();
  CHECK(victim.closed());
  CHECK(eventually([&] { return server().stats().connections == 1; }));
  CHECK(bystander.call<ApiVersionsResponse>(ApiVersionsRequest{}, 3).error_code == 0);
  CHECK(client()->ping().has_value());
}

// A server whose request budget holds one 256 KiB frame at a time.
class SmallBudgetFixture : public KafkaServerFixture {
 public:
  static constexpr std::size_t kMaxFrame = 256 << 10;
  SmallBudgetFixture() : KafkaServerFixture(options()) {}

  // An ApiVersions request (at a version from the future: answered without decoding the body)
  // of kMaxFrame bytes.
  static Bytes large_frame(std::int32_t correlation) {
    Bytes frame = request_frame(static_cast<std::int16_t>(ApiKey::kApiVersions), 99, correlation);
    frame.resize(4 + kMaxFrame);
    Writer w;
    w.i32(static_cast<std::int32_t>(kMaxFrame));
    const Bytes size = std::move(w).take().bytes;
    std::copy(size.begin(), size.end(), frame.begin());
    return frame;
  }

 private:
  static protocol::ServerOptions options() {
    protocol::ServerOptions o = test::kafka_server_options();
    o.kafka_max_frame_bytes = kMaxFrame;
    o.limits.max_message_bytes = 64 << 10;  // line requests fit the budget too
    o.limits.max_batch_bytes = 64 << 10;
    o.max_request_bytes = kMaxFrame + 4;
    return o;
  }
};

TEST_CASE_FIXTURE(SmallBudgetFixture,
                  "kafka server: a frame beyond the request budget waits unread for its turn") {
  KafkaConnection first = kafka();
  KafkaConnection second = kafka();
  const Bytes a = large_frame(1);
  first.send_raw(std::span(a).first(a.size() - 1));  // holds the whole budget, unfinished
  REQUIRE(eventually([&] { return server().stats().request_bytes == kMaxFrame + 4; }));
  second.send_raw(large_frame(2));
  REQUIRE(eventually([&] { return server().stats().request_waits == 1; }));
  // Small frames need no budget: others are served meanwhile.
  KafkaConnection bystander = kafka();
  CHECK(bystander.call<ApiVersionsResponse>(ApiVersionsRequest{}, 0).error_code == 0);

  std::int32_t correlation = 0;
  SUBCASE("the first frame is answered: the second is read and answered") {
    first.send_raw(std::span(a).last(1));
    CHECK(first.read<ApiVersionsResponse>(0, &correlation).error_code ==
          error::kUnsupportedVersion);
    CHECK(correlation == 1);
  }
  SUBCASE("the first client goes away: its share goes to the second") {
    first = kafka();  // the old connection closes
  }
  CHECK(second.read<ApiVersionsResponse>(0, &correlation).error_code == error::kUnsupportedVersion);
  CHECK(correlation == 2);
  CHECK(eventually([&] {
    const auto s = server().stats();
    return s.request_bytes == 0 && s.request_waits == 0;
  }));
}

TEST_CASE_FIXTURE(SmallBudgetFixture,
                  "kafka server: a request budget below the frame size is refused") {
  protocol::ServerOptions o = test::kafka_server_options();
  o.max_request_bytes = o.kafka_max_frame_bytes;
  CHECK_FALSE(protocol::Server::create(engine(), o).has_value());
}

TEST_CASE_FIXTURE(KafkaServerFixture, "kafka server: ApiVersions from the future is answered") {
  KafkaConnection conn = kafka();
  conn.send_raw(request_frame(static_cast<std::int16_t>(ApiKey::kApiVersions), 99, 5));
  std::int32_t correlation = 0;
  CHECK(conn.read<ApiVersionsResponse>(0, &correlation).error_code == error::kUnsupportedVersion);
  CHECK(correlation == 5);
  CHECK(conn.call<ApiVersionsResponse>(ApiVersionsRequest{}, 3).error_code == 0);
}

TEST_CASE_FIXTURE(KafkaServerFixture,
                  "kafka server: acks=0 gets no response and the next response still comes in "
                  "order") {
  create("t");
  KafkaConnection conn = kafka();
  const std::int32_t first = conn.send(test::produce_request("t", test::batch_of({"a"}), 1), 7);
  conn.send(test::produce_request("t", test::batch_of({"b", "c"}), 0), 7);
  const std::int32_t third = conn.send(ApiVersionsRequest{}, 2);
  const std::int32_t fourth = conn.send(test::produce_request("t", test::batch_of({"d"}), -1), 7);
  std::int32_t correlation = 0;
  auto acked = conn.read<ProduceResponse>(7, &correlation);
  CHECK(correlation == first);
  CHECK(acked.responses.at(0).partitions.at(0).base_offset == 0);
  CHECK(conn.read<ApiVersionsResponse>(2, &correlation).error_code == 0);
  CHECK(correlation == third);
  auto last = conn.read<ProduceResponse>(7, &correlation);
  CHECK(correlation == fourth);
  CHECK(last.responses.at(0).partitions.at(0).base_offset == 3);
  CHECK(high_watermark("t") == 4);  // the acks=0 batch was stored
}

TEST_CASE_FIXTURE(KafkaServerFixture,
                  "kafka server: a Fetch long poll wakes when a line-protocol append lands") {
  create("t");
  KafkaConnection conn = kafka();
  // Waits up to 20 s for data; every read here gives up after 5 s, so only a wake-up answers.
  conn.send(test::fetch_request("t", 0, 20'000), 11);
  REQUIRE(eventually([&] { return server().stats().kafka_parked_fetches == 1; }));
  auto line = client();
  SUBCASE("put") {
    REQUIRE(line->put("t", 0, protocol::testing::bytes_of("from put")).has_value());
  }
  SUBCASE("putb") {
    const Bytes batch = test::batch_of({"from putb"});
    REQUIRE(line->putb("t", 0, batch).has_value());
  }
  auto fetched = conn.read<FetchResponse>(11);
  const auto& p = fetched.responses.at(0).partitions.at(0);
  CHECK(p.error_code == 0);
  CHECK(p.high_watermark == 1);
  const std::vector<std::string> values = test::values_in(p.records.bytes);
  REQUIRE(values.size() == 1);
  CHECK(values[0].starts_with("from put"));
  CHECK(server().stats().kafka_parked_fetches == 0);
}

TEST_CASE_FIXTURE(KafkaServerFixture,
                  "kafka server: a parked Fetch wakes the loop at its deadline, not before") {
  create("t");
  KafkaConnection conn = kafka();
  const std::uint64_t ticks_before = server().stats().timer_ticks;
  // Nothing arrives: the response comes when max_wait_ms (1.5 s) has passed, empty.
  auto fetched = conn.call<FetchResponse>(test::fetch_request("t", 0, 1500), 11);
  CHECK(fetched.responses.at(0).partitions.at(0).records.size() == 0);
  // The timer fires every 500 ms at most and at the deadline: a handful of wakeups. A timer
  // re-armed on every turn of the loop would make thousands.
  CHECK(server().stats().timer_ticks - ticks_before < 50);
}

TEST_CASE_FIXTURE(KafkaServerFixture, "kafka server: a line-protocol get reads a Kafka Produce") {
  create("t");
  KafkaConnection conn = kafka();
  auto produced =
      conn.call<ProduceResponse>(test::produce_request("t", test::batch_of({"one", "two"})), 7);
  REQUIRE(produced.responses.at(0).partitions.at(0).error_code == 0);
  auto got = client()->get("t", 0, 0);
  REQUIRE(got.has_value());
  REQUIRE(got->messages.size() == 2);
  CHECK(got->messages[0].value == "one");
  CHECK(got->messages[0].key == "k0");
  CHECK(got->messages[1].value == "two");
  CHECK(got->messages[1].offset == 1);
  // And the reverse: Kafka's Fetch serves a line-protocol put.
  REQUIRE(client()->put("t", 0, protocol::testing::bytes_of("three")).has_value());
  auto fetched = conn.call<FetchResponse>(test::fetch_request("t", 2), 11);
  CHECK(test::values_in(fetched.responses.at(0).partitions.at(0).records.bytes) ==
        std::vector<std::string>{"three"});
}

TEST_CASE_FIXTURE(KafkaServerFixture, "kafka server: Metadata advertises the Kafka listener") {
  KafkaConnection conn = kafka();
  MetadataRequest request;
  request.topics = std::vector<std::string>{"auto"};
  auto metadata = conn.call<MetadataResponse>(request, 4);
  REQUIRE(metadata.brokers.size() == 1);
  CHECK(metadata.brokers[0].host == "127.0.0.1");
  CHECK(metadata.brokers[0].port == server().kafka_port());
  CHECK(server().kafka_advertised() == server().kafka_address());
  REQUIRE(metadata.topics.size() == 1);
  CHECK(metadata.topics[0].error_code == 0);  // auto-created, as the line protocol would
  CHECK(engine().describe_topic("auto").has_value());
}

// A server that stops reading a connection once 1 MiB of its responses are unsent.
class SmallBufferFixture : public KafkaServerFixture {
 public:
  SmallBufferFixture() : KafkaServerFixture(options()) {}

 private:
  static protocol::ServerOptions options() {
    protocol::ServerOptions o = test::kafka_server_options();
    o.max_buffered_bytes = 1 << 20;
    return o;
  }
};

// Receives exactly `n` bytes (5 s deadline per wait); fewer at end of stream or timeout.
std::string receive(int fd, std::size_t n) {
  std::string out(n, '\0');
  std::size_t done = 0;
  while (done < n) {
    pollfd pfd{fd, POLLIN, 0};
    if (::poll(&pfd, 1, 5000) <= 0) break;
    const ssize_t got = ::recv(fd, out.data() + done, n - done, 0);
    if (got <= 0) break;
    done += static_cast<std::size_t>(got);
  }
  out.resize(done);
  return out;
}

TEST_CASE_FIXTURE(SmallBufferFixture,
                  "kafka server: a client that never reads its responses is not read either") {
  create("big");
  for (int i = 0; i < 4; ++i) {
    REQUIRE(engine().append("big", 0, test::batch_of({std::string(64 << 10, 'v')})).has_value());
  }
  auto where = parse_address(server().kafka_address());
  REQUIRE(where);
  auto fd = connect_to(*where);
  REQUIRE(fd);
  // Each request is ~30 KB (a long client id) and asks for 256 KiB: 64 MB of requests would ask
  // for ~550 MB of responses. With backpressure the server stops reading after about 1 MiB of
  // unsent responses, the socket buffers fill, and sending stalls long before that.
  constexpr std::size_t kRequests = 2200;
  const std::string client_id(30000, 'c');
  std::size_t whole = 0;  // requests sent completely
  bool stalled = false;
  for (std::size_t i = 0; i < kRequests && !stalled; ++i) {
    RequestHeader h{static_cast<std::int16_t>(ApiKey::kFetch), 11, static_cast<std::int32_t>(i),
                    client_id};
    const Bytes frame =
        encode_request_frame(h, test::encoded(test::fetch_request("big", 0, 0, 256 << 10), 11));
    std::size_t at = 0;
    while (at < frame.size()) {
      const ssize_t n =
          ::send(fd->get(), frame.data() + at, frame.size() - at, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n > 0) {
        at += static_cast<std::size_t>(n);
        continue;
      }
      REQUIRE((n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)));
      pollfd pfd{fd->get(), POLLOUT, 0};
      if (::poll(&pfd, 1, 1000) == 0) {
        stalled = true;  // the server has not read anything for a second
        break;
      }
    }
    if (at == frame.size()) ++whole;
  }
  CHECK(stalled);
  CHECK(whole < kRequests);
  CAPTURE(whole);
  // Reading the responses lets the server go on: every whole request is answered, in order.
  for (std::size_t i = 0; i < whole; ++i) {
    const std::string size = receive(fd->get(), 4);
    REQUIRE(size.size() == 4);
    Reader size_reader(std::as_bytes(std::span(size.data(), 4)));
    const std::string body = receive(fd->get(), static_cast<std::size_t>(size_reader.i32()));
    Reader r(std::as_bytes(std::span(body.data(), body.size())));
    REQUIRE(r.i32() == static_cast<std::int32_t>(i));
    REQUIRE(body.size() > (200 << 10));
  }
}

}  // namespace
}  // namespace ringlog::kafka
