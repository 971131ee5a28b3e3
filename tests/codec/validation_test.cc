// validate_batches (ringlog/validation.h): every rule, for uncompressed batches walked in place
// and for each of Kafka's codecs streamed through an Inflater, and the maxTimestamp rewrite.
#include <doctest/doctest.h>

#include <cstring>
#include <limits>
#include <random>

#include <ringlog/validation.h>

#include "codec_support.h"
#include "engine/crc32c.h"
#include "engine/deflate.h"
#include "engine/endian.h"
#include "engine/record_batch.h"
#include "engine/varint.h"

namespace ringlog::test {
namespace {

using Bytes = std::vector<std::byte>;

constexpr std::int64_t kTime = 1'700'000'000'000;

// One record as it is encoded, with every field under the test's control.
struct RawSpec {
  std::int32_t offset_delta = 0;
  std::int64_t timestamp_delta = 0;
  std::string value = "v";
};

// A batch of `records` with header fields as given (count and lastOffsetDelta default to what
// the records imply), CRC correct.
Bytes batch_with(const std::vector<RawSpec>& records, std::optional<std::int32_t> count = {},
                 std::optional<std::int32_t> last_offset_delta = {},
                 std::int64_t base_timestamp = kTime) {
  BatchBuilder builder;
  builder.add(std::nullopt, as_bytes("x"), {}, base_timestamp);  // a header to start from
  const auto start = builder.finish();
  Bytes out(start.begin(), start.begin() + kRecordsAt);
  std::int64_t max_ts = base_timestamp;
  for (const RawSpec& r : records) {
    const std::optional<std::span<const std::byte>> value = as_bytes(r.value);
    const std::size_t body =
        internal::record_body_bytes(r.timestamp_delta, r.offset_delta, std::nullopt, value, {});
    const std::size_t at = out.size();
    out.resize(at + varint_size(static_cast<std::int32_t>(body)) + body);
    internal::put_record(out.data() + at, body, r.timestamp_delta, r.offset_delta, std::nullopt,
                         value, {});
    std::int64_t ts = 0;  // saturate: some cases give deltas no real timestamp can have
    if (__builtin_add_overflow(base_timestamp, r.timestamp_delta, &ts)) {
      ts = r.timestamp_delta > 0 ? std::numeric_limits<std::int64_t>::max()
                                 : std::numeric_limits<std::int64_t>::min();
    }
    max_ts = std::max(max_ts, ts);
  }
  const auto n = static_cast<std::int32_t>(records.size());
  store_be(out.data() + kRecordCountAt, count.value_or(n));
  store_be(out.data() + kLastOffsetDeltaAt, last_offset_delta.value_or(n - 1));
  store_be(out.data() + kMaxTimestampAt, max_ts);
  store_be(out.data() + kBatchLengthAt, static_cast<std::int32_t>(out.size() - 12));
  store_be(out.data() + kCrcAt, BatchView(out).compute_crc());
  return out;
}

// The CRC made right again after a test changed covered bytes.
Bytes resealed(Bytes batch) {
  store_be(batch.data() + kBatchLengthAt, static_cast<std::int32_t>(batch.size() - 12));
  store_be(batch.data() + kCrcAt, BatchView(batch).compute_crc());
  return batch;
}

Bytes three_records() {
  return batch_with({{0, 0, "a"}, {1, 5, "bb"}, {2, 9, "ccc"}});
}

Result<ValidatedBatches> validate(Bytes bytes, AppendLimits limits = {}) {
  return validate_batches(std::move(bytes), limits);
}

Errc code_of(Bytes bytes, AppendLimits limits = {}) {
  auto r = validate(std::move(bytes), limits);
  REQUIRE_FALSE(r.has_value());
  return r.error().code();
}

Bytes compressed(const Bytes& batch, Compression codec,
                 SnappyFraming framing = SnappyFraming::kXerial) {
  auto out = compress_batch(batch, codec, framing);
  REQUIRE(out.has_value());
  return *out;
}

Bytes concat(const Bytes& a, const Bytes& b) {
  Bytes out = a;
  out.insert(out.end(), b.begin(), b.end());
  return out;
}

}  // namespace

TEST_CASE("validation: whole valid batches are accepted with what they hold") {
  auto r = validate(concat(three_records(), batch_with({{0, 0, "z"}})));
  REQUIRE(r.has_value());
  CHECK(r->batch_count() == 2);
  CHECK(r->record_count() == 4);
  CHECK(r->batch(0).record_count == 3);
  CHECK(r->batch(0).max_timestamp_ms == kTime + 9);
  CHECK(r->batch(1).record_count == 1);
  CHECK(r->batch(0).producer_id == kNoProducerId);
  CHECK(r->size_bytes() == three_records().size() + batch_with({{0, 0, "z"}}).size());
}

TEST_CASE("validation: the batches of real clients are accepted unchanged") {
  for (std::string_view hex : {kKcatMsg1Batch, kJavaProducerBatch}) {
    const Bytes sent = from_hex(hex);
    auto r = validate(sent);
    REQUIRE_MESSAGE(r.has_value(), r.error().to_string());
    const Bytes stored = std::move(*r).release();
    CHECK(stored == sent);
  }
}

TEST_CASE("validation: a record count that lies is refused although the CRC is valid") {
  SUBCASE("2^31-1 records claimed, one present (finding 1)") {
    CHECK(code_of(batch_with({{0, 0, "a"}}, INT32_MAX, INT32_MAX - 1)) == Errc::kInvalidArgument);
  }
  SUBCASE("5 claimed, 1 present") {
    CHECK(code_of(batch_with({{0, 0, "a"}}, 5, 4)) == Errc::kInvalidArgument);
  }
  SUBCASE("fewer claimed than present") {
    CHECK(code_of(batch_with({{0, 0, "a"}, {1, 0, "b"}}, 1, 0)) == Errc::kInvalidArgument);
  }
  SUBCASE("count and lastOffsetDelta disagree") {
    CHECK(code_of(batch_with({{0, 0, "a"}, {1, 0, "b"}}, 2, 5)) == Errc::kInvalidArgument);
  }
  SUBCASE("zero records") {
    CHECK(code_of(batch_with({}, 0, -1)) == Errc::kInvalidArgument);
  }
}

TEST_CASE("validation: offset deltas must be 0, 1, 2, ...") {
  CHECK(code_of(batch_with({{0, 0, "a"}, {2, 0, "b"}}, 2, 1)) == Errc::kInvalidArgument);
  CHECK(code_of(batch_with({{1, 0, "a"}, {2, 0, "b"}}, 2, 1)) == Errc::kInvalidArgument);
  CHECK(code_of(batch_with({{0, 0, "a"}, {0, 0, "b"}}, 2, 1)) == Errc::kInvalidArgument);
}

TEST_CASE("validation: records must decode exactly to the end of the batch") {
  SUBCASE("random record bytes with a valid CRC (finding 1)") {
    std::mt19937 rng(7);
    for (int round = 0; round < 200; ++round) {
      CAPTURE(round);
      Bytes b = three_records();
      for (std::size_t i = kRecordsAt; i < b.size(); ++i)
        b[i] = static_cast<std::byte>(rng());
      auto r = validate(resealed(b));
      // Random bytes may by chance be three records with deltas 0, 1, 2; then they are valid.
      if (!r) CHECK(r.error().code() == Errc::kInvalidArgument);
    }
  }
  SUBCASE("a byte after the last record") {
    Bytes b = three_records();
    b.push_back(std::byte{0});
    CHECK(code_of(resealed(b)) == Errc::kInvalidArgument);
  }
  SUBCASE("a record length longer than the record") {
    Bytes b = batch_with({{0, 0, "a"}});
    b[kRecordsAt] = std::byte{static_cast<unsigned char>(zigzag_encode32(20))};
    CHECK(code_of(resealed(b)) == Errc::kInvalidArgument);
  }
  SUBCASE("a negative header count") {
    Bytes b = batch_with({{0, 0, "a"}});
    b.back() = std::byte{static_cast<unsigned char>(zigzag_encode32(-1))};
    CHECK(code_of(resealed(b)) == Errc::kInvalidArgument);
  }
  SUBCASE("a value length below -1") {
    Bytes b = batch_with({{0, 0, "a"}});
    // [length][attributes][ts delta][offset delta][key -1][value length]...
    b[kRecordsAt + 5] = std::byte{static_cast<unsigned char>(zigzag_encode32(-2))};
    CHECK(code_of(resealed(b)) == Errc::kInvalidArgument);
  }
}

TEST_CASE("validation: header keys must not be null") {
  Bytes b = batch_with({{0, 0, "a"}});
  // Replace the header count (0) by one header with a null key (-1) and a null value (-1); the
  // record grows by two bytes.
  b.back() = std::byte{static_cast<unsigned char>(zigzag_encode32(1))};
  b.push_back(std::byte{static_cast<unsigned char>(zigzag_encode32(-1))});
  b.push_back(std::byte{static_cast<unsigned char>(zigzag_encode32(-1))});
  b[kRecordsAt] = static_cast<std::byte>(static_cast<unsigned char>(b[kRecordsAt]) + 4);
  CHECK(code_of(resealed(b)) == Errc::kInvalidArgument);
}

TEST_CASE("validation: timestamps must not overflow or fall below -1") {
  CHECK(code_of(batch_with({{0, 0, "a"}}, {}, {}, -5)) == Errc::kInvalidArgument);
  CHECK(code_of(batch_with({{0, std::numeric_limits<std::int64_t>::max(), "a"}})) ==
        Errc::kInvalidArgument);
  CHECK(validate(batch_with({{0, 0, "a"}}, {}, {}, -1)).has_value());  // NO_TIMESTAMP
}

TEST_CASE("validation: header rules: control, producer, codec") {
  SUBCASE("a control batch from a client") {
    Bytes b = three_records();
    store_be(b.data() + kAttributesAt, kControlBit);
    CHECK(code_of(resealed(b)) == Errc::kInvalidArgument);
  }
  SUBCASE("a producer id without a base sequence") {
    Bytes b = three_records();
    store_be<std::int64_t>(b.data() + kProducerIdAt, 42);
    store_be<std::int16_t>(b.data() + kProducerEpochAt, 0);
    store_be<std::int32_t>(b.data() + kBaseSequenceAt, -1);
    CHECK(code_of(resealed(b)) == Errc::kInvalidArgument);
  }
  SUBCASE("a transactional batch without a producer id") {
    Bytes b = three_records();
    store_be(b.data() + kAttributesAt, kTransactionalBit);
    CHECK(code_of(resealed(b)) == Errc::kInvalidArgument);
  }
  for (int codec : {5, 6, 7}) {
    CAPTURE(codec);
    Bytes b = three_records();
    store_be(b.data() + kAttributesAt, static_cast<std::int16_t>(codec));
    CHECK(code_of(resealed(b)) == Errc::kCorruption);
  }
}

TEST_CASE("validation: framing, CRC and sizes") {
  SUBCASE("bad CRC") {
    Bytes b = three_records();
    b.back() ^= std::byte{1};
    CHECK(code_of(b) == Errc::kCorruption);
  }
  SUBCASE("cut short") {
    Bytes b = three_records();
    b.pop_back();
    CHECK(code_of(b) == Errc::kCorruption);
  }
  SUBCASE("garbage after a valid batch") {
    Bytes b = three_records();
    b.push_back(std::byte{0x42});
    CHECK(code_of(b) == Errc::kCorruption);
  }
  SUBCASE("a batch above max_batch_bytes") {
    CHECK(code_of(three_records(), {.max_batch_bytes = 70}) == Errc::kTooLarge);
  }
  SUBCASE("an append above max_append_bytes") {
    CHECK(code_of(concat(three_records(), three_records()),
                  {.max_batch_bytes = 1 << 20, .max_append_bytes = 100}) == Errc::kTooLarge);
  }
  SUBCASE("nothing") {
    CHECK(code_of({}) == Errc::kInvalidArgument);
  }
}

TEST_CASE("validation: a wrong maxTimestamp is replaced by the records' and the CRC resealed") {
  Bytes b = three_records();
  SUBCASE("maxTimestamp -1 (as Sarama sends it)") {
    store_be<std::int64_t>(b.data() + kMaxTimestampAt, -1);
  }
  SUBCASE("maxTimestamp in the far future") {
    store_be<std::int64_t>(b.data() + kMaxTimestampAt, std::numeric_limits<std::int64_t>::max());
  }
  SUBCASE("LogAppendTime claimed by the producer") {
    store_be(b.data() + kAttributesAt, kLogAppendTimeBit);
  }
  auto r = validate(resealed(b));
  REQUIRE(r.has_value());
  CHECK(r->batch(0).max_timestamp_ms == kTime + 9);
  const Bytes stored = std::move(*r).release();
  const BatchView view(stored);
  CHECK(view.max_timestamp_ms() == kTime + 9);
  CHECK_FALSE(view.is_log_append_time());
  CHECK(view.crc_matches());
}

TEST_CASE("validation: compressed batches are inflated and held to the same rules") {
  const Compression codecs[] = {Compression::kGzip, Compression::kSnappy, Compression::kLz4,
                                Compression::kZstd};
  for (Compression codec : codecs) {
    for (SnappyFraming framing : {SnappyFraming::kXerial, SnappyFraming::kRaw}) {
      if (framing == SnappyFraming::kRaw && codec != Compression::kSnappy) continue;
      CAPTURE(static_cast<int>(codec));
      CAPTURE(static_cast<int>(framing));
      SUBCASE("valid records") {
        auto r = validate(compressed(three_records(), codec, framing));
        REQUIRE_MESSAGE(r.has_value(), r.error().to_string());
        CHECK(r->batch(0).compression == codec);
        CHECK(r->batch(0).max_timestamp_ms == kTime + 9);
      }
      SUBCASE("a lying count") {
        CHECK(code_of(compressed(batch_with({{0, 0, "a"}}, 5, 4), codec, framing)) ==
              Errc::kInvalidArgument);
      }
      SUBCASE("bytes after the last record") {
        Bytes plain = three_records();
        plain.push_back(std::byte{7});
        CHECK(code_of(compressed(resealed(plain), codec, framing)) == Errc::kInvalidArgument);
      }
      SUBCASE("records larger than one read chunk and a record straddling chunks") {
        std::vector<RawSpec> big;
        for (int i = 0; i < 40; ++i)
          big.push_back({i, i, std::string(10000 + i * 37, static_cast<char>('a' + i % 26))});
        big.push_back({40, 40, std::string(300000, 'q')});
        auto r = validate(compressed(batch_with(big), codec, framing));
        REQUIRE_MESSAGE(r.has_value(), r.error().to_string());
        CHECK(r->record_count() == 41);
      }
      SUBCASE("a damaged stream") {
        Bytes b = compressed(three_records(), codec, framing);
        for (std::size_t i = kRecordsAt + (b.size() - kRecordsAt) / 2; i < b.size(); ++i)
          b[i] = std::byte{0xa5};
        CHECK(code_of(resealed(b)) != Errc::kTooLarge);
      }
      SUBCASE("a cut stream") {
        Bytes b = compressed(three_records(), codec, framing);
        REQUIRE(b.size() > kRecordsAt + 3);
        b.erase(b.end() - 3, b.end());
        const Errc code = code_of(resealed(b));
        CHECK((code == Errc::kCorruption || code == Errc::kInvalidArgument));
      }
    }
  }
}

TEST_CASE("validation: a compressed batch that inflates beyond the bound is refused early") {
  // 64 MiB + 1 of zeros in one record compresses to a few KiB: a zip bomb for a 1 MiB limit.
  std::vector<RawSpec> bomb{{0, 0, std::string(4 << 20, '\0')}};
  for (Compression codec :
       {Compression::kGzip, Compression::kLz4, Compression::kZstd, Compression::kSnappy}) {
    CAPTURE(static_cast<int>(codec));
    const Bytes b = compressed(batch_with(bomb), codec);
    CHECK(b.size() < (1 << 20));
    CHECK(code_of(b, {.max_uncompressed_batch_bytes = 1 << 20}) == Errc::kTooLarge);
    CHECK(validate(b).has_value());  // the default bound (64 MiB) admits 4 MiB
  }
}

TEST_CASE("validation: has_compressed_batch reads the codec from the headers") {
  CHECK_FALSE(has_compressed_batch(three_records()));
  CHECK(has_compressed_batch(
      concat(three_records(), compressed(three_records(), Compression::kLz4))));
  CHECK_FALSE(has_compressed_batch({}));
}

}  // namespace ringlog::test
