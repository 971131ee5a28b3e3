// Writes the seed corpus of the fuzz targets from real encoders (BatchBuilder) and real
// captures (the kcat and Java producer batches of tests/codec/codec_support.h):
//
//   build-fuzz/fuzz_make_corpus tests/fuzz/corpus
//
// Each file starts with the target's mode byte (see the target's header comment). The files are
// committed; rerun this only when the formats change.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include <ringlog/batch.h>

#include "engine/deflate.h"
#include "tests/codec/codec_support.h"

namespace {

using namespace ringlog;
using Bytes = std::vector<std::byte>;

void write(const std::filesystem::path& dir, const std::string& name, std::uint8_t mode,
           std::span<const std::byte> bytes) {
  std::filesystem::create_directories(dir);
  std::ofstream out(dir / name, std::ios::binary);
  out.put(static_cast<char>(mode));
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

void write_text(const std::filesystem::path& dir, const std::string& name, std::uint8_t mode,
                std::string_view text) {
  write(dir, name, mode, as_bytes(text));
}

Bytes batch_at(std::int64_t base, int records, bool with_headers) {
  BatchBuilder builder({.base_offset = base});
  const RecordHeader headers[] = {{"h1", as_bytes("v1")}, {"trace", std::nullopt}};
  for (int i = 0; i < records; ++i) {
    std::string value = "message-" + std::to_string(base + i);
    std::optional<std::span<const std::byte>> key;
    std::string key_text = "key" + std::to_string(i % 3);
    if (i % 2 == 0) key = as_bytes(key_text);
    builder.add(
        key, as_bytes(value),
        with_headers ? std::span<const RecordHeader>(headers) : std::span<const RecordHeader>(),
        1'700'000'000'000 + i * 7);
  }
  auto bytes = builder.finish();
  return {bytes.begin(), bytes.end()};
}

Bytes concat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts)
    out.insert(out.end(), p.begin(), p.end());
  return out;
}

void batch_decoder(const std::filesystem::path& root) {
  const auto dir = root / "batch_decoder";
  const Bytes kcat = test::from_hex(test::kKcatMsg1Batch);
  const Bytes java = test::from_hex(test::kJavaProducerBatch);
  write(dir, "kcat", 0x00, kcat);
  write(dir, "kcat-validate", 0x04, kcat);
  write(dir, "java-producer-validate", 0x04, java);
  write(dir, "built-headers-validate", 0x04, batch_at(0, 5, true));
  write(dir, "two-batches", 0x00, concat({batch_at(0, 3, false), batch_at(3, 2, true)}));
  write(dir, "batch-then-zeros", 0x04, concat({batch_at(0, 2, false), Bytes(64)}));
  Bytes torn = batch_at(0, 4, false);
  torn.resize(torn.size() - 5);
  write(dir, "torn", 0x00, torn);
  write_text(dir, "build-records", 0x01, "key\x01value bytes\x02\x00header\x05more\x33\x44\x55");
}

// batch_validation reads its header choices from the end of the input (FuzzedDataProvider
// takes integers from the back) and the record bytes from the front: records, then the choices
// in reverse order of consumption.
void write_validation_seed(const std::filesystem::path& dir, const std::string& name,
                           std::span<const std::byte> records, std::uint8_t mode,
                           std::uint8_t count, std::uint8_t codec) {
  std::filesystem::create_directories(dir);
  std::ofstream out(dir / name, std::ios::binary);
  out.write(reinterpret_cast<const char*>(records.data()),
            static_cast<std::streamsize>(records.size()));
  // codec, transactional (1: no), producer (0: none), base timestamp int16 (0x8000 -> +0,
  // least significant byte first in the file), timestamp kind (0: near now), lastOffsetDelta
  // kind (2: count - 1), count (-1 + byte % 42), mode.
  const unsigned char tail[] = {
      codec, 1, 0, 0x00, 0x80, 0, 2, static_cast<unsigned char>(count + 1), mode};
  out.write(reinterpret_cast<const char*>(tail), sizeof tail);
}

void batch_validation(const std::filesystem::path& root) {
  const auto dir = root / "batch_validation";
  const Bytes kcat = test::from_hex(test::kKcatMsg1Batch);
  const Bytes java = test::from_hex(test::kJavaProducerBatch);
  const Bytes built = batch_at(0, 5, true);
  const auto records = [](const Bytes& batch) { return BatchView(batch).record_bytes(); };
  write_validation_seed(dir, "kcat-records", records(kcat), 1, 1, 3);
  write_validation_seed(dir, "java-records", records(java), 1, 5, 4);
  write_validation_seed(dir, "built-records-gzip", records(built), 1, 5, 1);
  write_validation_seed(dir, "built-records-snappy-raw", records(built), 1, 5, 0x12);
  write_validation_seed(dir, "lying-count", records(kcat), 1, 5, 3);
  for (const auto& [name, codec] :
       {std::pair{"raw-gzip", Compression::kGzip}, std::pair{"raw-snappy", Compression::kSnappy},
        std::pair{"raw-lz4", Compression::kLz4}, std::pair{"raw-zstd", Compression::kZstd}}) {
    auto squeezed = compress_batch(built, codec);
    if (!squeezed) continue;
    write_validation_seed(dir, name, BatchView(*squeezed).record_bytes(), 0, 5,
                          static_cast<std::uint8_t>(codec));
  }
}

void segment_scanner(const std::filesystem::path& root) {
  const auto dir = root / "segment_scanner";
  const Bytes log = concat({batch_at(0, 3, false), batch_at(3, 1, true), batch_at(4, 5, false)});
  write(dir, "three-batches", 0x00, log);
  write(dir, "preallocated-tail", 0x04, concat({log, Bytes(200)}));
  Bytes torn = concat({log, batch_at(9, 2, false)});
  torn.resize(torn.size() - 9);
  write(dir, "torn-tail", 0x00, torn);
  Bytes flipped = log;
  flipped[flipped.size() - 3] ^= std::byte{0x40};
  write(dir, "crc-mismatch-last", 0x00, flipped);
  write(dir, "offset-gap", 0x00, concat({batch_at(0, 2, false), batch_at(5, 2, false)}));
  write(dir, "high-base", 0x08,
        concat({batch_at(1'000'000'000'000, 2, false), batch_at(1'000'000'000'002, 1, false)}));
  write(dir, "kcat", 0x00, test::from_hex(test::kKcatMsg1Batch));
  // Mode 0x30: after ~250 KiB of valid batches, renumbered; the log crosses the read chunk.
  write(dir, "chunk-straddle", 0x30,
        concat({batch_at(0, 3, false), batch_at(0, 60, true), batch_at(0, 60, false), Bytes(40)}));
  write(dir, "chunk-straddle-torn", 0x30, [] {
    Bytes b = concat({batch_at(0, 60, true), batch_at(0, 80, false)});
    b.resize(b.size() - 100);
    return b;
  }());
  write(dir, "renumbered", 0x20, concat({batch_at(7, 2, false), batch_at(3, 5, true)}));
}

void request_parser(const std::filesystem::path& root) {
  const auto dir = root / "request_parser";
  // Raw mode ("0" is even): sessions as a client sends them.
  write_text(dir, "nc-session", '0',
             "ping\ncreate orders 2\nput orders 0 5\nhello\nput orders 0 5 key=user42\nworld\n"
             "get orders 0 0\noffsets orders 0\ncommit billing orders 0 2\n"
             "committed billing orders 0\nget orders 0 7\nget nosuch 0 0\nput orders 0 abc\n");
  write_text(dir, "pipelined-crlf", '0',
             "put t 0 3\r\nabc\r\nput t 1 0\r\n\r\nfetch t 0 0 1048576 100\r\n"
             "get t 0 0 10 5\r\nstats\r\nstats t\r\ntopics\r\ndescribe t\r\nversion\r\nquit\r\n");
  std::string putb = "putb t 0 ";
  const Bytes kcat = test::from_hex(test::kKcatMsg1Batch);
  putb += std::to_string(kcat.size()) + "\r\n";
  putb.append(reinterpret_cast<const char*>(kcat.data()), kcat.size());
  putb += "\r\nPING\r\n";
  write_text(dir, "putb-kcat", '0', putb);
  write_text(dir, "bad-requests", '0',
             "put ../x 0 1\r\na\r\nget t -1 0\r\nget t 0 99999999999999999999\r\nfrob\r\n"
             "put t 0 2000\r\n" +
                 std::string(2000, 'x') + "\r\nping\r\n");
  write_text(dir, "keyhex", '0', "put t 0 1 keyhex=00ff\r\nz\r\ncreate t 0\r\ndelete t\r\n");
  write_text(dir, "structured", 0x01, "some bytes that drive the structured generator 0123456789");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz_make_corpus CORPUS_DIR\n");
    return 2;
  }
  const std::filesystem::path root = argv[1];
  batch_decoder(root);
  segment_scanner(root);
  request_parser(root);
  batch_validation(root);
  return 0;
}
