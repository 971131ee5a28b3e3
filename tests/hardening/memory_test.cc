// Findings 8 and 9: memory bounded by the documented figures (docs/security.md, "Memory bound")
// under any client. Kafka frames larger than a receive chunk take their share of the request
// budget (--request-budget, 256 MiB) before they are read, so eight connections holding
// unfinished 100 MiB frames cannot make the server hold 800 MiB; abandoned consumer groups and
// idle idempotent producer ids are forgotten (--kafka-empty-group-expiration,
// --kafka-producer-id-expiration), so their memory is reused rather than accumulated.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "protocol/kafka/api.h"
#include "tests/hardening/hardening_support.h"
#include "tests/kafka/kafka_server_support.h"
#include "tests/support/process.h"

namespace ringlog::hardening {

namespace {

using Clock = std::chrono::steady_clock;
using kafka::test::KafkaConnection;

constexpr std::uint64_t kMiB = 1024;                         // in KiB, as VmRSS counts
constexpr std::size_t kFrameBytes = std::size_t{100} << 20;  // --kafka-max-frame's default
// docs/security.md: baseline + request budget + connections x 24 MiB (+ Kafka state below).
constexpr std::uint64_t kRequestBudgetKib = 256 * kMiB;
constexpr std::uint64_t kPerConnectionKib = 24 * kMiB;
// docs/security.md: at most 4 KiB per consumer group and 1 KiB per producer state held.
constexpr std::uint64_t kPerGroupKib = 4;
constexpr std::uint64_t kPerProducerKib = 1;

// The size prefix and header of an ApiVersions request frame of `size` bytes; the rest of the
// frame is padding. ApiVersions at an unknown version is answered without decoding the body.
std::string frame_start(std::size_t size) {
  kafka::Bytes frame = kafka::encode_request_frame({18, 99, 1, "memory-test"}, {});
  for (int i = 0; i < 4; ++i)
    frame[i] = static_cast<std::byte>(size >> (24 - 8 * i));
  return {reinterpret_cast<const char*>(frame.data()), frame.size()};
}

// One client sending a frame of kFrameBytes, `total` bytes of it (size prefix included),
// without ever blocking.
class FrameSender {
 public:
  FrameSender(const std::string& address, std::size_t total)
      : conn_(address), start_(frame_start(kFrameBytes)), total_(total) {}

  // Sends what the kernel takes now; returns whether anything went.
  bool push(const std::string& padding) {
    if (done()) return false;
    std::size_t n;
    if (sent_ < start_.size()) {
      n = conn_.send_nonblocking(std::string_view(start_).substr(sent_));
    } else {
      n = conn_.send_nonblocking(
          std::string_view(padding).substr(0, std::min(padding.size(), total_ - sent_)));
    }
    sent_ += n;
    return n > 0;
  }
  bool done() const { return sent_ == total_; }
  std::size_t sent() const { return sent_; }
  RawConnection& connection() { return conn_; }

 private:
  RawConnection conn_;
  std::string start_;
  std::size_t total_;
  std::size_t sent_ = 0;
};

// Pushes every sender until all are done or none made progress for `stall`; returns the
// largest RSS seen meanwhile.
std::uint64_t push_all(Served& served, std::vector<std::unique_ptr<FrameSender>>& senders,
                       std::chrono::milliseconds stall, std::chrono::seconds limit) {
  const std::string padding(1 << 20, '\0');
  std::uint64_t peak_kib = served.rss_kib();
  const auto deadline = Clock::now() + limit;
  auto progress_at = Clock::now();
  while (Clock::now() < deadline && Clock::now() - progress_at < stall) {
    bool progressed = false;
    for (auto& sender : senders)
      progressed = sender->push(padding) || progressed;
    if (std::all_of(senders.begin(), senders.end(), [](auto& s) { return s->done(); })) break;
    if (progressed) {
      progress_at = Clock::now();
    } else {
      peak_kib = std::max(peak_kib, served.rss_kib());
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  return std::max(peak_kib, served.rss_kib());
}

// A Kafka round trip on a fresh connection: the server still answers small requests.
bool answers_api_versions(const std::string& address) {
  KafkaConnection kafka(address);
  return kafka.call<kafka::ApiVersionsResponse>(kafka::ApiVersionsRequest{}, 0).error_code == 0;
}

}  // namespace

TEST_CASE("hardening: 8 connections holding unfinished 100 MiB Kafka frames stay in the bound") {
  TempDir dir;
  Served served(dir.path() + "/data");
  REQUIRE(answers_api_versions(served.kafka_address()));
  const std::uint64_t baseline_kib = served.rss_kib();

  std::vector<std::unique_ptr<FrameSender>> senders;
  for (int i = 0; i < 8; ++i) {
    // Everything but the last byte: the frame never completes.
    senders.push_back(std::make_unique<FrameSender>(served.kafka_address(), 4 + kFrameBytes - 1));
  }
  const std::uint64_t peak_kib =
      push_all(served, senders, std::chrono::milliseconds(1500), std::chrono::seconds(30));
  std::size_t sent = 0;
  for (auto& sender : senders)
    sent += sender->sent();
  CAPTURE(baseline_kib);
  CAPTURE(peak_kib);
  CAPTURE(sent);
  // The budget takes two 100 MiB frames; the others wait unread after their first chunk (what
  // went beyond that sits in kernel socket buffers).
  CHECK(sent < 4 * kFrameBytes);
  CHECK(peak_kib <= baseline_kib + kRequestBudgetKib + 8 * kPerConnectionKib);
  // Small requests from others still flow while the budget is spent.
  CHECK(answers_api_versions(served.kafka_address()));

  senders.clear();  // the clients give up: their frames' memory is given back
  CHECK(testing::wait_until(std::chrono::seconds(10),
                            [&] { return served.rss_kib() <= baseline_kib + 32 * kMiB; }));
  CHECK(answers_api_versions(served.kafka_address()));
  CHECK(served.stop() == 0);
}

TEST_CASE("hardening: 100 MiB Kafka frames waiting for the request budget are all served") {
  TempDir dir;
  Served served(dir.path() + "/data");
  REQUIRE(answers_api_versions(served.kafka_address()));
  const std::uint64_t baseline_kib = served.rss_kib();

  std::vector<std::unique_ptr<FrameSender>> senders;
  for (int i = 0; i < 5; ++i)
    senders.push_back(std::make_unique<FrameSender>(served.kafka_address(), 4 + kFrameBytes));
  const std::uint64_t peak_kib =
      push_all(served, senders, std::chrono::seconds(10), std::chrono::seconds(40));
  CAPTURE(baseline_kib);
  CAPTURE(peak_kib);
  // Two at a time fit the budget; each one answered resumes a waiting one (no lost wake-up).
  for (auto& sender : senders) {
    CHECK(sender->done());
    const std::string size = sender->connection().bytes(4, 10000);
    CHECK(size.size() == 4);  // the ApiVersions answer arrives
  }
  CHECK(peak_kib <= baseline_kib + kRequestBudgetKib + 5 * kPerConnectionKib);
  CHECK(served.stop() == 0);
}

namespace {

constexpr int kConnections = 8;
constexpr int kPerConnection = 2500;  // 8 x 2,500 = 20,000 (below max_pending_requests, 4096)

kafka::JoinGroupRequest join_request(const std::string& group) {
  kafka::JoinGroupRequest r;
  r.group_id = group;
  r.session_timeout_ms = 1000;
  r.rebalance_timeout_ms = 1000;
  r.protocol_type = "consumer";
  r.protocols = {{"range", kafka::Bytes(64, std::byte{1})}};
  return r;
}

// 20,000 groups joined and then abandoned (no SyncGroup, no heartbeat): each JoinGroup is
// answered once the group's initial window closes, then its member's session expires.
void abandon_groups(const std::string& address, const std::string& prefix) {
  std::vector<std::unique_ptr<KafkaConnection>> conns;
  for (int c = 0; c < kConnections; ++c) {
    conns.push_back(std::make_unique<KafkaConnection>(address));
    for (int i = 0; i < kPerConnection; ++i)
      conns.back()->send(join_request(prefix + std::to_string(c * kPerConnection + i)), 3);
  }
  for (auto& conn : conns) {
    for (int i = 0; i < kPerConnection; ++i)
      REQUIRE(conn->read<kafka::JoinGroupResponse>(3).error_code == 0);
  }
}

kafka::ProduceRequest idempotent_produce(std::int64_t producer_id, std::int32_t sequence) {
  BatchOptions o;
  o.producer_id = producer_id;
  o.producer_epoch = 0;
  o.base_sequence = sequence;
  return kafka::test::produce_request("p", kafka::test::batch_of({"x"}, o));
}

// 20,000 InitProducerId and one idempotent Produce each; returns the producer ids.
std::vector<std::int64_t> idle_producers(const std::string& address) {
  std::vector<std::unique_ptr<KafkaConnection>> conns;
  std::vector<std::int64_t> ids;
  for (int c = 0; c < kConnections; ++c) {
    conns.push_back(std::make_unique<KafkaConnection>(address));
    for (int i = 0; i < kPerConnection; ++i)
      conns.back()->send(kafka::InitProducerIdRequest{std::nullopt, 60000}, 1);
  }
  for (auto& conn : conns) {
    std::vector<std::int64_t> mine;
    for (int i = 0; i < kPerConnection; ++i) {
      const auto r = conn->read<kafka::InitProducerIdResponse>(1);
      REQUIRE(r.error_code == 0);
      mine.push_back(r.producer_id);
    }
    for (const std::int64_t id : mine)
      conn->send(idempotent_produce(id, 0), 7);
    for (std::size_t i = 0; i < mine.size(); ++i) {
      const auto r = conn->read<kafka::ProduceResponse>(7);
      REQUIRE(r.responses.at(0).partitions.at(0).error_code == 0);
    }
    ids.insert(ids.end(), mine.begin(), mine.end());
  }
  return ids;
}

// The generation a fresh member of `group` gets: 1 for a group the server does not know.
std::int32_t generation_on_join(const std::string& address, const std::string& group) {
  KafkaConnection kafka(address);
  return kafka.call<kafka::JoinGroupResponse>(join_request(group), 3).generation_id;
}

std::int16_t produce_error(const std::string& address, std::int64_t producer_id,
                           std::int32_t sequence) {
  KafkaConnection kafka(address);
  const auto r = kafka.call<kafka::ProduceResponse>(idempotent_produce(producer_id, sequence), 7);
  return r.responses.at(0).partitions.at(0).error_code;
}

}  // namespace

TEST_CASE("hardening: 20,000 abandoned groups and 20,000 producer ids expire, memory is reused") {
  TempDir dir;
  // Requests on one connection run one at a time (as in Kafka), so each JoinGroup of a new
  // group is answered at once, without the initial rebalance delay.
  Served served(dir.path() + "/data",
                {"--durability", "never", "--kafka-empty-group-expiration", "1s",
                 "--kafka-producer-id-expiration", "4s", "--kafka-group-initial-delay", "0s"});
  const std::string address = served.kafka_address();
  {
    KafkaConnection kafka(address);  // creates topic p with a plain write
    const auto r = kafka.call<kafka::ProduceResponse>(
        kafka::test::produce_request("p", kafka::test::batch_of({"x"})), 7);
    REQUIRE(r.responses.at(0).partitions.at(0).error_code == 0);
  }
  const std::uint64_t baseline_kib = served.rss_kib();
  const std::uint64_t bound_kib =
      baseline_kib + kConnections * kPerConnectionKib + 20'000 * (kPerGroupKib + kPerProducerKib);
  std::uint64_t after_first_kib = 0;
  for (int round = 0; round < 2; ++round) {
    CAPTURE(round);
    const std::string prefix = "r" + std::to_string(round) + "-g";
    abandon_groups(address, prefix);
    const std::vector<std::int64_t> ids = idle_producers(address);
    REQUIRE(ids.size() == 20'000u);
    const std::uint64_t loaded_kib = served.rss_kib();
    CAPTURE(baseline_kib);
    CAPTURE(loaded_kib);
    CHECK(loaded_kib <= bound_kib);
    // Before expiry the server remembers the last producer's sequence (it wrote just now): 5 is
    // a gap.
    CHECK(produce_error(address, ids.back(), 5) == kafka::error::kOutOfOrderSequenceNumber);
    // Producer states expire 4 s after their last write: then the producer is new again (any
    // sequence is accepted). A refused write changes nothing, so this may poll.
    CHECK(testing::wait_until(
        std::chrono::seconds(20), [&] { return produce_error(address, ids.back(), 7) == 0; },
        std::chrono::milliseconds(250)));
    // By then the groups are gone too: their sessions expired 1 s after their JoinGroups were
    // answered (before the producers started) and Empty groups go 1 s after that (ticks come
    // every 0.5 s at most). A group that was joined at generation 1 is new again, not at 2.
    CHECK(generation_on_join(address, prefix + "0") == 1);
    const std::uint64_t expired_kib = served.rss_kib();
    CAPTURE(expired_kib);
    CHECK(expired_kib <= bound_kib);
    if (round == 0) {
      after_first_kib = expired_kib;
    } else {
      // Without expiry the second round added about 90 MiB more.
      CHECK(expired_kib <= after_first_kib + 16 * kMiB);
    }
  }
  CHECK(served.stop() == 0);
}

}  // namespace ringlog::hardening
