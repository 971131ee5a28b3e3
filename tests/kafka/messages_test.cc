// Every message at every advertised version: encode, decode, compare; every strict prefix of an
// encoding is refused; golden bytes for the layouts that clients are picky about.
#include <doctest/doctest.h>

#include <functional>
#include <random>

#include "kafka_test_support.h"
#include "protocol/kafka/api.h"
#include "protocol/kafka/frame.h"
#include "protocol/kafka/messages.h"

namespace ringlog::kafka {
namespace {

using test::bytes_of;
using test::encoded;
using test::hex;
using test::text_bytes;

// Samples fill every field their version has with a non-default value and leave the others
// at their defaults, so that a round trip compares equal only if every field made it.

ApiVersionsRequest sample_api_versions_request(std::int16_t v) {
  ApiVersionsRequest m;
  if (v >= 3) {
    m.client_software_name = "librdkafka";
    m.client_software_version = "2.0.2";
  }
  return m;
}
ApiVersionsResponse sample_api_versions_response(std::int16_t v) {
  ApiVersionsResponse m;
  m.error_code = 0;
  m.api_keys = {{0, 3, 7}, {1, 4, 11}, {18, 0, 3}};
  if (v >= 1) m.throttle_time_ms = 5;
  return m;
}
MetadataRequest sample_metadata_request(std::int16_t v) {
  MetadataRequest m;
  m.topics = std::vector<std::string>{"orders", "events"};
  if (v >= 4) m.allow_auto_topic_creation = false;
  return m;
}
MetadataResponse sample_metadata_response(std::int16_t v) {
  MetadataResponse m;
  if (v >= 3) m.throttle_time_ms = 7;
  m.brokers = {{3, "127.0.0.1", 9092, v >= 1 ? std::optional<std::string>("r1") : std::nullopt}};
  if (v >= 2) m.cluster_id = "ringlog";
  if (v >= 1) m.controller_id = 3;
  MetadataResponse::Topic t;
  t.error_code = 0;
  t.name = "orders";
  if (v >= 1) t.is_internal = true;
  t.partitions = {{0, 0, 3, {3}, {3}}, {5, 1, 3, {3, 4}, {}}};
  m.topics = {t, {3, "missing", false, {}}};
  return m;
}
ProduceRequest sample_produce_request(std::int16_t) {
  ProduceRequest m;
  m.transactional_id = std::nullopt;
  m.acks = 1;
  m.timeout_ms = 30000;
  m.topics = {{"orders", {{0, bytes_of({1, 2, 3})}, {1, std::nullopt}}}, {"b", {}}};
  return m;
}
ProduceResponse sample_produce_response(std::int16_t v) {
  ProduceResponse m;
  ProduceResponse::Partition p{2, 0, 42, -1, -1};
  if (v >= 2) p.log_append_time_ms = 1700000000000;
  if (v >= 5) p.log_start_offset = 10;
  m.responses = {{"orders", {p, {3, 45, -1, -1, -1}}}};
  if (v >= 1) m.throttle_time_ms = 9;
  return m;
}
FetchRequest sample_fetch_request(std::int16_t v) {
  FetchRequest m;
  m.max_wait_ms = 500;
  m.min_bytes = 1;
  if (v >= 3) m.max_bytes = 52428800;
  if (v >= 4) m.isolation_level = 1;
  if (v >= 7) {
    m.session_id = 0;
    m.session_epoch = -1;
    m.forgotten_topics_data = {{"old", {1, 2}}};
  }
  FetchRequest::Partition p;
  p.partition = 1;
  if (v >= 9) p.current_leader_epoch = 4;
  p.fetch_offset = 123;
  if (v >= 5) p.log_start_offset = 0;
  p.partition_max_bytes = 1048576;
  m.topics = {{"orders", {p}}};
  if (v >= 11) m.rack_id = "rack-a";
  return m;
}
FetchResponse sample_fetch_response(std::int16_t v) {
  FetchResponse m;
  if (v >= 1) m.throttle_time_ms = 1;
  if (v >= 7) {
    m.error_code = 0;
    m.session_id = 0;
  }
  FetchResponse::Partition p;
  p.partition_index = 1;
  p.high_watermark = 200;
  if (v >= 4) {
    p.last_stable_offset = 200;
    p.aborted_transactions = std::vector<FetchResponse::AbortedTransaction>{{7, 8}};
  }
  if (v >= 5) p.log_start_offset = 3;
  if (v >= 11) p.preferred_read_replica = -1;
  p.records.bytes = bytes_of({9, 8, 7, 6});
  FetchResponse::Partition empty;
  empty.error_code = 1;
  if (v >= 4) empty.aborted_transactions.emplace();
  m.responses = {{"orders", {p, empty}}};
  return m;
}
ListOffsetsRequest sample_list_offsets_request(std::int16_t v) {
  ListOffsetsRequest m;
  if (v >= 2) m.isolation_level = 1;
  ListOffsetsRequest::Partition p{2, kEarliestTimestamp, 1};
  if (v == 0) p.max_num_offsets = 3;
  m.topics = {{"orders", {p, {0, 1700000000000, 1}}}};
  return m;
}
ListOffsetsResponse sample_list_offsets_response(std::int16_t v) {
  ListOffsetsResponse m;
  if (v >= 2) m.throttle_time_ms = 2;
  ListOffsetsResponse::Partition p;
  p.partition_index = 2;
  if (v == 0) {
    p.old_style_offsets = {55};
  } else {
    p.timestamp = -1;
    p.offset = 55;
  }
  m.topics = {{"orders", {p}}};
  return m;
}
FindCoordinatorRequest sample_find_coordinator_request(std::int16_t v) {
  FindCoordinatorRequest m;
  m.key = "grp";
  if (v >= 1) m.key_type = 1;
  return m;
}
FindCoordinatorResponse sample_find_coordinator_response(std::int16_t v) {
  FindCoordinatorResponse m;
  if (v >= 1) {
    m.throttle_time_ms = 3;
    m.error_message = "none";
  }
  m.node_id = 0;
  m.host = "127.0.0.1";
  m.port = 9092;
  return m;
}
JoinGroupRequest sample_join_group_request(std::int16_t v) {
  JoinGroupRequest m;
  m.group_id = "grp";
  m.session_timeout_ms = 45000;
  m.rebalance_timeout_ms = v >= 1 ? 300000 : 45000;  // v0 decodes it as the session timeout
  m.member_id = "rdkafka-1";
  if (v >= 5) m.group_instance_id = "static-1";
  m.protocol_type = "consumer";
  m.protocols = {{"range", bytes_of({0, 1})}, {"roundrobin", {}}};
  return m;
}
JoinGroupResponse sample_join_group_response(std::int16_t v) {
  JoinGroupResponse m;
  if (v >= 2) m.throttle_time_ms = 4;
  m.generation_id = 3;
  m.protocol_name = "range";
  m.leader = "a";
  m.member_id = "a";
  m.members = {{"a", v >= 5 ? std::optional<std::string>("s") : std::nullopt, bytes_of({1})},
               {"b", std::nullopt, {}}};
  return m;
}
SyncGroupRequest sample_sync_group_request(std::int16_t v) {
  SyncGroupRequest m;
  m.group_id = "grp";
  m.generation_id = 3;
  m.member_id = "a";
  if (v >= 3) m.group_instance_id = "s";
  m.assignments = {{"a", bytes_of({1, 2})}, {"b", {}}};
  return m;
}
SyncGroupResponse sample_sync_group_response(std::int16_t v) {
  SyncGroupResponse m;
  if (v >= 1) m.throttle_time_ms = 6;
  m.error_code = 27;
  m.assignment = bytes_of({0, 1, 0});
  return m;
}
HeartbeatRequest sample_heartbeat_request(std::int16_t v) {
  HeartbeatRequest m{"grp", 3, "a", std::nullopt};
  if (v >= 3) m.group_instance_id = "s";
  return m;
}
HeartbeatResponse sample_heartbeat_response(std::int16_t v) {
  return {v >= 1 ? 8 : 0, 22};
}
LeaveGroupRequest sample_leave_group_request(std::int16_t) {
  return {"grp", "a"};
}
LeaveGroupResponse sample_leave_group_response(std::int16_t v) {
  return {v >= 1 ? 8 : 0, 25};
}
OffsetCommitRequest sample_offset_commit_request(std::int16_t v) {
  OffsetCommitRequest m;
  m.group_id = "grp";
  if (v >= 1) {
    m.generation_id = 3;
    m.member_id = "a";
  }
  if (v >= 7) m.group_instance_id = "s";
  if (v >= 2 && v <= 4) m.retention_time_ms = 86400000;
  OffsetCommitRequest::Partition p;
  p.partition_index = 1;
  p.committed_offset = 77;
  if (v >= 6) p.committed_leader_epoch = 0;
  if (v == 1) p.commit_timestamp = 1700000000000;
  p.committed_metadata = "meta";
  m.topics = {{"orders", {p, {0, 5, -1, -1, std::nullopt}}}};
  if (v >= 6) m.topics[0].partitions[1].committed_leader_epoch = 2;
  return m;
}
OffsetCommitResponse sample_offset_commit_response(std::int16_t v) {
  OffsetCommitResponse m;
  if (v >= 3) m.throttle_time_ms = 1;
  m.topics = {{"orders", {{1, 0}, {2, 22}}}};
  return m;
}
OffsetFetchRequest sample_offset_fetch_request(std::int16_t) {
  OffsetFetchRequest m;
  m.group_id = "grp";
  m.topics = std::vector<OffsetFetchRequest::Topic>{{"orders", {0, 1}}};
  return m;
}
OffsetFetchResponse sample_offset_fetch_response(std::int16_t v) {
  OffsetFetchResponse m;
  if (v >= 3) m.throttle_time_ms = 2;
  OffsetFetchResponse::Partition p{0, 77, -1, "meta", 0};
  if (v >= 5) p.committed_leader_epoch = 1;
  m.topics = {{"orders", {p, {1, -1, -1, std::nullopt, 0}}}};
  if (v >= 2) m.error_code = 16;
  return m;
}
InitProducerIdRequest sample_init_producer_id_request(std::int16_t) {
  return {std::nullopt, 60000};
}
InitProducerIdResponse sample_init_producer_id_response(std::int16_t) {
  return {0, 0, 1000, 0};
}

template <typename M>
void check_round_trip_and_truncation(M (*sample)(std::int16_t)) {
  const ApiRange* api = find_api(static_cast<std::int16_t>(M::kApiKey));
  REQUIRE(api != nullptr);
  for (std::int16_t v = api->min_version; v <= api->max_version; ++v) {
    CAPTURE(api->name);
    CAPTURE(v);
    const M message = sample(v);
    const Bytes bytes = encoded(message, v);
    Result<M> back = decode<M>(bytes, v);
    REQUIRE(back.has_value());
    CHECK(*back == message);
    CHECK(encoded(*back, v) == bytes);
    for (std::size_t cut = 0; cut < bytes.size(); ++cut) {
      CAPTURE(cut);
      CHECK_FALSE(decode<M>(std::span<const std::byte>(bytes).first(cut), v).has_value());
    }
  }
  CHECK_FALSE(decode<M>(encoded(sample(api->max_version), api->max_version),
                        static_cast<std::int16_t>(api->max_version + 1))
                  .has_value());
}

TEST_CASE("kafka messages: every advertised version round-trips and refuses every truncation") {
  check_round_trip_and_truncation(sample_api_versions_request);
  check_round_trip_and_truncation(sample_api_versions_response);
  check_round_trip_and_truncation(sample_metadata_request);
  check_round_trip_and_truncation(sample_metadata_response);
  check_round_trip_and_truncation(sample_produce_request);
  check_round_trip_and_truncation(sample_produce_response);
  check_round_trip_and_truncation(sample_fetch_request);
  check_round_trip_and_truncation(sample_fetch_response);
  check_round_trip_and_truncation(sample_list_offsets_request);
  check_round_trip_and_truncation(sample_list_offsets_response);
  check_round_trip_and_truncation(sample_find_coordinator_request);
  check_round_trip_and_truncation(sample_find_coordinator_response);
  check_round_trip_and_truncation(sample_join_group_request);
  check_round_trip_and_truncation(sample_join_group_response);
  check_round_trip_and_truncation(sample_sync_group_request);
  check_round_trip_and_truncation(sample_sync_group_response);
  check_round_trip_and_truncation(sample_heartbeat_request);
  check_round_trip_and_truncation(sample_heartbeat_response);
  check_round_trip_and_truncation(sample_leave_group_request);
  check_round_trip_and_truncation(sample_leave_group_response);
  check_round_trip_and_truncation(sample_offset_commit_request);
  check_round_trip_and_truncation(sample_offset_commit_response);
  check_round_trip_and_truncation(sample_offset_fetch_request);
  check_round_trip_and_truncation(sample_offset_fetch_response);
  check_round_trip_and_truncation(sample_init_producer_id_request);
  check_round_trip_and_truncation(sample_init_producer_id_response);
}

TEST_CASE("kafka messages: ApiVersions v3 response is compact, behind a v0 header") {
  ApiVersionsResponse m;
  m.api_keys = {{18, 0, 3}};
  m.throttle_time_ms = 0;
  Writer w = begin_response(0x01020304, response_header_is_flexible(18, 3));
  encode(w, m, 3);
  const OutFrame frame = finish_response(std::move(w));
  // size | correlation id (no tag byte) | error | uvarint(1+1) | key min max tags | throttle | tags
  CHECK(hex(frame.bytes) ==
        "00000013"
        "01020304"
        "0000"
        "02"
        "0012"
        "0000"
        "0003"
        "00"
        "00000000"
        "00");
}

TEST_CASE("kafka messages: an unknown ApiVersions version gets error 35 in the v0 layout") {
  Writer w;
  encode_api_versions_unsupported(w);
  CHECK(hex(std::move(w).take().bytes) ==
        "0023"
        "00000001"
        "0012"
        "0000"
        "0003");
}

TEST_CASE("kafka messages: Produce response puts throttle_time_ms last") {
  ProduceResponse m;
  m.responses = {{"t", {{0, 0, 5, -1, 0}}}};
  m.throttle_time_ms = 0x11223344;
  const std::string h = hex(encoded(m, 7));
  CHECK(h ==
        "00000001"
        "0001"
        "74"
        "00000001"
        "00000000"
        "0000"
        "0000000000000005"
        "ffffffffffffffff"
        "0000000000000000"
        "11223344");
}

TEST_CASE("kafka messages: Fetch v11 partition header and an empty record set of length 0") {
  FetchResponse m;
  FetchResponse::Partition p;
  p.high_watermark = 2;
  p.last_stable_offset = 2;
  p.log_start_offset = 0;
  p.aborted_transactions.emplace();
  m.responses = {{"t", {p}}};
  CHECK(hex(encoded(m, 11)) ==
        "00000000"
        "0000"
        "00000000"
        "00000001"
        "0001"
        "74"
        "00000001"
        "00000000"
        "0000"
        "0000000000000002"
        "0000000000000002"
        "0000000000000000"
        "00000000"
        "ffffffff"
        "00000000");
}

TEST_CASE("kafka messages: Metadata v0 treats an empty topic list as all topics, v1 null") {
  MetadataRequest all;  // topics null
  CHECK(hex(encoded(all, 0)) == "00000000");
  CHECK(hex(encoded(all, 1)) == "ffffffff");
  auto v0 = decode<MetadataRequest>(bytes_of({0, 0, 0, 0}), 0);
  REQUIRE(v0);
  REQUIRE(v0->topics.has_value());
  CHECK(v0->topics->empty());
  auto v1 = decode<MetadataRequest>(bytes_of({0xff, 0xff, 0xff, 0xff}), 1);
  REQUIRE(v1);
  CHECK_FALSE(v1->topics.has_value());
}

TEST_CASE("kafka messages: ApiVersions v3 request skips unknown tagged fields") {
  // name "a", version "1", then a tag buffer with one field (tag 5, 2 bytes).
  const Bytes body = bytes_of({2, 'a', 2, '1', 1, 5, 2, 0xAA, 0xBB});
  auto m = decode<ApiVersionsRequest>(body, 3);
  REQUIRE(m);
  CHECK(m->client_software_name == "a");
  CHECK(m->client_software_version == "1");
}

TEST_CASE("kafka messages: hostile counts and lengths are refused without allocating") {
  SUBCASE("negative string length") {
    CHECK_FALSE(decode<FindCoordinatorRequest>(bytes_of({0xff, 0xfe}), 0).has_value());
  }
  SUBCASE("array count larger than the frame") {
    CHECK_FALSE(decode<MetadataRequest>(bytes_of({0x7f, 0xff, 0xff, 0xff}), 1).has_value());
  }
  SUBCASE("null where the schema has no null") {
    // Produce v3: transactional_id null, acks, timeout, topics = null (not nullable).
    const Bytes body = bytes_of({0xff, 0xff, 0, 1, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff});
    CHECK_FALSE(decode<ProduceRequest>(body, 3).has_value());
  }
  SUBCASE("negative bytes length") {
    // JoinGroup v0 with protocol metadata length -2.
    Bytes body = encoded(sample_join_group_request(0), 0);
    REQUIRE(body.size() >= 4);
    body.erase(body.end() - 4, body.end());  // drop the last protocol's empty metadata length
    for (int b : {0xff, 0xff, 0xff, 0xfe})
      body.push_back(static_cast<std::byte>(b));
    CHECK_FALSE(decode<JoinGroupRequest>(body, 0).has_value());
  }
  SUBCASE("uvarint longer than 5 bytes") {
    const Bytes body = bytes_of({0x80, 0x80, 0x80, 0x80, 0x80, 0x01});
    CHECK_FALSE(decode<ApiVersionsRequest>(body, 3).has_value());
  }
}

TEST_CASE("kafka messages: v0 JoinGroup takes the session timeout as the rebalance timeout") {
  JoinGroupRequest m = sample_join_group_request(0);
  auto back = decode<JoinGroupRequest>(encoded(m, 0), 0);
  REQUIRE(back);
  CHECK(back->rebalance_timeout_ms == 45000);
}

template <typename... Ms>
void decode_random(const Bytes& body, std::int16_t version) {
  // Only "does not crash or read out of bounds" is checked (ASan makes that strict).
  ((void)decode<Ms>(body, version), ...);
}

TEST_CASE("kafka messages: random and mutated bodies never crash a decoder") {
  const std::uint64_t seed = std::random_device{}();
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  const std::vector<Bytes> seeds = {
      encoded(sample_fetch_request(11), 11),    encoded(sample_produce_request(7), 7),
      encoded(sample_join_group_request(5), 5), encoded(sample_offset_commit_request(7), 7),
      encoded(sample_metadata_response(4), 4),  encoded(sample_api_versions_request(3), 3)};
  for (int i = 0; i < 3000; ++i) {
    Bytes body = seeds[rng() % seeds.size()];
    if (i % 3 == 0) body.resize(rng() % 64);  // random length, then random bytes
    for (int flips = 1 + static_cast<int>(rng() % 4); flips > 0 && !body.empty(); --flips) {
      body[rng() % body.size()] = static_cast<std::byte>(rng());
    }
    const auto version = static_cast<std::int16_t>(rng() % 12);
    decode_random<ApiVersionsRequest, MetadataRequest, ProduceRequest, FetchRequest,
                  ListOffsetsRequest, FindCoordinatorRequest, JoinGroupRequest, SyncGroupRequest,
                  HeartbeatRequest, LeaveGroupRequest, OffsetCommitRequest, OffsetFetchRequest,
                  InitProducerIdRequest, FetchResponse, MetadataResponse, ApiVersionsResponse>(
        body, version);
  }
}

}  // namespace
}  // namespace ringlog::kafka
