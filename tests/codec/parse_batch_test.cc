// parse_batch and BatchReader: every outcome provoked and named, and a real client's batch.
#include <doctest/doctest.h>

#include <algorithm>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "codec/codec_support.h"
#include "engine/crc32c.h"
#include "engine/endian.h"
#include "ringlog/batch.h"

namespace ringlog {
namespace {

using test::build_batch;
using test::from_hex;
using test::to_string;

// The one record of the kcat batch: length 11, null key, value "msg-1", no headers.
constexpr std::string_view kKcatRecord = "16 00 00 00 01 0a 6d73672d31 00";

std::string_view status_of(std::span<const std::byte> bytes, ParseOptions options = {}) {
  return parse_status_name(parse_batch(bytes, options).status);
}

std::string_view validated_status_of(std::span<const std::byte> bytes) {
  return status_of(bytes, {.validate_records = true});
}

// Recomputes the CRC after a test changed covered bytes, so only the intended fault remains.
void reseal(std::vector<std::byte>& batch) {
  store_be(batch.data() + kCrcAt, crc32c(std::span<const std::byte>(batch).subspan(kAttributesAt)));
}

// A batch around hand-written record bytes, with a correct batchLength and CRC.
std::vector<std::byte> raw_batch(std::string_view records_hex, std::int32_t count,
                                 std::int32_t last_offset_delta, std::int16_t attributes = 0) {
  std::vector<std::byte> batch(kBatchHeaderBytes, std::byte{0});
  std::byte* p = batch.data();
  store_be<std::int32_t>(p + kLeaderEpochAt, 0);
  store_be(p + kMagicAt, kMagicV2);
  store_be(p + kAttributesAt, attributes);
  store_be(p + kLastOffsetDeltaAt, last_offset_delta);
  store_be<std::int64_t>(p + kBaseTimestampAt, 1000);
  store_be<std::int64_t>(p + kMaxTimestampAt, 1000);
  store_be<std::int64_t>(p + kProducerIdAt, -1);
  store_be<std::int16_t>(p + kProducerEpochAt, -1);
  store_be<std::int32_t>(p + kBaseSequenceAt, -1);
  store_be(p + kRecordCountAt, count);
  const auto records = from_hex(records_hex);
  batch.insert(batch.end(), records.begin(), records.end());
  store_be(batch.data() + kBatchLengthAt,
           static_cast<std::int32_t>(batch.size() - kBatchLengthFieldEnd));
  reseal(batch);
  return batch;
}

TEST_CASE("parse: a batch written by kcat/librdkafka parses and its CRC checks") {
  // Source: kcat 1.7.1 / librdkafka 2.0.2 on Debian 12, `kcat -P` of "msg-1", captured on the
  // wire (../shared/ref/kafka-compat.md §2, "Observed kcat batch").
  const auto bytes = from_hex(test::kKcatMsg1Batch);
  REQUIRE(bytes.size() == 73);
  const ParsedBatch parsed = parse_batch(bytes, {.validate_records = true});
  REQUIRE(parse_status_name(parsed.status) == "ok");
  CHECK(parsed.bytes == 73);
  const BatchView& batch = parsed.batch;
  CHECK(batch.crc() == 0xd821fcfbu);
  CHECK(batch.compute_crc() == 0xd821fcfbu);
  CHECK(batch.batch_length() == 61);
  CHECK(batch.leader_epoch() == 0);
  CHECK(batch.base_timestamp_ms() == 0x1a20bde2229);
  CHECK(batch.producer_id() == -1);
  CHECK(batch.record_count() == 1);

  int seen = 0;
  for (const RecordView& r : batch.records()) {
    CHECK(r.offset == 0);
    CHECK(r.timestamp_ms == 0x1a20bde2229);
    CHECK_FALSE(r.key.has_value());
    CHECK(to_string(r.value) == "msg-1");
    CHECK(r.header_count == 0);
    ++seen;
  }
  CHECK(seen == 1);
}

struct JavaRecord {
  std::string_view key;
  std::string_view value;
  std::string_view h1, h2, h3;
};

// What tansu's capture holds (see codec_support.h), record by record.
constexpr JavaRecord kJavaRecords[] = {
    {"qwerty", "poiuy", "pqr", "jkl", "uio"},
    {"asdfgh", "lkjhg", "rty", "dfg", "lkj"},
    {"jkljkl", "iuiui", "zxc", "cvb", "mnb"},
    {"qwerty", "ytrrrwqee", "eri", "eiu", "ppo"},
    {"qwrrrtiip", "jkljkljklkjkjklkjljlkjljkljlkjj", "iio", "ert", "qwe"},
};
constexpr std::int64_t kJavaBaseTimestamp = 0x190edeed786;

TEST_CASE("parse: a batch written by Kafka's Java producer parses with its headers") {
  const auto bytes = from_hex(test::kJavaProducerBatch);
  REQUIRE(bytes.size() == 290);
  const ParsedBatch parsed = parse_batch(bytes, {.validate_records = true});
  REQUIRE(parse_status_name(parsed.status) == "ok");
  const BatchView& batch = parsed.batch;
  CHECK(batch.crc() == 0xb9c2f9b8u);
  CHECK(batch.leader_epoch() == -1);
  CHECK(batch.producer_id() == 1);
  CHECK(batch.producer_epoch() == 0);
  CHECK(batch.base_sequence() == 0);
  CHECK(batch.record_count() == 5);
  CHECK(batch.last_offset_delta() == 4);
  CHECK(batch.base_timestamp_ms() == kJavaBaseTimestamp);
  CHECK(batch.max_timestamp_ms() == kJavaBaseTimestamp + 8);

  std::size_t i = 0;
  for (const RecordView& r : batch.records()) {
    REQUIRE(i < std::size(kJavaRecords));
    CAPTURE(i);
    const JavaRecord& want = kJavaRecords[i];
    CHECK(r.offset == static_cast<std::int64_t>(i));
    CHECK(r.timestamp_ms == kJavaBaseTimestamp + (i == 0 ? 0 : 8));
    CHECK(to_string(r.key) == want.key);
    CHECK(to_string(r.value) == want.value);
    std::vector<std::string> headers;
    for (const RecordHeader& h : r.headers()) {
      headers.push_back(std::string(h.key) + "=" + to_string(h.value));
    }
    CHECK(headers == std::vector<std::string>{"h1=" + std::string(want.h1),
                                              "h2=" + std::string(want.h2),
                                              "h3=" + std::string(want.h3)});
    ++i;
  }
  CHECK(i == 5);
}

TEST_CASE("parse: the builder reproduces the Java producer's batch byte for byte") {
  BatchBuilder builder(
      BatchOptions{.leader_epoch = -1, .producer_id = 1, .producer_epoch = 0, .base_sequence = 0});
  for (std::size_t i = 0; i < std::size(kJavaRecords); ++i) {
    const JavaRecord& r = kJavaRecords[i];
    const RecordHeader headers[] = {
        {"h1", as_bytes(r.h1)}, {"h2", as_bytes(r.h2)}, {"h3", as_bytes(r.h3)}};
    builder.add(as_bytes(r.key), as_bytes(r.value), headers, kJavaBaseTimestamp + (i == 0 ? 0 : 8));
  }
  const auto bytes = builder.finish();
  CHECK(std::vector<std::byte>(bytes.begin(), bytes.end()) == from_hex(test::kJavaProducerBatch));
}

TEST_CASE("parse: the kcat batch keeps its CRC when the broker stamps offset and epoch") {
  auto bytes = from_hex(test::kKcatMsg1Batch);
  set_base_offset(bytes, 13);
  set_leader_epoch(bytes, 4);
  const ParsedBatch parsed = parse_batch(bytes, {.validate_records = true});
  REQUIRE(parsed.ok());
  CHECK(parsed.batch.crc() == 0xd821fcfbu);
  CHECK(parsed.batch.base_offset() == 13);
  CHECK((*parsed.batch.records().begin()).offset == 13);
}

TEST_CASE("parse: empty input is end_of_data") {
  const ParsedBatch parsed = parse_batch({});
  CHECK(parse_status_name(parsed.status) == "end_of_data");
  CHECK(parsed.bytes == 0);
  CHECK(parsed.batch.empty());
}

TEST_CASE("parse: never-written preallocated space is zero_filled") {
  SUBCASE("a page of zeros") {
    const std::vector<std::byte> zeros(4096, std::byte{0});
    CHECK(status_of(zeros) == "zero_filled");
  }
  SUBCASE("fewer zeros than a header") {
    const std::vector<std::byte> zeros(5, std::byte{0});
    CHECK(status_of(zeros) == "zero_filled");
  }
  SUBCASE("zeros up to and including the magic byte, whatever follows") {
    std::vector<std::byte> bytes(100, std::byte{0});
    bytes[kMagicAt + 1] = std::byte{0x42};
    CHECK(status_of(bytes) == "zero_filled");
  }
}

TEST_CASE("parse: fewer than 61 bytes that are not zeros are a short_header") {
  const auto batch = build_batch({"value"});
  CHECK(status_of(std::span(batch).first(60)) == "short_header");
  CHECK(status_of(std::span(batch).first(kMagicAt + 1)) == "short_header");
  const std::vector<std::byte> one{std::byte{1}};
  CHECK(status_of(one) == "short_header");
}

TEST_CASE("parse: a magic other than 2 is bad_magic") {
  auto batch = build_batch({"value"});
  SUBCASE("magic 1 (a v1 message set)") {
    batch[kMagicAt] = std::byte{1};
  }
  SUBCASE("magic 0 behind a non-zero length") {
    batch[kMagicAt] = std::byte{0};
  }
  SUBCASE("magic 3") {
    batch[kMagicAt] = std::byte{3};
  }
  CHECK(status_of(batch) == "bad_magic");
}

TEST_CASE("parse: an impossible batchLength is bad_length and never trusted") {
  auto batch = build_batch({"value"});
  ParseOptions options;
  SUBCASE("below the 49-byte minimum") {
    store_be<std::int32_t>(batch.data() + kBatchLengthAt, 48);
  }
  SUBCASE("zero behind a valid magic") {
    store_be<std::int32_t>(batch.data() + kBatchLengthAt, 0);
  }
  SUBCASE("negative") {
    store_be<std::int32_t>(batch.data() + kBatchLengthAt, -1);
  }
  SUBCASE("INT32_MIN") {
    store_be(batch.data() + kBatchLengthAt, std::numeric_limits<std::int32_t>::min());
  }
  SUBCASE("INT32_MAX, above the default 16 MiB maximum") {
    store_be(batch.data() + kBatchLengthAt, std::numeric_limits<std::int32_t>::max());
  }
  SUBCASE("above a caller's maximum") {
    options.max_batch_bytes = batch.size() - 1;
  }
  const ParsedBatch parsed = parse_batch(batch, options);
  CHECK(parse_status_name(parsed.status) == "bad_length");
  CHECK(parsed.bytes == 0);
  CHECK(parsed.batch.empty());
}

TEST_CASE("parse: a batch cut before its end is truncated") {
  auto batch = build_batch({"value", "another"});
  SUBCASE("one byte missing") {
    batch.pop_back();
  }
  SUBCASE("only the header") {
    batch.resize(kBatchHeaderBytes);
  }
  SUBCASE("a length pointing 2 GiB past the buffer, with no limit") {
    store_be(batch.data() + kBatchLengthAt, std::numeric_limits<std::int32_t>::max());
    CHECK(status_of(batch, {.max_batch_bytes = std::numeric_limits<std::size_t>::max()}) ==
          "truncated");
    return;
  }
  CHECK(status_of(batch) == "truncated");
}

TEST_CASE("parse: a changed covered byte is crc_mismatch, but the batch is still delimited") {
  auto batch = build_batch({"value"});
  SUBCASE("a flipped bit in the value") {
    batch.back() ^= std::byte{0x01};
  }
  SUBCASE("a changed attribute") {
    batch[kAttributesAt + 1] ^= std::byte{0x08};
  }
  SUBCASE("a changed record count") {
    batch[kRecordCountAt + 3] ^= std::byte{0x02};
  }
  SUBCASE("a changed stored crc") {
    batch[kCrcAt] ^= std::byte{0xFF};
  }
  const ParsedBatch parsed = parse_batch(batch);
  CHECK(parse_status_name(parsed.status) == "crc_mismatch");
  CHECK(parsed.bytes == batch.size());
  CHECK(parsed.batch.size_bytes() == batch.size());
  CHECK(status_of(batch, {.check_crc = false}) != "crc_mismatch");
}

TEST_CASE("parse: records that do not decode exactly are malformed_record") {
  const std::string two_records = std::string(kKcatRecord) + "16 00 00 02 01 0a 6d73672d32 00";
  SUBCASE("the hand-built reference batch is valid") {
    CHECK(validated_status_of(raw_batch(kKcatRecord, 1, 0)) == "ok");
    CHECK(validated_status_of(raw_batch(two_records, 2, 1)) == "ok");
    return;
  }
  std::vector<std::byte> batch;
  SUBCASE("the record count claims more records than there are") {
    batch = raw_batch(kKcatRecord, 2, 1);
  }
  SUBCASE("the record count claims fewer records than there are") {
    batch = raw_batch(two_records, 1, 1);
  }
  SUBCASE("a negative record count") {
    batch = raw_batch(kKcatRecord, -1, 0);
  }
  SUBCASE("a record length past the batch end") {
    batch = raw_batch("18 00 00 00 01 0a 6d73672d31 00", 1, 0);
  }
  SUBCASE("a record length shorter than its fields") {
    batch = raw_batch("14 00 00 00 01 0a 6d73672d31 00", 1, 0);
  }
  SUBCASE("a negative record length") {
    batch = raw_batch("15 00 00 00 01 0a 6d73672d31 00", 1, 0);
  }
  SUBCASE("a record length varint with 10+ continuation bytes") {
    batch = raw_batch("ff ff ff ff ff ff ff ff ff ff 01 00 00", 1, 0);
  }
  SUBCASE("a timestampDelta varlong with 10+ continuation bytes") {
    batch = raw_batch("1c 00 ff ff ff ff ff ff ff ff ff ff 01 00 00", 1, 0);
  }
  SUBCASE("a key length of -2") {
    batch = raw_batch("16 00 00 00 03 0a 6d73672d31 00", 1, 0);
  }
  SUBCASE("a value length past the record end") {
    batch = raw_batch("16 00 00 00 01 0c 6d73672d31 00", 1, 0);
  }
  SUBCASE("a negative header count") {
    batch = raw_batch("16 00 00 00 01 0a 6d73672d31 01", 1, 0);
  }
  SUBCASE("a header key length past the record end") {
    batch = raw_batch("1a 00 00 00 01 0a 6d73672d31 02 08 61 00", 1, 0);
  }
  SUBCASE("repeated offset deltas") {
    batch = raw_batch(std::string(kKcatRecord) + std::string(kKcatRecord), 2, 1);
  }
  SUBCASE("an offset delta beyond lastOffsetDelta") {
    batch = raw_batch("16 00 00 02 01 0a 6d73672d31 00", 1, 0);
  }
  SUBCASE("an undefined compression code") {
    batch = raw_batch(kKcatRecord, 1, 0, 5);
  }
  const ParsedBatch parsed = parse_batch(batch, {.validate_records = true});
  CHECK(parse_status_name(parsed.status) == "malformed_record");
  CHECK(parsed.bytes == batch.size());
  // Without record validation the header and CRC are fine.
  CHECK(status_of(batch) == "ok");
}

TEST_CASE("records: iteration stops at a malformed record and says so") {
  // Two records where the second's value length runs past its record.
  const auto batch = raw_batch(std::string(kKcatRecord) + "16 00 00 02 01 0c 6d73672d32 00", 2, 1);
  const ParsedBatch parsed = parse_batch(batch);
  REQUIRE(parsed.ok());
  auto range = parsed.batch.records();
  int seen = 0;
  for (const RecordView& r : range) {
    CHECK(to_string(r.value) == "msg-1");
    ++seen;
  }
  CHECK(seen == 1);
  CHECK(parse_status_name(range.status()) == "malformed_record");
}

TEST_CASE("records: a compressed batch is validated by header and CRC only") {
  // A gzip-flagged batch whose "blob" is opaque bytes.
  const auto batch = raw_batch("1f 8b 08 00 de ad be ef", 3, 2, 1);
  const ParsedBatch parsed = parse_batch(batch, {.validate_records = true});
  REQUIRE(parse_status_name(parsed.status) == "ok");
  CHECK(parsed.batch.is_compressed());
  CHECK(parsed.batch.compression() == Compression::kGzip);
  auto range = parsed.batch.records();
  CHECK(range.begin() == std::default_sentinel);
  CHECK(parse_status_name(range.status()) == "compressed");
}

TEST_CASE("parse: every status has a distinct name") {
  std::vector<std::string_view> names;
  for (int s = 0; s <= static_cast<int>(ParseStatus::kCompressed); ++s) {
    names.push_back(parse_status_name(static_cast<ParseStatus>(s)));
  }
  CHECK(names.front() == "ok");
  std::sort(names.begin(), names.end());
  CHECK(std::adjacent_find(names.begin(), names.end()) == names.end());
  CHECK(std::find(names.begin(), names.end(), "unknown") == names.end());
}

TEST_CASE("reader: consecutive batches are read until the zero-filled tail") {
  std::vector<std::byte> log;
  for (int i = 0; i < 3; ++i) {
    const auto batch = build_batch({"a", "b", "c"});
    log.insert(log.end(), batch.begin(), batch.end());
  }
  const std::size_t written = log.size();
  log.resize(written + 4096, std::byte{0});  // preallocated space

  BatchReader reader(log, {.validate_records = true});
  for (int i = 0; i < 3; ++i) {
    const ParsedBatch parsed = reader.next();
    REQUIRE(parsed.ok());
    CHECK(parsed.batch.record_count() == 3);
  }
  CHECK(reader.position() == written);
  CHECK(parse_status_name(reader.next().status) == "zero_filled");
  CHECK(parse_status_name(reader.next().status) == "zero_filled");  // sticky
  CHECK(reader.position() == written);
}

TEST_CASE("reader: a torn last batch stops the walk at the last whole batch") {
  const auto first = build_batch({"a"});
  const auto second = build_batch({"b"});
  std::vector<std::byte> log(first);
  log.insert(log.end(), second.begin(), second.end() - 3);
  BatchReader reader(log);
  CHECK(reader.next().ok());
  CHECK(parse_status_name(reader.next().status) == "truncated");
  CHECK(reader.position() == first.size());
}

TEST_CASE("reader: a clean end of buffer is end_of_data") {
  const auto batch = build_batch({"a"});
  BatchReader reader(batch);
  CHECK(reader.next().ok());
  CHECK(parse_status_name(reader.next().status) == "end_of_data");
}

TEST_CASE("parse: every prefix of a batch is rejected without reading past it") {
  const auto batch = build_batch({"value", "other"});
  for (std::size_t n = 0; n < batch.size(); ++n) {
    CAPTURE(n);
    // A heap copy of exactly n bytes, so a sanitizer build catches any overread.
    const std::vector<std::byte> prefix(batch.begin(), batch.begin() + static_cast<long>(n));
    const ParsedBatch parsed = parse_batch(prefix, {.validate_records = true});
    CHECK_FALSE(parsed.ok());
    CHECK(parsed.bytes == 0);
  }
}

TEST_CASE("parse: random corruption never crashes and never passes a bad CRC") {
  const std::uint64_t seed = std::random_device{}();
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  const RecordHeader headers[] = {{"h", as_bytes("v")}};
  BatchBuilder builder;
  for (int i = 0; i < 20; ++i)
    builder.add(as_bytes("key"), as_bytes("value"), headers, i);
  const auto good = builder.finish();
  for (int round = 0; round < 2000; ++round) {
    std::vector<std::byte> bytes(good.begin(), good.end());
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f)
      bytes[rng() % bytes.size()] ^= std::byte(1 + rng() % 255);
    const bool resealed = rng() % 2 == 0;
    if (resealed && bytes.size() >= kBatchHeaderBytes) reseal(bytes);
    const ParsedBatch parsed = parse_batch(bytes, {.validate_records = true});
    if (!resealed && parsed.ok()) {
      // Only flips outside the CRC-covered range (offset, length, epoch) can pass.
      CHECK(std::equal(bytes.begin() + kCrcAt, bytes.end(), good.begin() + kCrcAt));
    }
    if (parsed.ok() || parsed.status == ParseStatus::kCrcMismatch) {
      for (const RecordView& r : parsed.batch.records()) {
        for (const RecordHeader& h : r.headers())
          (void)h;
      }
    }
  }
}

}  // namespace
}  // namespace ringlog
