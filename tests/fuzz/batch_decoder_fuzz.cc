// Fuzz target: the RecordBatch v2 decoder (ringlog/batch.h).
//
// Two modes, chosen by the first byte:
//   decode     - (first byte even) the rest is untrusted bytes: parse_batch under options drawn
//                from the first byte, BatchReader over the whole buffer, record and header
//                iteration. Checks: a kOk batch lies inside the input, is exactly 12 +
//                batchLength bytes and (with CRC checks) matches its CRC; with validate_records
//                every record decodes and offsets stay inside the batch; BatchReader agrees
//                with parse_batch batch by batch. A kOk uncompressed batch whose records are
//                rebuilt with BatchBuilder decodes to the same records (round trip).
//   build      - (first byte odd) records drawn from the input are built with BatchBuilder;
//                the batch must parse kOk with every check on and decode to the same records.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <ringlog/batch.h>

namespace {

using namespace ringlog;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "batch_decoder invariant violated: %s\n", what);
  std::abort();
}
#define FUZZ_CHECK(cond)      \
  do {                        \
    if (!(cond)) fail(#cond); \
  } while (0)

using Bytes = std::vector<std::byte>;

// A record as plain values, to compare two decodings.
struct Plain {
  std::optional<Bytes> key;
  std::optional<Bytes> value;
  std::vector<std::pair<std::string, std::optional<Bytes>>> headers;
  std::int64_t timestamp_ms = 0;

  bool operator==(const Plain&) const = default;
};

std::optional<Bytes> copy(const std::optional<std::span<const std::byte>>& s) {
  if (!s) return std::nullopt;
  return Bytes(s->begin(), s->end());
}

Plain plain(const RecordView& r) {
  Plain p{copy(r.key), copy(r.value), {}, r.timestamp_ms};
  for (const RecordHeader& h : r.headers())
    p.headers.emplace_back(std::string(h.key), copy(h.value));
  return p;
}

// Decodes every record, checking offsets stay inside the batch and increase.
std::vector<Plain> decode_records(const BatchView& batch, ParseStatus& status) {
  std::vector<Plain> out;
  RecordRange range = batch.records();
  // Offsets from the world may wrap around: compare deltas from the base offset.
  const auto base = static_cast<std::uint64_t>(batch.base_offset());
  std::int64_t previous_delta = -1;
  for (const RecordView& r : range) {
    const auto delta = static_cast<std::int64_t>(static_cast<std::uint64_t>(r.offset) - base);
    FUZZ_CHECK(delta > previous_delta);
    FUZZ_CHECK(delta <= batch.last_offset_delta());
    previous_delta = delta;
    out.push_back(plain(r));
  }
  status = range.status();
  return out;
}

// Builds a batch holding `records` (timestamps kept, offsets 0..n-1).
void build(BatchBuilder& builder, const std::vector<Plain>& records) {
  for (const Plain& p : records) {
    std::vector<RecordHeader> headers;
    for (const auto& [k, v] : p.headers) {
      headers.push_back({k, v ? std::optional<std::span<const std::byte>>(*v) : std::nullopt});
    }
    auto span_of = [](const std::optional<Bytes>& b) -> std::optional<std::span<const std::byte>> {
      if (!b) return std::nullopt;
      return std::span<const std::byte>(*b);
    };
    builder.add(span_of(p.key), span_of(p.value), headers, p.timestamp_ms);
  }
}

void check_round_trip(const std::vector<Plain>& records) {
  if (records.empty()) return;
  for (const Plain& p : records) {
    if (p.timestamp_ms == kTimestampNow) return;  // the builder would stamp the clock
  }
  BatchBuilder builder;
  build(builder, records);
  std::span<const std::byte> bytes = builder.finish();
  ParsedBatch again =
      parse_batch(bytes, {.max_batch_bytes = bytes.size(), .validate_records = true});
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(again.bytes == bytes.size());
  FUZZ_CHECK(again.batch.record_count() == static_cast<std::int32_t>(records.size()));
  ParseStatus status;
  std::vector<Plain> decoded = decode_records(again.batch, status);
  FUZZ_CHECK(status == ParseStatus::kOk);
  if (decoded != records) fail("rebuilt batch decodes to different records");
}

void check_parsed(std::span<const std::byte> data, const ParseOptions& options,
                  const ParsedBatch& parsed) {
  if (parsed.ok() || parsed.status == ParseStatus::kCrcMismatch ||
      parsed.status == ParseStatus::kMalformedRecord) {
    const BatchView& b = parsed.batch;
    FUZZ_CHECK(parsed.bytes == b.size_bytes());
    FUZZ_CHECK(b.size_bytes() <= data.size());
    FUZZ_CHECK(b.size_bytes() <= options.max_batch_bytes);
    FUZZ_CHECK(b.size_bytes() == 12 + static_cast<std::size_t>(b.batch_length()));
    FUZZ_CHECK(b.bytes().data() == data.data());
    FUZZ_CHECK(b.magic() == kMagicV2);
  } else {
    FUZZ_CHECK(parsed.bytes == 0);
    FUZZ_CHECK(parsed.batch.empty());
  }
  if (parsed.status == ParseStatus::kCrcMismatch) FUZZ_CHECK(!parsed.batch.crc_matches());
  if (!parsed.ok()) return;
  if (options.check_crc) FUZZ_CHECK(parsed.batch.crc_matches());
  ParseStatus status;
  std::vector<Plain> records = decode_records(parsed.batch, status);
  if (options.validate_records && !parsed.batch.is_compressed()) {
    FUZZ_CHECK(status == ParseStatus::kOk);
    FUZZ_CHECK(records.size() == static_cast<std::size_t>(parsed.batch.record_count()));
  }
  if (parsed.batch.is_compressed()) FUZZ_CHECK(status == ParseStatus::kCompressed);
  if (status == ParseStatus::kOk && !parsed.batch.is_compressed() &&
      !parsed.batch.is_log_append_time()) {
    check_round_trip(records);
  }
}

void check_reader(std::span<const std::byte> data, const ParseOptions& options) {
  BatchReader reader(data, options);
  std::size_t pos = 0;
  for (int i = 0; i < 10000; ++i) {
    ParsedBatch got = reader.next();
    ParsedBatch want = parse_batch(data.subspan(pos), options);
    FUZZ_CHECK(got.status == want.status);
    FUZZ_CHECK(reader.position() == pos + (got.ok() ? got.bytes : 0));
    if (!got.ok()) {
      // Sticky: the same outcome again, at the same position.
      FUZZ_CHECK(reader.next().status == got.status);
      FUZZ_CHECK(reader.position() == pos);
      return;
    }
    FUZZ_CHECK(got.bytes > 0);
    pos += got.bytes;
  }
}

void fuzz_decode(std::uint8_t mode, std::span<const std::byte> data) {
  ParseOptions options;
  options.check_crc = (mode & 2) == 0;
  options.validate_records = (mode & 4) != 0;
  const std::size_t limits[] = {kDefaultMaxBatchBytes, 61, 62, 128, 1024, 4096, 65536, 1 << 20};
  options.max_batch_bytes = limits[(mode >> 3) & 7];
  ParsedBatch parsed = parse_batch(data, options);
  check_parsed(data, options, parsed);
  check_reader(data, options);
}

void fuzz_build(FuzzedDataProvider& fdp) {
  std::vector<Plain> records;
  while (fdp.remaining_bytes() > 0 && records.size() < 100) {
    Plain p;
    if (fdp.ConsumeBool()) {
      auto k = fdp.ConsumeRandomLengthString(64);
      p.key = Bytes(reinterpret_cast<const std::byte*>(k.data()),
                    reinterpret_cast<const std::byte*>(k.data() + k.size()));
    }
    if (fdp.ConsumeBool()) {
      auto v = fdp.ConsumeRandomLengthString(512);
      p.value = Bytes(reinterpret_cast<const std::byte*>(v.data()),
                      reinterpret_cast<const std::byte*>(v.data() + v.size()));
    }
    const int header_count = fdp.ConsumeIntegralInRange(0, 3);
    for (int h = 0; h < header_count; ++h) {
      std::string key = fdp.ConsumeRandomLengthString(16);
      std::optional<Bytes> value;
      if (fdp.ConsumeBool()) {
        auto v = fdp.ConsumeRandomLengthString(32);
        value = Bytes(reinterpret_cast<const std::byte*>(v.data()),
                      reinterpret_cast<const std::byte*>(v.data() + v.size()));
      }
      p.headers.emplace_back(std::move(key), std::move(value));
    }
    // Any timestamp but "now"; deltas may be negative and large.
    p.timestamp_ms = fdp.ConsumeIntegralInRange<std::int64_t>(0, std::int64_t{1} << 50);
    records.push_back(std::move(p));
  }
  check_round_trip(records);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  if (data[0] & 1) {
    FuzzedDataProvider fdp(data + 1, size - 1);
    fuzz_build(fdp);
  } else {
    fuzz_decode(data[0], std::as_bytes(std::span(data + 1, size - 1)));
  }
  return 0;
}
