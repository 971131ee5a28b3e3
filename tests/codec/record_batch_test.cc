// BatchBuilder and BatchView: what is built reads back, field by field.
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <vector>

#include "codec/codec_support.h"
#include "engine/crc32c.h"
#include "ringlog/batch.h"

namespace ringlog {
namespace {

using test::from_hex;
using test::to_string;

constexpr std::int64_t kT0 = 1'700'000'000'000;

std::vector<RecordView> records_of(const BatchView& batch) {
  std::vector<RecordView> out;
  auto range = batch.records();
  for (const RecordView& r : range)
    out.push_back(r);
  REQUIRE(range.status() == ParseStatus::kOk);
  return out;
}

BatchView parse_ok(std::span<const std::byte> bytes) {
  const ParsedBatch parsed = parse_batch(bytes, {.validate_records = true});
  REQUIRE(parse_status_name(parsed.status) == "ok");
  REQUIRE(parsed.bytes == bytes.size());
  return parsed.batch;
}

TEST_CASE("batch: layout constants match Kafka's DefaultRecordBatch offsets") {
  CHECK(kBatchHeaderBytes == 61);
  CHECK(kRecordCountAt == 57);
  CHECK(kCrcAt == 17);
  CHECK(kAttributesAt == 21);
  CHECK(kBatchLengthFieldEnd == 12);
}

TEST_CASE("batch: a one-record batch exposes every header field it was built with") {
  BatchBuilder builder(BatchOptions{.base_offset = 42,
                                    .leader_epoch = 7,
                                    .producer_id = 1234,
                                    .producer_epoch = 3,
                                    .base_sequence = 99});
  builder.add(as_bytes("k"), as_bytes("v"), {}, kT0);
  CHECK(builder.record_count() == 1);
  const std::size_t expected_size = builder.size_bytes();
  const auto bytes = builder.finish();
  CHECK(bytes.size() == expected_size);

  const BatchView batch = parse_ok(bytes);
  CHECK(batch.size_bytes() == bytes.size());
  CHECK(batch.base_offset() == 42);
  CHECK(batch.batch_length() == static_cast<std::int32_t>(bytes.size() - 12));
  CHECK(batch.leader_epoch() == 7);
  CHECK(batch.magic() == 2);
  CHECK(batch.crc() == batch.compute_crc());
  CHECK(batch.crc() == crc32c(bytes.subspan(21)));
  CHECK(batch.attributes() == 0);
  CHECK(batch.last_offset_delta() == 0);
  CHECK(batch.base_timestamp_ms() == kT0);
  CHECK(batch.max_timestamp_ms() == kT0);
  CHECK(batch.producer_id() == 1234);
  CHECK(batch.producer_epoch() == 3);
  CHECK(batch.base_sequence() == 99);
  CHECK(batch.record_count() == 1);
  CHECK(batch.last_offset() == 42);
  CHECK(batch.next_offset() == 43);
  CHECK(batch.compression() == Compression::kNone);
  CHECK_FALSE(batch.is_compressed());
  CHECK_FALSE(batch.is_control());
  CHECK_FALSE(batch.is_transactional());
  CHECK_FALSE(batch.is_log_append_time());

  const BatchHeader header = read_batch_header(bytes);
  CHECK(header.base_offset == 42);
  CHECK(header.crc == batch.crc());
  CHECK(header.record_count == 1);
  CHECK(header.producer_epoch == 3);
}

TEST_CASE("batch: default options write Kafka's 'none' markers") {
  BatchBuilder builder;
  builder.add("k", "v", {}, kT0);
  const BatchView batch = parse_ok(builder.finish());
  CHECK(batch.base_offset() == 0);
  CHECK(batch.leader_epoch() == -1);
  CHECK(batch.producer_id() == -1);
  CHECK(batch.producer_epoch() == -1);
  CHECK(batch.base_sequence() == -1);
}

TEST_CASE("batch: transactional and control options set attribute bits 4 and 5") {
  BatchBuilder builder(BatchOptions{.transactional = true, .control = true});
  builder.add("k", "v", {}, kT0);
  const BatchView batch = parse_ok(builder.finish());
  CHECK(batch.is_transactional());
  CHECK(batch.is_control());
  CHECK(batch.attributes() == 0x30);
}

TEST_CASE("batch: null and empty keys and values round trip distinctly") {
  BatchBuilder builder;
  const std::span<const std::byte> empty;
  builder.add(std::nullopt, as_bytes("null key"), {}, kT0);
  builder.add(empty, as_bytes("empty key"), {}, kT0);
  builder.add(as_bytes("null value"), std::nullopt, {}, kT0);
  builder.add(as_bytes("empty value"), empty, {}, kT0);
  builder.add(std::nullopt, std::nullopt, {}, kT0);
  const auto records = records_of(parse_ok(builder.finish()));
  REQUIRE(records.size() == 5);

  CHECK_FALSE(records[0].key.has_value());
  CHECK(to_string(records[0].value) == "null key");
  REQUIRE(records[1].key.has_value());
  CHECK(records[1].key->empty());
  CHECK(to_string(records[2].key) == "null value");
  CHECK_FALSE(records[2].value.has_value());
  REQUIRE(records[3].value.has_value());
  CHECK(records[3].value->empty());
  CHECK_FALSE(records[4].key.has_value());
  CHECK_FALSE(records[4].value.has_value());
  for (std::size_t i = 0; i < records.size(); ++i)
    CHECK(records[i].offset == std::int64_t(i));
}

TEST_CASE("batch: record headers round trip, including a null header value") {
  const std::string big(300, 'h');
  const RecordHeader headers[] = {
      {"trace-id", as_bytes("abc123")},
      {"tombstone", std::nullopt},
      {"", as_bytes("")},
      {"big", as_bytes(big)},
  };
  BatchBuilder builder;
  builder.add(as_bytes("key"), as_bytes("value"), headers, kT0);
  builder.add("no", "headers", {}, kT0);
  const auto records = records_of(parse_ok(builder.finish()));
  REQUIRE(records.size() == 2);

  CHECK(records[0].header_count == 4);
  std::vector<RecordHeader> seen;
  for (const RecordHeader& h : records[0].headers())
    seen.push_back(h);
  REQUIRE(seen.size() == 4);
  CHECK(seen[0].key == "trace-id");
  CHECK(to_string(seen[0].value) == "abc123");
  CHECK(seen[1].key == "tombstone");
  CHECK_FALSE(seen[1].value.has_value());
  CHECK(seen[2].key.empty());
  REQUIRE(seen[2].value.has_value());
  CHECK(seen[2].value->empty());
  CHECK(seen[3].key == "big");
  CHECK(to_string(seen[3].value) == big);

  CHECK(records[1].header_count == 0);
  CHECK(records[1].headers().begin() == std::default_sentinel);
}

TEST_CASE("batch: 10,000 records keep their order, offsets, keys, values and timestamps") {
  constexpr int kCount = 10'000;
  BatchBuilder builder(BatchOptions{.base_offset = 1'000'000});
  for (int i = 0; i < kCount; ++i) {
    const std::string key = "key-" + std::to_string(i);
    const std::string value(static_cast<std::size_t>(i % 257), static_cast<char>('a' + i % 26));
    // Timestamps wander backwards and forwards around kT0.
    builder.add(as_bytes(key), as_bytes(value), {}, kT0 + (i % 7) * 1000 - (i % 3) * 5000);
  }
  const BatchView batch = parse_ok(builder.finish());
  CHECK(batch.record_count() == kCount);
  CHECK(batch.last_offset_delta() == kCount - 1);
  CHECK(batch.last_offset() == 1'000'000 + kCount - 1);
  CHECK(batch.base_timestamp_ms() == kT0);
  CHECK(batch.max_timestamp_ms() == kT0 + 6000);

  int i = 0;
  auto range = batch.records();
  for (const RecordView& r : range) {
    CAPTURE(i);
    CHECK(r.offset == 1'000'000 + i);
    CHECK(r.timestamp_ms == kT0 + (i % 7) * 1000 - (i % 3) * 5000);
    CHECK(to_string(r.key) == "key-" + std::to_string(i));
    CHECK(r.value->size() == static_cast<std::size_t>(i % 257));
    ++i;
  }
  CHECK(range.status() == ParseStatus::kOk);
  CHECK(i == kCount);
}

TEST_CASE("batch: timestamp deltas at the int64 extremes round trip") {
  BatchBuilder builder;
  builder.add("a", "1", {}, 0);
  builder.add("b", "2", {}, std::numeric_limits<std::int64_t>::max());
  builder.add("c", "3", {}, std::numeric_limits<std::int64_t>::min());
  const auto records = records_of(parse_ok(builder.finish()));
  REQUIRE(records.size() == 3);
  CHECK(records[0].timestamp_ms == 0);
  CHECK(records[1].timestamp_ms == std::numeric_limits<std::int64_t>::max());
  CHECK(records[2].timestamp_ms == std::numeric_limits<std::int64_t>::min());
}

TEST_CASE("batch: kTimestampNow stamps the wall clock") {
  using namespace std::chrono;
  const auto before = duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  BatchBuilder builder;
  builder.add("k", "v");
  const auto after = duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  const auto records = records_of(parse_ok(builder.finish()));
  CHECK(records[0].timestamp_ms >= before);
  CHECK(records[0].timestamp_ms <= after);
}

TEST_CASE("batch: reset builds the next batch in the same buffer with identical encoding") {
  BatchBuilder builder;
  builder.add("k", std::string(5000, 'x'), {}, kT0);
  const auto first = builder.finish();
  const std::vector<std::byte> first_copy(first.begin(), first.end());
  const std::byte* buffer = first.data();

  builder.reset();
  CHECK(builder.record_count() == 0);
  CHECK(builder.size_bytes() == kBatchHeaderBytes);
  builder.add("k", std::string(5000, 'x'), {}, kT0);
  const auto second = builder.finish();
  CHECK(second.data() == buffer);  // no reallocation
  CHECK(std::vector<std::byte>(second.begin(), second.end()) == first_copy);
}

TEST_CASE("batch: finish twice returns the same bytes") {
  BatchBuilder builder;
  builder.add("k", "v", {}, kT0);
  const auto a = builder.finish();
  const auto b = builder.finish();
  CHECK(a.data() == b.data());
  CHECK(a.size() == b.size());
  CHECK(builder.finished());
}

TEST_CASE("batch: set_base_offset and set_leader_epoch keep the CRC valid") {
  BatchBuilder builder;
  builder.add("a", "1", {}, kT0);
  builder.add("b", "2", {}, kT0);
  const auto bytes = builder.finish_mutable();
  const std::uint32_t crc = BatchView(bytes).crc();

  set_base_offset(bytes, 5'000'000'000);
  set_leader_epoch(bytes, 17);
  const BatchView batch = parse_ok(bytes);
  CHECK(batch.crc() == crc);
  CHECK(batch.crc_matches());
  CHECK(batch.base_offset() == 5'000'000'000);
  CHECK(batch.leader_epoch() == 17);
  CHECK(batch.last_offset() == 5'000'000'001);
  const auto records = records_of(batch);
  CHECK(records[0].offset == 5'000'000'000);
  CHECK(records[1].offset == 5'000'000'001);
}

TEST_CASE("batch: set_log_append_time stamps every record and re-seals the CRC") {
  BatchBuilder builder;
  builder.add("a", "1", {}, kT0);
  builder.add("b", "2", {}, kT0 + 5);
  const auto bytes = builder.finish_mutable();
  set_log_append_time(bytes, kT0 + 1000);
  const BatchView batch = parse_ok(bytes);
  CHECK(batch.is_log_append_time());
  CHECK(batch.max_timestamp_ms() == kT0 + 1000);
  for (const RecordView& r : records_of(batch))
    CHECK(r.timestamp_ms == kT0 + 1000);
}

TEST_CASE("batch: the builder reproduces kcat's batch byte for byte") {
  // Same record as the captured kcat batch (see codec_support.h): librdkafka writes leader
  // epoch 0 where ringlog defaults to -1, so pass 0.
  BatchBuilder builder(BatchOptions{.leader_epoch = 0});
  builder.add(std::nullopt, as_bytes("msg-1"), {}, 0x1a20bde2229);
  const auto bytes = builder.finish();
  CHECK(std::vector<std::byte>(bytes.begin(), bytes.end()) == from_hex(test::kKcatMsg1Batch));
}

TEST_CASE("batch: a moved builder keeps its records") {
  BatchBuilder a;
  a.add("k", "v", {}, kT0);
  BatchBuilder b = std::move(a);
  CHECK(b.record_count() == 1);
  const auto records = records_of(parse_ok(b.finish()));
  CHECK(to_string(records[0].value) == "v");
}

}  // namespace
}  // namespace ringlog
