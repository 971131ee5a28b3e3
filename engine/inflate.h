// Streaming decompression of the records of a compressed RecordBatch v2 (Kafka's codecs: gzip,
// snappy, lz4, zstd), in bounded memory.
//
// An Inflater reads a batch's compressed blob (BatchView::record_bytes()) and hands out the
// uncompressed bytes in pieces the caller sizes, so that a caller can walk records without
// holding the whole uncompressed stream. What each codec holds while it works:
//   gzip   - zlib's 32 KiB window (GZIPInputStream format; concatenated members are read on);
//   zstd   - the frame's window, refused above 2^kZstdMaxWindowLog bytes (concatenated frames);
//   lz4    - the LZ4 frame format Kafka writes (KafkaLZ4BlockOutputStream), blocks of up to
//            4 MiB plus a 64 KiB window; concatenated frames are read on;
//   snappy - snappy-java's "xerial" framing (a magic header, then independent blocks of
//            [int32 compressed length][raw snappy]) as Kafka's Java client writes it, one block
//            at a time; or, like snappy-java's SnappyInputStream fallback, one raw snappy block
//            (librdkafka writes that), which is uncompressed whole (its length is checked first).
// The uncompressed total is bounded by `max_bytes`: more is kTooLarge, never allocated.
// Malformed input is kCorruption (with the codec's reason); nothing is read outside the input.
//
// Lifetime: the Inflater borrows the compressed bytes. Threading: one thread at a time.
#pragma once

#include <cstddef>
#include <memory>
#include <span>

#include <ringlog/batch.h>
#include <ringlog/error.h>

namespace ringlog {

inline constexpr unsigned kZstdMaxWindowLog = 24;  // 16 MiB; zstd level 3 frames use <= 2 MiB

class Inflater {
 public:
  virtual ~Inflater() = default;
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;

  // Fills `out` with the next uncompressed bytes and returns how many (at least 1 while the
  // stream goes on, fewer than out.size() only at its end); 0 once the stream has ended.
  // REQUIRES: !out.empty().
  virtual Result<std::size_t> read(std::span<std::byte> out) = 0;

  // Uncompressed bytes handed out so far, and how many more may be.
  std::size_t produced() const noexcept { return produced_; }
  std::size_t remaining_bytes() const noexcept { return max_bytes_ - produced_; }
  std::size_t max_bytes() const noexcept { return max_bytes_; }

 protected:
  explicit Inflater(std::size_t max_bytes) : max_bytes_(max_bytes) {}
  // Counts `n` more bytes against max_bytes; kTooLarge beyond it.
  Status count(std::size_t n);

 private:
  std::size_t max_bytes_;
  std::size_t produced_ = 0;
};

// An Inflater for `codec` over `compressed`. kInvalidArgument for Compression::kNone or an
// undefined codec; kCorruption when the stream's header is unusable.
Result<std::unique_ptr<Inflater>> make_inflater(Compression codec,
                                                std::span<const std::byte> compressed,
                                                std::size_t max_bytes);

// "gzip", "snappy", "lz4", "zstd", "none", or "codec <n>".
std::string compression_name(Compression codec);

}  // namespace ringlog
