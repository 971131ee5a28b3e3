// Compression of record bytes with Kafka's codecs, in the formats Kafka's Java client writes:
// gzip (a GZIPOutputStream member), snappy (snappy-java's xerial framing, 32 KiB blocks; or one
// raw block as librdkafka writes it), lz4 (an LZ4 frame of independent 64 KiB blocks, as
// KafkaLZ4BlockOutputStream) and zstd (one frame, level 3). The inverse of inflate.h; used to
// build compressed batches (compress_batch) for tests, benchmarks and tools.
// Threading: reentrant.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include <ringlog/batch.h>
#include <ringlog/error.h>

namespace ringlog {

enum class SnappyFraming : std::uint8_t { kXerial, kRaw };

// The compressed form of `data`. kInvalidArgument for Compression::kNone or an undefined codec.
Result<std::vector<std::byte>> deflate_records(Compression codec, std::span<const std::byte> data,
                                               SnappyFraming framing = SnappyFraming::kXerial);

// `batch` (one whole uncompressed batch) with its records compressed by `codec`: the
// attributes, batchLength and CRC are rewritten, every other header field is kept.
Result<std::vector<std::byte>> compress_batch(std::span<const std::byte> batch, Compression codec,
                                              SnappyFraming framing = SnappyFraming::kXerial);

}  // namespace ringlog
