// RecordBatch v2 codec benchmarks: CRC32C next to memcpy, batch encode and decode.
//
//   BM_Crc32c/<bytes>, BM_Memcpy/<bytes>          - 64 B, 4 KiB, 1 MiB
//   BM_BatchEncode/<record bytes>/<batch bytes>   - BatchBuilder add x N + finish (incl. CRC)
//   BM_BatchDecode/<record bytes>/<batch bytes>   - parse_batch (CRC checked) + iterate records
//   BM_BatchCrcCheck/<record bytes>/<batch bytes> - what an append cost before issue 15: the
//                                                   header walk and CRC of parse_batch
//   BM_BatchValidate/<codec>/<record bytes>/<batch bytes>
//                                                 - validate_batches (CRC, header rules, every
//                                                   record; codecs 1-4 inflated), incl. its copy
//                                                   of the batch (an append owns its bytes)
// Bytes processed are batch bytes (uncompressed size for BM_BatchValidate); items are records.
#include <benchmark/benchmark.h>

#include <cstring>
#include <vector>

#include "engine/crc32c.h"
#include "engine/deflate.h"
#include "ringlog/batch.h"
#include "ringlog/validation.h"

namespace ringlog {
namespace {

std::vector<std::byte> pattern(std::size_t bytes) {
  std::vector<std::byte> out(bytes);
  for (std::size_t i = 0; i < bytes; ++i)
    out[i] = static_cast<std::byte>(i * 131 + 7);
  return out;
}

void BM_Crc32c(benchmark::State& state) {
  const auto data = pattern(static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) {
    benchmark::DoNotOptimize(crc32c(data));
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Crc32c)->Arg(64)->Arg(4 << 10)->Arg(1 << 20);

void BM_Memcpy(benchmark::State& state) {
  const auto data = pattern(static_cast<std::size_t>(state.range(0)));
  std::vector<std::byte> copy(data.size());
  for (auto _ : state) {
    std::memcpy(copy.data(), data.data(), data.size());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Memcpy)->Arg(64)->Arg(4 << 10)->Arg(1 << 20);

// Records of range(0) value bytes (null key, no headers) until the batch reaches range(1) bytes.
std::size_t records_per_batch(const benchmark::State& state) {
  const auto record_bytes = static_cast<std::size_t>(state.range(0));
  return std::max<std::size_t>(1, static_cast<std::size_t>(state.range(1)) / record_bytes);
}

void fill(BatchBuilder& builder, std::span<const std::byte> value, std::size_t records) {
  for (std::size_t i = 0; i < records; ++i) {
    builder.add(std::nullopt, value, {}, 1'700'000'000'000 + static_cast<std::int64_t>(i));
  }
}

void BM_BatchEncode(benchmark::State& state) {
  const auto value = pattern(static_cast<std::size_t>(state.range(0)));
  const std::size_t records = records_per_batch(state);
  BatchBuilder builder({}, static_cast<std::size_t>(state.range(1)) * 2);
  std::size_t batch_bytes = 0;
  for (auto _ : state) {
    builder.reset();
    fill(builder, value, records);
    const auto bytes = builder.finish();
    benchmark::DoNotOptimize(bytes.data());
    batch_bytes = bytes.size();
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(batch_bytes));
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(records));
}

void BM_BatchDecode(benchmark::State& state) {
  const auto value = pattern(static_cast<std::size_t>(state.range(0)));
  const std::size_t records = records_per_batch(state);
  BatchBuilder builder;
  fill(builder, value, records);
  const auto bytes = builder.finish();
  for (auto _ : state) {
    const ParsedBatch parsed = parse_batch(bytes);
    if (!parsed.ok()) state.SkipWithError("parse failed");
    std::size_t value_bytes = 0;
    auto range = parsed.batch.records();
    for (const RecordView& r : range)
      value_bytes += r.value->size();
    if (range.status() != ParseStatus::kOk) state.SkipWithError("records malformed");
    benchmark::DoNotOptimize(value_bytes);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(bytes.size()));
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(records));
}

void record_and_batch_sizes(benchmark::internal::Benchmark* b) {
  for (std::int64_t record : {100, 1024}) {
    for (std::int64_t batch : {16 << 10, 1 << 20})
      b->Args({record, batch});
  }
}
BENCHMARK(BM_BatchEncode)->Apply(record_and_batch_sizes);
BENCHMARK(BM_BatchDecode)->Apply(record_and_batch_sizes);

void BM_BatchCrcCheck(benchmark::State& state) {
  const auto value = pattern(static_cast<std::size_t>(state.range(0)));
  const std::size_t records = records_per_batch(state);
  BatchBuilder builder;
  fill(builder, value, records);
  const auto bytes = builder.finish();
  for (auto _ : state) {
    std::vector<std::byte> copy(bytes.begin(), bytes.end());
    const ParsedBatch parsed = parse_batch(copy);
    if (!parsed.ok()) state.SkipWithError("parse failed");
    benchmark::DoNotOptimize(copy.data());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(bytes.size()));
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(records));
}

void BM_BatchValidate(benchmark::State& state) {
  const auto codec = static_cast<Compression>(state.range(0));
  // Values that compress like text (a few distinct bytes), not like noise.
  std::vector<std::byte> value(static_cast<std::size_t>(state.range(1)));
  for (std::size_t i = 0; i < value.size(); ++i)
    value[i] = static_cast<std::byte>('a' + (i * 7 + i / 13) % 11);
  const std::size_t records =
      std::max<std::size_t>(1, static_cast<std::size_t>(state.range(2) / state.range(1)));
  BatchBuilder builder;
  fill(builder, value, records);
  const auto plain = builder.finish();
  std::vector<std::byte> batch(plain.begin(), plain.end());
  if (codec != Compression::kNone) {
    auto squeezed = compress_batch(plain, codec);
    if (!squeezed) return state.SkipWithError("compress failed");
    batch = std::move(*squeezed);
  }
  for (auto _ : state) {
    auto validated = validate_batches(batch, {.max_batch_bytes = 16 << 20});
    if (!validated) state.SkipWithError(validated.error().to_string().c_str());
    benchmark::DoNotOptimize(validated->bytes().data());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(plain.size()));
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(records));
  state.counters["stored_bytes"] = static_cast<double>(batch.size());
}

BENCHMARK(BM_BatchCrcCheck)->Apply(record_and_batch_sizes);
BENCHMARK(BM_BatchValidate)->Apply([](benchmark::internal::Benchmark* b) {
  for (std::int64_t codec : {0, 3, 4, 1, 2}) {
    for (std::int64_t record : {100, 1024})
      b->Args({codec, record, 1 << 20});
  }
  b->Args({0, 100, 16 << 10});
  b->Args({0, 1024, 16 << 10});
});

}  // namespace
}  // namespace ringlog
