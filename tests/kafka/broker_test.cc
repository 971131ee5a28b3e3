// The Kafka broker against a real Engine in a scratch directory, with hooks that run blocking
// work inline and queue posted tasks for the test thread (as the server's mailbox would).
#include <doctest/doctest.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include <ringlog/batch.h>
#include <ringlog/engine.h>

#include "engine/deflate.h"
#include "engine/endian.h"
#include "kafka_test_support.h"
#include "protocol/kafka/broker.h"
#include "protocol/kafka/frame.h"
#include "tests/support/files.h"

namespace ringlog::kafka {
namespace {

using test::bytes_of;

// A mailbox like the server's: engine threads post, the test thread runs.
class Mailbox {
 public:
  void post(BrokerHooks::Task task) {
    std::lock_guard lock(mu_);
    tasks_.push_back(std::move(task));
    cv_.notify_all();
  }
  // Runs posted tasks until `done()` or a timeout; false on timeout.
  template <typename Done>
  bool pump_until(Done done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!done()) {
      std::unique_lock lock(mu_);
      if (!cv_.wait_until(lock, deadline, [&] { return !tasks_.empty(); })) return false;
      auto task = std::move(tasks_.front());
      tasks_.pop_front();
      lock.unlock();
      task();
    }
    return true;
  }
  void drain() {
    pump_until([&] {
      std::lock_guard lock(mu_);
      return tasks_.empty();
    });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<BrokerHooks::Task> tasks_;
};

Bytes batch_of(std::vector<std::string> values, BatchOptions options = {}) {
  BatchBuilder builder(options);
  for (const std::string& v : values)
    builder.add("k", v, {}, 1700000000000);
  auto bytes = builder.finish();
  return {bytes.begin(), bytes.end()};
}

struct BrokerFixture {
  testing::TempDir dir{testing::TempDir::Where::kMemory};
  std::unique_ptr<Engine> engine;
  Mailbox mailbox;
  std::unique_ptr<Broker> broker;
  std::int64_t now_ms = 1'000'000;
  std::int32_t correlation = 0;
  std::int64_t next_producer_id = 1000;
  std::size_t producer_recovery_bytes = std::size_t{8} << 20;
  // When set, work the Broker hands to run_blocking waits here until the test runs it (as if
  // the worker pool were slow).
  bool defer_blocking = false;
  std::deque<BrokerHooks::Task> blocking;
  std::uint64_t offsets_retention_ms = EngineOptions{}.offsets_retention_ms;

  BrokerFixture() { start(); }

  void start() {
    EngineOptions options;
    options.data_dir = dir / "data";
    options.segment_bytes = 1 << 20;
    options.preallocation = Preallocation::kNone;
    options.auto_create_topics = false;
    options.offsets_retention_ms = offsets_retention_ms;
    auto opened = Engine::open(options);
    REQUIRE(opened.has_value());
    engine = std::move(*opened);
    BrokerOptions broker_options;
    broker_options.advertised_port = 19092;
    broker_options.first_producer_id = next_producer_id;
    broker_options.producer_recovery_bytes = producer_recovery_bytes;
    broker_options.coordinator.initial_join_delay_ms = 50;
    broker_options.coordinator.start_ms = 7;
    BrokerHooks hooks;
    hooks.post = [this](BrokerHooks::Task t) { mailbox.post(std::move(t)); };
    hooks.run_blocking = [this](BrokerHooks::Task t) {
      if (defer_blocking) return blocking.push_back(std::move(t));
      t();
    };
    broker = std::make_unique<Broker>(*engine, broker_options, hooks);
    engine->set_visibility_listener(
        [this](std::string_view topic, std::int32_t partition, std::int64_t) {
          mailbox.post([this, t = std::string(topic), partition] {
            broker->on_visible(t, partition, now_ms);
          });
        });
  }
  ~BrokerFixture() { stop(); }

  void stop() {
    engine->set_visibility_listener(nullptr);
    mailbox.drain();
    broker.reset();
    (void)engine->close();
  }
  // A new Broker on the reopened data directory: everything in memory is forgotten.
  void restart() {
    stop();
    start();
  }

  void create(const std::string& topic, std::int32_t partitions = 1) {
    TopicConfig config;
    config.partitions = partitions;
    REQUIRE(engine->create_topic(topic, config).has_value());
  }

  // Sends a request and returns its reply (waiting for delayed ones).
  template <typename M>
  std::shared_ptr<std::optional<Reply>> send(const M& body, std::int16_t version,
                                             bool wait = true) {
    RequestHeader h{static_cast<std::int16_t>(M::kApiKey), version, ++correlation, "test"};
    return send_frame(encode_request_frame(h, test::encoded(body, version)), wait);
  }
  std::shared_ptr<std::optional<Reply>> send_frame(const Bytes& frame_with_size, bool wait) {
    auto out = std::make_shared<std::optional<Reply>>();
    broker->handle(std::span<const std::byte>(frame_with_size).subspan(4), now_ms, [out](Reply r) {
      REQUIRE_FALSE(out->has_value());  // exactly once
      *out = std::move(r);
    });
    if (wait) REQUIRE(mailbox.pump_until([&] { return out->has_value(); }));
    return out;
  }

  // Decodes the body of a framed response to a request of `version`.
  template <typename R>
  R response(const std::shared_ptr<std::optional<Reply>>& reply, std::int16_t version) {
    REQUIRE(reply->has_value());
    REQUIRE((*reply)->kind == Reply::Kind::kFrame);
    auto whole = (*reply)->frame.materialize();
    REQUIRE(whole.has_value());
    Reader r(*whole);
    CHECK(static_cast<std::size_t>(r.i32()) == whole->size() - 4);
    CHECK(r.i32() == correlation_of(reply));
    if (response_header_is_flexible(static_cast<std::int16_t>(R::kApiKey), version)) {
      r.skip_tagged_fields();
    }
    auto decoded = decode<R>(r.rest(), version);
    REQUIRE(decoded.has_value());
    return *decoded;
  }
  std::int32_t correlation_of(const std::shared_ptr<std::optional<Reply>>& reply) {
    Reader r((*reply)->frame.bytes);
    r.i32();
    return r.i32();
  }

  template <typename R, typename M>
  R call(const M& body, std::int16_t version) {
    return response<R>(send(body, version), version);
  }

  ProduceResponse::Partition produce(const std::string& topic, std::int32_t partition,
                                     Bytes records, std::int16_t acks = -1) {
    ProduceRequest req;
    req.acks = acks;
    req.timeout_ms = 1000;
    req.topics = {{topic, {{partition, std::move(records)}}}};
    auto r = call<ProduceResponse>(req, 7);
    REQUIRE(r.responses.size() == 1);
    REQUIRE(r.responses[0].partitions.size() == 1);
    return r.responses[0].partitions[0];
  }

  FetchRequest fetch_request(const std::string& topic, std::int64_t offset,
                             std::int32_t partition_max_bytes = 1 << 20,
                             std::int32_t max_wait_ms = 0) {
    FetchRequest req;
    req.max_wait_ms = max_wait_ms;
    req.min_bytes = 1;
    req.topics = {{topic, {{0, -1, offset, -1, partition_max_bytes}}}};
    return req;
  }
  FetchResponse::Partition fetch(const std::string& topic, std::int64_t offset,
                                 std::int32_t partition_max_bytes = 1 << 20) {
    auto r = call<FetchResponse>(fetch_request(topic, offset, partition_max_bytes), 11);
    REQUIRE(r.responses.size() == 1);
    REQUIRE(r.responses[0].partitions.size() == 1);
    return r.responses[0].partitions[0];
  }
};

std::vector<std::string> values_in(const Bytes& records, std::vector<std::int64_t>* offsets = {}) {
  std::vector<std::string> out;
  BatchReader reader(records);
  for (ParsedBatch b = reader.next(); b.ok(); b = reader.next()) {
    for (const RecordView& r : b.batch.records()) {
      out.emplace_back(reinterpret_cast<const char*>(r.value->data()), r.value->size());
      if (offsets) offsets->push_back(r.offset);
    }
  }
  return out;
}

TEST_CASE_FIXTURE(BrokerFixture, "kafka broker: ApiVersions lists the ranges, any version") {
  for (std::int16_t v : {0, 1, 2, 3}) {
    CAPTURE(v);
    auto r = call<ApiVersionsResponse>(ApiVersionsRequest{}, v);
    CHECK(r.error_code == 0);
    CHECK(r.api_keys.size() == supported_apis().size());
  }
  // A version from the future: error 35 in the v0 layout, so the client steps down.
  RequestHeader h{18, 9, 99, "new-client"};
  auto future = send_frame(encode_request_frame(h, {}), true);
  REQUIRE((*future)->kind == Reply::Kind::kFrame);
  Reader r((*future)->frame.bytes);
  r.i32();
  CHECK(r.i32() == 99);
  CHECK(r.i16() == error::kUnsupportedVersion);
}

TEST_CASE_FIXTURE(BrokerFixture, "kafka broker: Metadata creates topics when allowed") {
  MetadataRequest req;
  req.topics = std::vector<std::string>{"fresh"};
  SUBCASE("allowed: created and described in the same response") {
    auto r = call<MetadataResponse>(req, 4);
    REQUIRE(r.brokers.size() == 1);
    CHECK(r.brokers[0].host == "127.0.0.1");
    CHECK(r.brokers[0].port == 19092);
    CHECK(r.cluster_id == "ringlog");
    REQUIRE(r.topics.size() == 1);
    CHECK(r.topics[0].error_code == 0);
    REQUIRE(r.topics[0].partitions.size() == 1);
    CHECK(r.topics[0].partitions[0].leader_id == 0);
    CHECK(r.topics[0].partitions[0].isr_nodes == std::vector<std::int32_t>{0});
  }
  SUBCASE("not allowed: unknown topic") {
    req.allow_auto_topic_creation = false;
    auto r = call<MetadataResponse>(req, 4);
    CHECK(r.topics.at(0).error_code == error::kUnknownTopicOrPartition);
    CHECK(engine->list_topics().empty());
  }
  SUBCASE("invalid name") {
    req.topics = std::vector<std::string>{"bad/name"};
    CHECK(call<MetadataResponse>(req, 4).topics.at(0).error_code == error::kInvalidTopicException);
  }
  SUBCASE("all topics: null from v1, empty in v0") {
    create("a", 2);
    create("b");
    MetadataRequest all;
    auto r1 = call<MetadataResponse>(all, 1);
    REQUIRE(r1.topics.size() == 2);
    CHECK(r1.topics[0].partitions.size() == 2);
    all.topics = std::vector<std::string>{};
    CHECK(call<MetadataResponse>(all, 0).topics.size() == 2);
    CHECK(call<MetadataResponse>(all, 1).topics.empty());
  }
}

TEST_CASE_FIXTURE(BrokerFixture, "kafka broker: produced batches are fetched back zero-copy") {
  create("t");
  auto p1 = produce("t", 0, batch_of({"a", "b"}));
  CHECK(p1.error_code == 0);
  CHECK(p1.base_offset == 0);
  auto p2 = produce("t", 0, batch_of({"c"}), 1);
  CHECK(p2.base_offset == 2);

  auto f = fetch("t", 1);
  CHECK(f.error_code == 0);
  CHECK(f.high_watermark == 3);
  CHECK(f.last_stable_offset == 3);
  CHECK(f.log_start_offset == 0);
  CHECK(f.preferred_read_replica == -1);
  std::vector<std::int64_t> offsets;
  CHECK(values_in(f.records.bytes, &offsets) == std::vector<std::string>{"a", "b", "c"});
  CHECK(offsets == std::vector<std::int64_t>{0, 1, 2});  // from the batch containing 1

  SUBCASE("the response is spliced from the segment file") {
    auto reply = send(fetch_request("t", 0), 11);
    CHECK((*reply)->frame.splices.size() == 1);
  }
  SUBCASE("at the high watermark: an empty record set of length 0") {
    auto empty = fetch("t", 3);
    CHECK(empty.error_code == 0);
    CHECK(empty.records.bytes.empty());
  }
  SUBCASE("beyond the high watermark: OFFSET_OUT_OF_RANGE with the valid range") {
    auto beyond = fetch("t", 4);
    CHECK(beyond.error_code == error::kOffsetOutOfRange);
    CHECK(beyond.high_watermark == 3);
    CHECK(beyond.log_start_offset == 0);
  }
}

TEST_CASE_FIXTURE(BrokerFixture, "kafka broker: the first batch is whole even above the limit") {
  create("t");
  produce("t", 0, batch_of({std::string(3000, 'x')}));
  produce("t", 0, batch_of({"small"}));
  auto f = fetch("t", 0, 100);  // KIP-74
  CHECK(values_in(f.records.bytes) == std::vector<std::string>{std::string(3000, 'x')});
}

TEST_CASE_FIXTURE(BrokerFixture, "kafka broker: request max_bytes bounds later partitions") {
  create("t", 2);
  produce("t", 0, batch_of({std::string(3000, 'a')}));
  produce("t", 1, batch_of({std::string(3000, 'b')}));
  FetchRequest req = fetch_request("t", 0);
  req.max_bytes = 100;
  req.topics[0].partitions.push_back({1, -1, 0, -1, 1 << 20});
  auto r = call<FetchResponse>(req, 11);
  const auto& parts = r.responses.at(0).partitions;
  REQUIRE(parts.size() == 2);
  CHECK(values_in(parts[0].records.bytes).size() == 1);  // whole although above max_bytes
  CHECK(parts[1].records.bytes.empty());                 // nothing left of the budget
  CHECK(parts[1].error_code == 0);
  CHECK(parts[1].high_watermark == 1);
}

TEST_CASE_FIXTURE(BrokerFixture, "kafka broker: a multi-partition Produce answers in order") {
  create("t", 2);
  ProduceRequest req;
  req.acks = -1;
  req.topics = {{"t", {{1, batch_of({"x"})}, {0, batch_of({"y", "z"})}, {7, batch_of({"w"})}}}};
  auto r = call<ProduceResponse>(req, 5);
  const auto& parts = r.responses.at(0).partitions;
  REQUIRE(parts.size() == 3);
  CHECK(parts[0].index == 1);
  CHECK(parts[0].base_offset == 0);
  CHECK(parts[1].index == 0);
  CHECK(parts[1].error_code == 0);
  CHECK(parts[2].index == 7);
  CHECK(parts[2].error_code == error::kUnknownTopicOrPartition);
  CHECK(engine->offsets("t", 0)->second == 2);
}

TEST_CASE_FIXTURE(BrokerFixture,
                  "kafka broker: acks=0 gets no response and completes once stored") {
  create("t");
  ProduceRequest req;
  req.acks = 0;
  req.topics = {{"t", {{0, batch_of({"quiet"})}}}};
  auto reply = send(req, 7);  // waits for the reply
  CHECK((*reply)->kind == Reply::Kind::kNone);
  CHECK(engine->offsets("t", 0)->second == 1);  // complete once stored
}

TEST_CASE_FIXTURE(BrokerFixture, "kafka broker: produce validates what it stores") {
  create("t");
  SUBCASE("old message format") {
    Bytes b = batch_of({"x"});
    b[kMagicAt] = std::byte{1};
    CHECK(produce("t", 0, b).error_code == error::kUnsupportedForMessageFormat);
  }
  SUBCASE("bad CRC") {
    Bytes b = batch_of({"x"});
    b.back() ^= std::byte{0xff};
    CHECK(produce("t", 0, b).error_code == error::kCorruptMessage);
  }
  SUBCASE("truncated batch") {
    Bytes b = batch_of({"x"});
    b.pop_back();
    CHECK(produce("t", 0, b).error_code == error::kCorruptMessage);
  }
  SUBCASE("control batch") {
    BatchOptions o;
    o.control = true;
    CHECK(produce("t", 0, batch_of({"x"}, o)).error_code == error::kInvalidRecord);
  }
  SUBCASE("invalid acks") {
    CHECK(produce("t", 0, batch_of({"x"}), 2).error_code == error::kInvalidRequiredAcks);
  }
  SUBCASE("unknown partition") {
    CHECK(produce("t", 5, batch_of({"x"})).error_code == error::kUnknownTopicOrPartition);
  }
  SUBCASE("a record count that lies, with a valid CRC") {
    Bytes b = batch_of({"x"});
    store_be<std::int32_t>(b.data() + kRecordCountAt, 5);
    store_be<std::int32_t>(b.data() + kLastOffsetDeltaAt, 4);
    store_be(b.data() + kCrcAt, BatchView(b).compute_crc());
    CHECK(produce("t", 0, b).error_code == error::kInvalidRecord);
  }
  SUBCASE("an undefined compression codec") {
    Bytes b = batch_of({"x"});
    store_be<std::int16_t>(b.data() + kAttributesAt, 7);
    store_be(b.data() + kCrcAt, BatchView(b).compute_crc());
    CHECK(produce("t", 0, b).error_code == error::kCorruptMessage);
  }
  SUBCASE("compressed records that lie about their count") {
    Bytes b = batch_of({"x"});
    store_be<std::int32_t>(b.data() + kRecordCountAt, 3);
    store_be<std::int32_t>(b.data() + kLastOffsetDeltaAt, 2);
    auto lz4 = compress_batch(b, Compression::kLz4);
    REQUIRE(lz4.has_value());
    CHECK(produce("t", 0, *lz4).error_code == error::kInvalidRecord);
  }
  SUBCASE("a topic name that cannot exist") {
    CHECK(produce("a/b", 0, batch_of({"x"})).error_code == error::kUnknownTopicOrPartition);
  }
  CHECK(engine->offsets("t", 0)->second == 0);
}

TEST_CASE_FIXTURE(BrokerFixture,
                  "kafka broker: a compressed batch validated on a worker keeps its place in the "
                  "partition's order") {
  create("t");
  auto lz4 = compress_batch(batch_of({"first", "second"}), Compression::kLz4);
  REQUIRE(lz4.has_value());
  defer_blocking = true;
  auto produce_async = [&](Bytes records) {
    ProduceRequest req;
    req.acks = -1;
    req.timeout_ms = 1000;
    req.topics = {{"t", {{0, std::move(records)}}}};
    return send(req, 7, /*wait=*/false);
  };
  auto compressed = produce_async(*lz4);
  auto plain = produce_async(batch_of({"third"}));
  CHECK(blocking.size() == 1);  // the lz4 batch waits on the "worker"; the plain one behind it
  CHECK(engine->offsets("t", 0)->second == 0);
  defer_blocking = false;
  while (!blocking.empty()) {
    auto task = std::move(blocking.front());
    blocking.pop_front();
    task();
  }
  REQUIRE(mailbox.pump_until([&] { return compressed->has_value() && plain->has_value(); }));
  CHECK(response<ProduceResponse>(compressed, 7).responses[0].partitions[0].base_offset == 0);
  CHECK(response<ProduceResponse>(plain, 7).responses[0].partitions[0].base_offset == 2);
}

TEST_CASE_FIXTURE(BrokerFixture, "kafka broker: idempotent producers, duplicates and gaps") {
  create("t");
  auto pid = call<InitProducerIdResponse>(InitProducerIdRequest{std::nullopt, 60000}, 1);
  CHECK(pid.error_code == 0);
  CHECK(pid.producer_id == 1000);
  CHECK(pid.producer_epoch == 0);
  CHECK(call<InitProducerIdResponse>(InitProducerIdRequest{}, 0).producer_id == 1001);

  auto batch = [&](std::int32_t seq, std::vector<std::string> values) {
    BatchOptions o;
    o.producer_id = pid.producer_id;
    o.producer_epoch = 0;
    o.base_sequence = seq;
    return batch_of(std::move(values), o);
  };
  CHECK(produce("t", 0, batch(0, {"a", "b"})).base_offset == 0);
  CHECK(produce("t", 0, batch(2, {"c"})).base_offset == 2);
  auto dup = produce("t", 0, batch(0, {"a", "b"}));
  CHECK(dup.error_code == 0);
  CHECK(dup.base_offset == 0);
  CHECK(produce("t", 0, batch(5, {"d"})).error_code == error::kOutOfOrderSequenceNumber);
  CHECK(engine->offsets("t", 0)->second == 3);
}

TEST_CASE_FIXTURE(BrokerFixture,
                  "kafka broker: idempotent producer state is rebuilt from the log after a "
                  "restart") {
  create("t");
  const std::int64_t pid = 4242;
  auto batch = [&](std::int16_t epoch, std::int32_t seq, std::vector<std::string> values) {
    BatchOptions o;
    o.producer_id = pid;
    o.producer_epoch = epoch;
    o.base_sequence = seq;
    return batch_of(std::move(values), o);
  };
  CHECK(produce("t", 0, batch(0, 0, {"a", "b"})).base_offset == 0);
  CHECK(produce("t", 0, batch(0, 2, {"c"})).base_offset == 2);
  CHECK(produce("t", 0, batch(0, 3, {"d", "e"})).base_offset == 3);
  next_producer_id = 5000;  // as the server does: ids never repeat across restarts
  restart();

  SUBCASE("a retried batch is a duplicate and the next sequence is accepted") {
    auto dup = produce("t", 0, batch(0, 3, {"d", "e"}));
    CHECK(dup.error_code == 0);
    CHECK(dup.base_offset == 3);  // the original's offset: nothing appended
    auto older = produce("t", 0, batch(0, 0, {"a", "b"}));
    CHECK(older.error_code == 0);
    CHECK(older.base_offset == 0);
    CHECK(engine->offsets("t", 0)->second == 5);
    CHECK(produce("t", 0, batch(0, 5, {"f"})).base_offset == 5);
  }
  SUBCASE("a gap is still out of order") {
    CHECK(produce("t", 0, batch(0, 7, {"g"})).error_code == error::kOutOfOrderSequenceNumber);
  }
  SUBCASE("an older epoch is fenced, a newer one starting at 0 is accepted") {
    CHECK(produce("t", 0, batch(1, 0, {"h"})).base_offset == 5);
    restart();
    CHECK(produce("t", 0, batch(0, 5, {"i"})).error_code == error::kInvalidProducerEpoch);
    CHECK(produce("t", 0, batch(1, 1, {"j"})).base_offset == 6);
  }
  SUBCASE("pipelined produces wait for the rebuild, in order") {
    auto first = send(ProduceRequest{std::nullopt, -1, 1000, {{"t", {{0, batch(0, 5, {"k"})}}}}}, 7,
                      /*wait=*/false);
    auto second = send(ProduceRequest{std::nullopt, -1, 1000, {{"t", {{0, batch(0, 6, {"l"})}}}}},
                       7, /*wait=*/false);
    REQUIRE(mailbox.pump_until([&] { return first->has_value() && second->has_value(); }));
    CHECK(response<ProduceResponse>(first, 7).responses[0].partitions[0].base_offset == 5);
    CHECK(response<ProduceResponse>(second, 7).responses[0].partitions[0].base_offset == 6);
  }
  CHECK(call<InitProducerIdResponse>(InitProducerIdRequest{}, 0).producer_id == 5000);
}

TEST_CASE_FIXTURE(BrokerFixture,
                  "kafka broker: producers older than the recovered tail are new again") {
  create("t");
  BatchOptions o;
  o.producer_id = 7;
  o.base_sequence = 0;
  CHECK(produce("t", 0, batch_of({"old"}, o)).base_offset == 0);
  // 250 KB of other data after it, with a 128 KiB recovery budget: the last 16 batches are read.
  for (int i = 0; i < 50; ++i)
    REQUIRE(produce("t", 0, batch_of({std::string(5000, 'x')})).error_code == 0);
  producer_recovery_bytes = 128 << 10;
  restart();
  o.base_sequence = 9;  // a gap, but the producer's state is beyond the tail that was read
  CHECK(produce("t", 0, batch_of({"again"}, o)).error_code == 0);
}

TEST_CASE_FIXTURE(BrokerFixture, "kafka broker: a long poll waits for data or its deadline") {
  create("t");
  SUBCASE("woken by a produce") {
    auto parked = send(fetch_request("t", 0, 1 << 20, 5000), 11, /*wait=*/false);
    mailbox.drain();
    CHECK_FALSE(parked->has_value());
    CHECK(broker->parked_fetches() == 1);
    CHECK(broker->next_deadline_ms() == now_ms + 5000);
    produce("t", 0, batch_of({"late"}));
    REQUIRE(mailbox.pump_until([&] { return parked->has_value(); }));
    auto r = response<FetchResponse>(parked, 11);
    CHECK(values_in(r.responses.at(0).partitions.at(0).records.bytes) ==
          std::vector<std::string>{"late"});
  }
  SUBCASE("answered empty at max_wait") {
    auto parked = send(fetch_request("t", 0, 1 << 20, 500), 11, /*wait=*/false);
    mailbox.drain();
    CHECK_FALSE(parked->has_value());
    now_ms += 499;
    broker->tick(now_ms);
    CHECK_FALSE(parked->has_value());
    now_ms += 1;
    broker->tick(now_ms);
    REQUIRE(mailbox.pump_until([&] { return parked->has_value(); }));
    auto r = response<FetchResponse>(parked, 11);
    CHECK(r.responses.at(0).partitions.at(0).records.bytes.empty());
    CHECK(broker->parked_fetches() == 0);
  }
}

TEST_CASE_FIXTURE(BrokerFixture, "kafka broker: ListOffsets earliest, latest, by time") {
  create("t");
  produce("t", 0, batch_of({"a", "b"}));
  ListOffsetsRequest req;
  req.topics = {{"t", {{0, kEarliestTimestamp, 1}, {0, kLatestTimestamp, 1}}}};
  auto r = call<ListOffsetsResponse>(req, 2);
  CHECK(r.topics.at(0).partitions.at(0).offset == 0);
  CHECK(r.topics.at(0).partitions.at(1).offset == 2);
  auto v0 = call<ListOffsetsResponse>(req, 0);
  CHECK(v0.topics.at(0).partitions.at(1).old_style_offsets == std::vector<std::int64_t>{2});
  req.topics = {{"t", {{0, 1700000000000, 1}}}, {"nope", {{0, kLatestTimestamp, 1}}}};
  r = call<ListOffsetsResponse>(req, 1);
  CHECK(r.topics.at(0).partitions.at(0).offset == 0);
  CHECK(r.topics.at(1).partitions.at(0).error_code == error::kUnknownTopicOrPartition);
}

TEST_CASE_FIXTURE(BrokerFixture, "kafka broker: committed offsets keep their metadata string") {
  create("t", 2);
  OffsetCommitRequest commit;
  commit.group_id = "g";
  commit.topics = {{"t", {{0, 42, -1, -1, "resume-here"}}}};
  auto c = call<OffsetCommitResponse>(commit, 7);
  CHECK(c.topics.at(0).partitions.at(0).error_code == 0);

  OffsetFetchRequest fetch;
  fetch.group_id = "g";
  fetch.topics = std::vector<OffsetFetchRequest::Topic>{{"t", {0, 1}}};
  auto f = call<OffsetFetchResponse>(fetch, 5);
  REQUIRE(f.topics.at(0).partitions.size() == 2);
  CHECK(f.topics[0].partitions[0].committed_offset == 42);
  CHECK(f.topics[0].partitions[0].metadata == "resume-here");
  CHECK(f.topics[0].partitions[1].committed_offset == -1);

  commit.generation_id = 5;
  commit.member_id = "ghost";
  CHECK(call<OffsetCommitResponse>(commit, 7).topics.at(0).partitions.at(0).error_code ==
        error::kIllegalGeneration);
}

TEST_CASE_FIXTURE(BrokerFixture,
                  "kafka broker: OffsetFetch of all topics lists every committed offset") {
  create("a");
  create("b", 2);
  OffsetCommitRequest commit;
  commit.group_id = "g";
  commit.topics = {{"b", {{1, 7, -1, -1, "m-b1"}, {0, 5, -1, -1, std::nullopt}}},
                   {"a", {{0, 3, -1, -1, "m-a0"}}}};
  REQUIRE(call<OffsetCommitResponse>(commit, 7).topics.size() == 2);
  OffsetFetchRequest fetch;
  fetch.group_id = "g";  // topics = null: everything
  auto f = call<OffsetFetchResponse>(fetch, 5);
  CHECK(f.error_code == 0);
  REQUIRE(f.topics.size() == 2);
  CHECK(f.topics[0].name == "a");
  REQUIRE(f.topics[0].partitions.size() == 1);
  CHECK(f.topics[0].partitions[0].committed_offset == 3);
  CHECK(f.topics[0].partitions[0].metadata == "m-a0");
  CHECK(f.topics[1].name == "b");
  REQUIRE(f.topics[1].partitions.size() == 2);
  CHECK(f.topics[1].partitions[0].partition_index == 0);
  CHECK(f.topics[1].partitions[0].committed_offset == 5);
  CHECK(f.topics[1].partitions[0].metadata == "");
  CHECK(f.topics[1].partitions[1].committed_offset == 7);
  fetch.group_id = "nobody";
  CHECK(call<OffsetFetchResponse>(fetch, 5).topics.empty());
}

TEST_CASE_FIXTURE(BrokerFixture,
                  "kafka broker: OffsetCommit to an unknown topic or partition stores nothing") {
  create("t");
  OffsetCommitRequest commit;
  commit.group_id = "g";
  commit.topics = {{"nope", {{0, 5, -1, -1, std::nullopt}}},
                   {"t", {{0, 6, -1, -1, std::nullopt}, {3, 7, -1, -1, std::nullopt}}},
                   {"bad/name", {{0, 8, -1, -1, std::nullopt}}}};
  auto c = call<OffsetCommitResponse>(commit, 7);
  REQUIRE(c.topics.size() == 3);
  CHECK(c.topics[0].partitions.at(0).error_code == error::kUnknownTopicOrPartition);
  CHECK(c.topics[1].partitions.at(0).error_code == error::kNone);
  CHECK(c.topics[1].partitions.at(1).error_code == error::kUnknownTopicOrPartition);
  CHECK(c.topics[2].partitions.at(0).error_code == error::kUnknownTopicOrPartition);
  OffsetFetchRequest fetch;
  fetch.group_id = "g";  // everything the group has
  auto f = call<OffsetFetchResponse>(fetch, 5);
  REQUIRE(f.topics.size() == 1);
  CHECK(f.topics[0].name == "t");
  REQUIRE(f.topics[0].partitions.size() == 1);
  CHECK(f.topics[0].partitions[0].committed_offset == 6);
  // A bad group id is still INVALID_GROUP_ID, whatever the topic.
  commit.group_id = std::string(250, 'g');
  c = call<OffsetCommitResponse>(commit, 7);
  CHECK(c.topics[0].partitions.at(0).error_code == error::kInvalidGroupId);
  CHECK(c.topics[1].partitions.at(0).error_code == error::kInvalidGroupId);
}

TEST_CASE_FIXTURE(BrokerFixture, "kafka broker: a consumer group of one through the broker") {
  auto fc = call<FindCoordinatorResponse>(FindCoordinatorRequest{"g", 0}, 2);
  CHECK(fc.error_code == 0);
  CHECK(fc.port == 19092);

  JoinGroupRequest join;
  join.group_id = "g";
  join.session_timeout_ms = 10000;
  join.rebalance_timeout_ms = 30000;
  join.protocol_type = "consumer";
  join.protocols = {{"range", bytes_of({1})}};
  auto joined = send(join, 5, /*wait=*/false);
  CHECK_FALSE(joined->has_value());  // the join window
  now_ms += 50;
  broker->tick(now_ms);
  auto j = response<JoinGroupResponse>(joined, 5);
  CHECK(j.error_code == 0);
  CHECK(j.leader == j.member_id);

  auto s = call<SyncGroupResponse>(
      SyncGroupRequest{
          "g", j.generation_id, j.member_id, std::nullopt, {{j.member_id, bytes_of({7})}}},
      3);
  CHECK(s.assignment == bytes_of({7}));
  CHECK(call<HeartbeatResponse>(HeartbeatRequest{"g", j.generation_id, j.member_id, {}}, 3)
            .error_code == 0);
  CHECK(call<LeaveGroupResponse>(LeaveGroupRequest{"g", j.member_id}, 1).error_code == 0);
}

TEST_CASE_FIXTURE(BrokerFixture,
                  "kafka broker: a group with members keeps its offsets past the retention") {
  offsets_retention_ms = 1500;
  restart();
  create("t");
  OffsetCommitRequest commit;
  commit.group_id = "g";
  commit.topics = {{"t", {{0, 42, -1, -1, std::nullopt}}}};
  REQUIRE(call<OffsetCommitResponse>(commit, 7).topics.at(0).partitions.at(0).error_code == 0);
  auto committed = [&] {
    auto got = engine->committed_offset("g", "t", 0);
    REQUIRE(got.has_value());
    return got->has_value();
  };

  JoinGroupRequest join;
  join.group_id = "g";
  join.session_timeout_ms = 10000;
  join.rebalance_timeout_ms = 30000;
  join.protocol_type = "consumer";
  join.protocols = {{"range", bytes_of({1})}};
  auto joined = send(join, 5, /*wait=*/false);
  now_ms += 50;
  broker->tick(now_ms);
  auto j = response<JoinGroupResponse>(joined, 5);
  REQUIRE(j.error_code == 0);
  // Twice the retention in real time, with a member heartbeating; the broker's clock runs a
  // minute per step, so it tells the engine about the group at every tick.
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(3000);
  while (std::chrono::steady_clock::now() < until) {
    now_ms += Broker::kGroupTouchIntervalMs;
    REQUIRE(call<HeartbeatResponse>(HeartbeatRequest{"g", j.generation_id, j.member_id, {}}, 3)
                .error_code == 0);
    broker->tick(now_ms);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(committed());
  // Without members nothing keeps it: it expires.
  REQUIRE(call<LeaveGroupResponse>(LeaveGroupRequest{"g", j.member_id}, 1).error_code == 0);
  bool expired = false;
  for (int i = 0; i < 100 && !expired; ++i) {
    now_ms += Broker::kGroupTouchIntervalMs;
    broker->tick(now_ms);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    expired = !committed();
  }
  CHECK(expired);
  CHECK(engine->stats()->offsets_expired == 1);
}

TEST_CASE_FIXTURE(BrokerFixture, "kafka broker: bad requests close the connection") {
  SUBCASE("unknown api key") {
    auto r = send_frame(encode_request_frame({19, 0, 1, "x"}, {}), true);
    CHECK((*r)->kind == Reply::Kind::kClose);
  }
  SUBCASE("unsupported version") {
    auto r = send_frame(encode_request_frame({1, 3, 1, "x"}, {}), true);
    CHECK((*r)->kind == Reply::Kind::kClose);
  }
  SUBCASE("truncated body") {
    Bytes body = test::encoded(fetch_request("t", 0), 11);
    body.pop_back();
    auto r = send_frame(encode_request_frame({1, 11, 1, "x"}, body), true);
    CHECK((*r)->kind == Reply::Kind::kClose);
  }
  SUBCASE("truncated header") {
    auto r = send_frame(bytes_of({0, 0, 0, 3, 0, 1, 0}), true);
    CHECK((*r)->kind == Reply::Kind::kClose);
  }
}

}  // namespace
}  // namespace ringlog::kafka
