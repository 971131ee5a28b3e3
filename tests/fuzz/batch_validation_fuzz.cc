// Fuzz target: validate_batches (ringlog/validation.h), the one check every append passes.
//
// Structure-aware: the input is not a batch but what goes inside one. Its first bytes choose
// the header (record count, how lastOffsetDelta relates to it, producer fields, a codec) and the
// mode; the rest are record bytes, which libFuzzer mutates freely. The harness seals them into a
// batch with a correct CRC, so that every input reaches the record rules instead of stopping at
// the CRC, and checks:
//   * an accepted batch decodes, with the lenient RecordReader, into exactly its count of
//     records with offset deltas 0..n-1 and timestamps >= -1; the stored maxTimestamp is the
//     largest record timestamp and the CRC still matches; nothing else of it changed;
//   * the verdict agrees with an independent oracle (RecordReader plus the count, delta and
//     timestamp rules written out again here);
//   * the same record bytes compressed with each of Kafka's codecs get the same verdict as
//     uncompressed (the streamed walk agrees with the in-place walk), except kTooLarge;
//   * raw bytes declared as a compressed stream never crash an Inflater, and are refused
//     unless they happen to inflate to valid records.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <vector>

#include <ringlog/batch.h>
#include <ringlog/validation.h>

#include "engine/deflate.h"
#include "engine/endian.h"

namespace {

using namespace ringlog;
using Bytes = std::vector<std::byte>;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "batch_validation invariant violated: %s\n", what);
  std::abort();
}
#define FUZZ_CHECK(cond)      \
  do {                        \
    if (!(cond)) fail(#cond); \
  } while (0)

constexpr AppendLimits kLimits{.max_batch_bytes = 1 << 20,
                               .max_append_bytes = 1 << 20,
                               .max_uncompressed_batch_bytes = 1 << 20};

struct Header {
  std::int32_t count = 0;
  std::int32_t last_offset_delta = 0;
  std::int64_t base_timestamp_ms = 0;
  std::int16_t attributes = 0;
  std::int64_t producer_id = kNoProducerId;
  std::int32_t base_sequence = kNoSequence;
};

Bytes seal(const Header& h, std::span<const std::byte> records) {
  Bytes b(kRecordsAt);
  b.insert(b.end(), records.begin(), records.end());
  store_be<std::int64_t>(b.data() + kBaseOffsetAt, 0);
  store_be<std::int32_t>(b.data() + kBatchLengthAt, static_cast<std::int32_t>(b.size() - 12));
  store_be<std::int32_t>(b.data() + kLeaderEpochAt, -1);
  store_be<std::int8_t>(b.data() + kMagicAt, kMagicV2);
  store_be<std::int16_t>(b.data() + kAttributesAt, h.attributes);
  store_be<std::int32_t>(b.data() + kLastOffsetDeltaAt, h.last_offset_delta);
  store_be<std::int64_t>(b.data() + kBaseTimestampAt, h.base_timestamp_ms);
  store_be<std::int64_t>(b.data() + kMaxTimestampAt, h.base_timestamp_ms);
  store_be<std::int64_t>(b.data() + kProducerIdAt, h.producer_id);
  store_be<std::int16_t>(b.data() + kProducerEpochAt, h.producer_id >= 0 ? 0 : -1);
  store_be<std::int32_t>(b.data() + kBaseSequenceAt, h.base_sequence);
  store_be<std::int32_t>(b.data() + kRecordCountAt, h.count);
  store_be<std::uint32_t>(b.data() + kCrcAt, BatchView(b).compute_crc());
  return b;
}

// The rules written out a second time, over the lenient RecordReader, for uncompressed bytes:
// true if the batch must be accepted.
bool oracle_accepts(const Bytes& batch, std::int64_t* max_timestamp) {
  const BatchView b(batch);
  if (b.record_count() < 1 ||
      std::int64_t{b.record_count()} != std::int64_t{b.last_offset_delta()} + 1)
    return false;
  if (b.producer_id() >= 0 && b.base_sequence() < 0) return false;
  if (b.is_transactional() && b.producer_id() < 0) return false;
  RecordReader reader(b);
  std::int64_t expected = 0;
  std::int64_t max_ts = std::numeric_limits<std::int64_t>::min();
  while (auto r = reader.next()) {
    if (r->offset != expected) return false;
    // RecordReader adds with wrap-around: an overflow shows as a timestamp on the wrong side.
    const auto delta = static_cast<std::int64_t>(static_cast<std::uint64_t>(r->timestamp_ms) -
                                                 static_cast<std::uint64_t>(b.base_timestamp_ms()));
    std::int64_t exact = 0;
    if (__builtin_add_overflow(b.base_timestamp_ms(), delta, &exact)) return false;
    if (r->timestamp_ms < -1) return false;
    max_ts = std::max(max_ts, r->timestamp_ms);
    ++expected;
  }
  if (reader.status() != ParseStatus::kOk || expected != b.record_count()) return false;
  *max_timestamp = max_ts;
  return true;
}

void check_accepted(const Bytes& sent, ValidatedBatches validated, std::int64_t oracle_max) {
  FUZZ_CHECK(validated.batch_count() == 1);
  const Bytes stored = std::move(validated).release();
  FUZZ_CHECK(stored.size() == sent.size());
  const BatchView b(stored);
  FUZZ_CHECK(b.crc_matches());
  FUZZ_CHECK(b.max_timestamp_ms() == oracle_max);
  // Only the attributes' timestamp type, maxTimestamp and the CRC may have been rewritten.
  for (std::size_t i = 0; i < stored.size(); ++i) {
    const bool rewritable = (i >= kCrcAt && i < kCrcAt + 4) ||
                            (i >= kAttributesAt && i < kAttributesAt + 2) ||
                            (i >= kMaxTimestampAt && i < kMaxTimestampAt + 8);
    if (!rewritable) FUZZ_CHECK(stored[i] == sent[i]);
  }
}

void run_plain_and_compressed(const Header& header, std::span<const std::byte> records,
                              std::uint8_t codec_choice) {
  Header plain_header = header;
  plain_header.attributes = static_cast<std::int16_t>(header.attributes & ~kCompressionMask);
  const Bytes plain = seal(plain_header, records);
  std::int64_t oracle_max = 0;
  const bool oracle = oracle_accepts(plain, &oracle_max);
  auto verdict = validate_batches(plain, kLimits);
  FUZZ_CHECK(verdict.has_value() == oracle);
  if (verdict) check_accepted(plain, std::move(*verdict), oracle_max);

  const auto codec = static_cast<Compression>(1 + codec_choice % 4);
  const auto framing = codec_choice & 0x10 ? SnappyFraming::kRaw : SnappyFraming::kXerial;
  auto squeezed = compress_batch(plain, codec, framing);
  FUZZ_CHECK(squeezed.has_value());
  auto compressed_verdict = validate_batches(*squeezed, kLimits);
  if (!compressed_verdict && compressed_verdict.error().code() == Errc::kTooLarge) return;
  FUZZ_CHECK(compressed_verdict.has_value() == oracle);
  if (compressed_verdict) FUZZ_CHECK(compressed_verdict->batch(0).max_timestamp_ms == oracle_max);
}

void run_raw_stream(const Header& header, std::span<const std::byte> stream, std::uint8_t codec) {
  Header h = header;
  h.attributes = static_cast<std::int16_t>(codec % 8);
  const Bytes batch = seal(h, stream);
  auto verdict = validate_batches(batch, kLimits);
  if (verdict) {
    FUZZ_CHECK(h.attributes <= 4);
    FUZZ_CHECK(BatchView(std::move(*verdict).release()).crc_matches());
  } else if (h.attributes > 4) {
    FUZZ_CHECK(verdict.error().code() == Errc::kCorruption);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  const std::uint8_t mode = in.ConsumeIntegral<std::uint8_t>();
  Header h;
  h.count = in.ConsumeIntegralInRange<std::int32_t>(-1, 40);
  switch (in.ConsumeIntegralInRange<int>(0, 7)) {
    case 0:
      h.last_offset_delta = in.ConsumeIntegral<std::int32_t>();
      break;
    case 1:
      h.count = std::numeric_limits<std::int32_t>::max();
      h.last_offset_delta = h.count - 1;
      break;
    default:
      h.last_offset_delta = h.count - 1;
  }
  h.base_timestamp_ms = in.ConsumeBool() ? in.ConsumeIntegral<std::int64_t>()
                                         : 1'700'000'000'000 + in.ConsumeIntegral<std::int16_t>();
  if (in.ConsumeBool()) {
    h.producer_id = in.ConsumeIntegralInRange<std::int64_t>(-1, 3);
    h.base_sequence = in.ConsumeIntegralInRange<std::int32_t>(-2, 3);
  }
  if (in.ConsumeIntegralInRange<int>(0, 15) == 0) h.attributes |= kTransactionalBit;
  const std::uint8_t codec = in.ConsumeIntegral<std::uint8_t>();
  const std::vector<std::uint8_t> rest = in.ConsumeRemainingBytes<std::uint8_t>();
  const auto records = std::as_bytes(std::span(rest));
  if (mode % 4 == 0) {
    run_raw_stream(h, records, codec);
  } else {
    run_plain_and_compressed(h, records, codec);
  }
  return 0;
}
