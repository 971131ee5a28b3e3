// Validation of the batches a producer appends: the one check that every way into the engine
// makes before anything is stored (Engine::append_async, the line protocol's `putb`, Kafka
// Produce), record by record, as Kafka's broker does (LogValidator).
//
//   auto checked = ringlog::validate_batches(std::move(bytes), engine.append_limits());
//   if (!checked) reply_error(checked.error());           // nothing of it is stored
//   else engine.append_async(topic, partition, std::move(*checked), done);
//
// A ValidatedBatches can only come out of validate_batches, so an engine that is handed one
// does not check the records again; it only re-checks the sizes against its own limits.
//
// What validate_batches requires of every batch, in this order (docs/format.md, "What an
// append must satisfy"):
//   * a whole RecordBatch v2: magic 2, a batchLength of at least 49 that fits the bytes given,
//     at most max_batch_bytes in all, and a matching CRC32C;
//   * not a control batch; record count >= 1 and equal to lastOffsetDelta + 1; a producer id
//     >= 0 comes with a base sequence >= 0; a transactional batch has a producer id;
//     a defined compression codec (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd);
//   * its records (inflated for codecs 1-4, streaming, at most max_uncompressed_batch_bytes):
//     exactly `record count` records that end exactly where the batch (or the uncompressed
//     stream) ends, each decoding exactly to its declared length (varints, key and value
//     lengths >= -1, a header count >= 0 and no more headers than bytes, non-null header keys),
//     offset deltas 0, 1, ..., count - 1, and timestamps (baseTimestamp + timestampDelta) that
//     do not overflow and are not below -1 (NO_TIMESTAMP).
// The whole append holds at most max_append_bytes. Errors name the batch, its byte position and
// the reason: kTooLarge for the size limits (incl. inflation), kCorruption for bytes that are
// not a batch (framing, magic, CRC, an undefined codec, a stream that does not decompress),
// kInvalidArgument for a well-formed batch whose contents break a rule above.
//
// One rewrite, as Kafka's broker makes it: a batch whose maxTimestamp is not the largest record
// timestamp, or that claims LogAppendTime, gets the CreateTime attribute and the true
// maxTimestamp, and its CRC is recomputed (so offsets-by-time and time retention see what the
// records say, whatever the producer put in the header).
//
// Cost: uncompressed batches are walked in place (no allocation beyond the summary of a second
// batch); compressed ones allocate their codec's state and a buffer of the largest record.
// Threading: reentrant.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include <ringlog/batch.h>
#include <ringlog/error.h>

namespace ringlog {

struct AppendLimits {
  std::size_t max_batch_bytes = (std::size_t{1} << 20) + 512;  // one batch, header included
  std::size_t max_append_bytes = std::size_t{16} << 20;        // all the batches of an append
  // The records of one compressed batch once inflated: bounds the memory and CPU a small
  // compressed batch can cost (zip bombs).
  std::size_t max_uncompressed_batch_bytes = std::size_t{64} << 20;
};

// What validation learnt about one batch (its header as stored, after the rewrite above).
struct BatchSummary {
  std::uint32_t size_bytes = 0;
  std::int32_t record_count = 0;  // == lastOffsetDelta + 1
  std::int64_t max_timestamp_ms = -1;
  Compression compression = Compression::kNone;
  bool transactional = false;
  std::int64_t producer_id = kNoProducerId;
  std::int16_t producer_epoch = kNoProducerEpoch;
  std::int32_t base_sequence = kNoSequence;
};

// Batches that passed validate_batches, with what it learnt. Move-only; owns the bytes.
class ValidatedBatches {
 public:
  ValidatedBatches() = default;
  ValidatedBatches(ValidatedBatches&&) noexcept = default;
  ValidatedBatches& operator=(ValidatedBatches&&) noexcept = default;
  ValidatedBatches(const ValidatedBatches&) = delete;
  ValidatedBatches& operator=(const ValidatedBatches&) = delete;

  std::span<const std::byte> bytes() const noexcept { return bytes_; }
  std::size_t size_bytes() const noexcept { return bytes_.size(); }
  // The bytes, for the engine, which stamps base offsets into them (outside the CRC).
  std::vector<std::byte> release() && noexcept { return std::move(bytes_); }

  std::size_t batch_count() const noexcept { return count_; }
  // REQUIRES: index < batch_count() (asserted).
  const BatchSummary& batch(std::size_t index) const noexcept;
  // Offsets the batches take: the sum of their record counts.
  std::int64_t record_count() const noexcept { return records_; }
  std::size_t largest_batch_bytes() const noexcept { return largest_; }

 private:
  friend Result<ValidatedBatches> validate_batches(std::vector<std::byte> bytes,
                                                   const AppendLimits& limits);
  void add(const BatchSummary& summary);

  std::vector<std::byte> bytes_;
  BatchSummary first_;
  std::vector<BatchSummary> more_;  // the second batch on; empty (no allocation) for one batch
  std::size_t count_ = 0;
  std::int64_t records_ = 0;
  std::size_t largest_ = 0;
};

// Validates `bytes` (one or more concatenated batches) and takes them. On error nothing is kept.
Result<ValidatedBatches> validate_batches(std::vector<std::byte> bytes, const AppendLimits& limits);

// Whether any batch in `bytes` claims a compression codec (read from the headers only, nothing
// validated): a caller that keeps a latency-sensitive thread may validate those elsewhere.
bool has_compressed_batch(std::span<const std::byte> bytes) noexcept;

}  // namespace ringlog
