// RecordBatch v2: building, parsing and rewriting Kafka's on-disk and on-wire batch.
//
// ringlog stores Kafka's RecordBatch v2 (magic 2) byte for byte, so a fetch can send file bytes to
// any Kafka client unchanged. docs/format.md is the normative description of the layout; this
// header pins it with constants and static_asserts and offers:
//
//   * BatchBuilder   - encodes records into an uncompressed batch (what an embedder appends);
//   * parse_batch    - validates untrusted bytes (a segment file, a Produce request) and yields
//                      a BatchView plus one of distinct ParseStatus outcomes;
//   * BatchReader    - walks a buffer of consecutive batches (recovery, index rebuild, fetch);
//   * BatchView      - a non-owning view of one whole batch: header fields and record iteration;
//   * set_base_offset / set_leader_epoch - in-place rewrites that leave the CRC valid.
//
// All integers in a batch are big-endian; all varints in records are zigzag (protobuf sint).
// Nothing here allocates except BatchBuilder's own buffer. No function throws.
// Threading: everything is reentrant; a BatchBuilder is a plain value owned by one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <optional>
#include <span>
#include <string_view>

namespace ringlog {

// ---------------------------------------------------------------------------------------------
// Layout (docs/format.md, "Batch header"). Offsets are from the first byte of the batch.

inline constexpr std::size_t kBaseOffsetAt = 0;        // i64
inline constexpr std::size_t kBatchLengthAt = 8;       // i32, bytes after kBatchLengthFieldEnd
inline constexpr std::size_t kLeaderEpochAt = 12;      // i32 partitionLeaderEpoch
inline constexpr std::size_t kMagicAt = 16;            // i8, always 2
inline constexpr std::size_t kCrcAt = 17;              // u32 CRC32C of [kAttributesAt, end)
inline constexpr std::size_t kAttributesAt = 21;       // i16
inline constexpr std::size_t kLastOffsetDeltaAt = 23;  // i32
inline constexpr std::size_t kBaseTimestampAt = 27;    // i64 (Kafka: firstTimestamp)
inline constexpr std::size_t kMaxTimestampAt = 35;     // i64
inline constexpr std::size_t kProducerIdAt = 43;       // i64, -1 = none
inline constexpr std::size_t kProducerEpochAt = 51;    // i16, -1 = none
inline constexpr std::size_t kBaseSequenceAt = 53;     // i32, -1 = none
inline constexpr std::size_t kRecordCountAt = 57;      // i32
inline constexpr std::size_t kRecordsAt = 61;          // first record (or compressed blob)
inline constexpr std::size_t kBatchHeaderBytes = 61;

// batchLength counts the bytes that follow its own field: total size = 12 + batchLength.
inline constexpr std::size_t kBatchLengthFieldEnd = kLeaderEpochAt;
// The smallest legal batchLength: a header with no records.
inline constexpr std::int32_t kMinBatchLength =
    static_cast<std::int32_t>(kBatchHeaderBytes - kBatchLengthFieldEnd);
// The CRC covers everything from the attributes to the end of the batch.
inline constexpr std::size_t kCrcCoveredFrom = kAttributesAt;
inline constexpr std::int8_t kMagicV2 = 2;
// Default upper bound on a whole batch (header included) accepted by parse_batch.
inline constexpr std::size_t kDefaultMaxBatchBytes = std::size_t{16} << 20;

static_assert(kBatchLengthAt == kBaseOffsetAt + 8);
static_assert(kLeaderEpochAt == kBatchLengthAt + 4);
static_assert(kMagicAt == kLeaderEpochAt + 4);
static_assert(kCrcAt == kMagicAt + 1);
static_assert(kAttributesAt == kCrcAt + 4);
static_assert(kLastOffsetDeltaAt == kAttributesAt + 2);
static_assert(kBaseTimestampAt == kLastOffsetDeltaAt + 4);
static_assert(kMaxTimestampAt == kBaseTimestampAt + 8);
static_assert(kProducerIdAt == kMaxTimestampAt + 8);
static_assert(kProducerEpochAt == kProducerIdAt + 8);
static_assert(kBaseSequenceAt == kProducerEpochAt + 2);
static_assert(kRecordCountAt == kBaseSequenceAt + 4);
static_assert(kRecordsAt == kRecordCountAt + 4);
static_assert(kBatchHeaderBytes == 61, "Kafka's RECORD_BATCH_OVERHEAD");
static_assert(kMinBatchLength == 49);

// Attribute bits (i16 at kAttributesAt).
inline constexpr std::int16_t kCompressionMask = 0x07;   // bits 0-2: Compression
inline constexpr std::int16_t kLogAppendTimeBit = 0x08;  // bit 3: timestamp type
inline constexpr std::int16_t kTransactionalBit = 0x10;  // bit 4
inline constexpr std::int16_t kControlBit = 0x20;        // bit 5
inline constexpr std::int16_t kDeleteHorizonBit = 0x40;  // bit 6 (set by compaction)

enum class Compression : std::uint8_t { kNone = 0, kGzip = 1, kSnappy = 2, kLz4 = 3, kZstd = 4 };
// Codes 5-7 are undefined by Kafka; compression() reports them as they are.

// The "no value" markers used by Kafka in the header fields.
inline constexpr std::int64_t kNoProducerId = -1;
inline constexpr std::int16_t kNoProducerEpoch = -1;
inline constexpr std::int32_t kNoSequence = -1;
inline constexpr std::int32_t kNoLeaderEpoch = -1;
// BatchBuilder::add: "stamp the record with the wall clock now".
inline constexpr std::int64_t kTimestampNow = -1;

// Views a string's bytes (no copy), for the std::span based calls.
inline std::span<const std::byte> as_bytes(std::string_view text) noexcept {
  return std::as_bytes(std::span<const char>(text.data(), text.size()));
}

// ---------------------------------------------------------------------------------------------
// Header fields

// A record header (Kafka: `Header`). The key is never null (Kafka rejects a negative header key
// length); the value may be null. Parsed keys are not checked to be UTF-8.
struct RecordHeader {
  std::string_view key;
  std::optional<std::span<const std::byte>> value;
};

// The 61-byte batch header decoded into host integers.
struct BatchHeader {
  std::int64_t base_offset;
  std::int32_t batch_length;
  std::int32_t leader_epoch;
  std::int8_t magic;
  std::uint32_t crc;
  std::int16_t attributes;
  std::int32_t last_offset_delta;
  std::int64_t base_timestamp_ms;
  std::int64_t max_timestamp_ms;
  std::int64_t producer_id;
  std::int16_t producer_epoch;
  std::int32_t base_sequence;
  std::int32_t record_count;
};

// Decodes the header fields; nothing is validated.
// REQUIRES: bytes.size() >= kBatchHeaderBytes (asserted).
BatchHeader read_batch_header(std::span<const std::byte> bytes) noexcept;

// ---------------------------------------------------------------------------------------------
// Parse outcomes

enum class ParseStatus : std::uint8_t {
  kOk = 0,           // a whole, valid batch
  kEndOfData,        // no bytes at all
  kZeroFilled,       // the first min(size, 17) bytes are all zero: never-written space
  kShortHeader,      // 1..60 bytes that are not zero-filled
  kBadMagic,         // magic (byte 16) is not 2
  kBadLength,        // batchLength < 49, or 12 + batchLength > max_batch_bytes (incl. negative)
  kTruncated,        // a plausible header whose batch extends past the available bytes (torn tail)
  kCrcMismatch,      // the stored CRC32C differs from the computed one
  kMalformedRecord,  // validate_records: records do not decode exactly to the declared batch
  kCompressed,       // records of a compressed batch were asked for (never from parse_batch)
};

// "ok", "end_of_data", "zero_filled", "short_header", "bad_magic", "bad_length", "truncated",
// "crc_mismatch", "malformed_record", "compressed".
std::string_view parse_status_name(ParseStatus status) noexcept;

struct ParseOptions {
  // Largest whole batch accepted (header included); larger claims give kBadLength.
  std::size_t max_batch_bytes = kDefaultMaxBatchBytes;
  // Compute and compare the CRC32C (kCrcMismatch).
  bool check_crc = true;
  // Decode every record of an uncompressed batch (kMalformedRecord). Compressed batches are
  // checked by header and CRC only.
  bool validate_records = false;
};

// ---------------------------------------------------------------------------------------------
// Records

// Iterates the headers of one record. Built by RecordView; the bytes were bounds-checked when
// the record was decoded.
class HeaderIterator {
 public:
  using value_type = RecordHeader;
  using difference_type = std::ptrdiff_t;

  HeaderIterator() = default;
  HeaderIterator(std::span<const std::byte> bytes, std::int32_t count) noexcept;

  const RecordHeader& operator*() const noexcept { return current_; }
  const RecordHeader* operator->() const noexcept { return &current_; }
  HeaderIterator& operator++() noexcept;
  void operator++(int) noexcept { ++*this; }
  bool operator==(std::default_sentinel_t) const noexcept { return remaining_ < 0; }

 private:
  void decode_next() noexcept;

  std::span<const std::byte> rest_;
  std::int32_t remaining_ = -1;  // -1: at end
  RecordHeader current_;
};

// One decoded record. Spans point into the batch's bytes and live as long as they do.
struct RecordView {
  std::int64_t offset = 0;        // baseOffset + offsetDelta
  std::int64_t timestamp_ms = 0;  // baseTimestamp + timestampDelta; maxTimestamp under
                                  // LogAppendTime (as Kafka's DefaultRecordBatch does)
  std::int8_t attributes = 0;     // unused by Kafka, kept for completeness
  std::optional<std::span<const std::byte>> key;    // nullopt = null key
  std::optional<std::span<const std::byte>> value;  // nullopt = null value
  std::int32_t header_count = 0;
  std::span<const std::byte> header_bytes;  // the encoded headers, for headers()

  struct HeaderRange {
    std::span<const std::byte> bytes;
    std::int32_t count;
    HeaderIterator begin() const noexcept { return HeaderIterator(bytes, count); }
    std::default_sentinel_t end() const noexcept { return {}; }
  };
  HeaderRange headers() const noexcept { return {header_bytes, header_count}; }
};

class BatchView;

// Decodes the records of one batch in order, checking every length against the batch end.
// next() returns nullopt at the end or at the first problem; status() then says which:
//   kOk              - all record_count records decoded and they end exactly at the batch end;
//   kMalformedRecord - a varint overflowed, a length was negative (other than -1 for null key
//                      or value) or ran past the record, a record's length disagreed with its
//                      contents, offset deltas were not increasing within [0, lastOffsetDelta],
//                      or the record count lied (fewer records or bytes left over);
//   kCompressed      - the batch is compressed; nothing is decoded (ringlog does not inflate).
// Lifetime: the reader and its RecordViews borrow the batch bytes.
class RecordReader {
 public:
  explicit RecordReader(const BatchView& batch) noexcept;

  std::optional<RecordView> next() noexcept;
  ParseStatus status() const noexcept { return status_; }
  // Records returned so far.
  std::int32_t decoded() const noexcept { return decoded_; }

 private:
  std::optional<RecordView> fail(ParseStatus status) noexcept;

  std::span<const std::byte> rest_;
  std::int64_t base_offset_ = 0;
  std::int64_t base_timestamp_ms_ = 0;
  std::int64_t max_timestamp_ms_ = 0;
  std::int32_t last_offset_delta_ = 0;
  std::int32_t record_count_ = 0;
  std::int32_t decoded_ = 0;
  std::int64_t previous_delta_ = -1;
  bool log_append_time_ = false;
  bool done_ = false;
  ParseStatus status_ = ParseStatus::kOk;
};

// Range-for over a batch's records: `for (const RecordView& r : batch.records())`. Iteration
// stops at the end or at the first malformed record; check status() afterwards when the batch
// was not parsed with validate_records. Iterators point into the range: do not move a range
// after calling begin().
class RecordRange {
 public:
  class Iterator {
   public:
    using value_type = RecordView;
    using difference_type = std::ptrdiff_t;
    Iterator() = default;
    explicit Iterator(RecordReader* reader) noexcept : reader_(reader) { ++*this; }
    const RecordView& operator*() const noexcept { return *current_; }
    const RecordView* operator->() const noexcept { return &*current_; }
    Iterator& operator++() noexcept {
      current_ = reader_->next();
      return *this;
    }
    void operator++(int) noexcept { ++*this; }
    bool operator==(std::default_sentinel_t) const noexcept { return !current_.has_value(); }

   private:
    RecordReader* reader_ = nullptr;
    std::optional<RecordView> current_;
  };

  explicit RecordRange(const BatchView& batch) noexcept : reader_(batch) {}
  // REQUIRES: called once per range.
  Iterator begin() noexcept { return Iterator(&reader_); }
  std::default_sentinel_t end() const noexcept { return {}; }
  ParseStatus status() const noexcept { return reader_.status(); }

 private:
  RecordReader reader_;
};

// ---------------------------------------------------------------------------------------------
// BatchView

// A non-owning view of exactly one whole batch (12 + batchLength bytes). Header accessors decode
// big-endian fields on each call (cheap). A view obtained from parse_batch with status kOk has a
// valid length, magic and (if checked) CRC; a view built directly from bytes is trusted only as
// far as its constructor's REQUIRES.
class BatchView {
 public:
  BatchView() = default;
  // REQUIRES: bytes.size() >= kBatchHeaderBytes and bytes.size() == 12 + batchLength (asserted).
  // Use parse_batch for bytes that came from the world.
  explicit BatchView(std::span<const std::byte> bytes) noexcept;

  bool empty() const noexcept { return bytes_.empty(); }
  std::span<const std::byte> bytes() const noexcept { return bytes_; }
  std::size_t size_bytes() const noexcept { return bytes_.size(); }
  BatchHeader header() const noexcept { return read_batch_header(bytes_); }

  std::int64_t base_offset() const noexcept;
  std::int32_t batch_length() const noexcept;
  std::int32_t leader_epoch() const noexcept;
  std::int8_t magic() const noexcept;
  std::uint32_t crc() const noexcept;
  std::int16_t attributes() const noexcept;
  std::int32_t last_offset_delta() const noexcept;
  std::int64_t base_timestamp_ms() const noexcept;
  std::int64_t max_timestamp_ms() const noexcept;
  std::int64_t producer_id() const noexcept;
  std::int16_t producer_epoch() const noexcept;
  std::int32_t base_sequence() const noexcept;
  std::int32_t record_count() const noexcept;

  // base_offset() + last_offset_delta(): the offset of the batch's last record.
  std::int64_t last_offset() const noexcept;
  // last_offset() + 1: where the next batch starts.
  std::int64_t next_offset() const noexcept { return last_offset() + 1; }

  Compression compression() const noexcept;
  bool is_compressed() const noexcept { return compression() != Compression::kNone; }
  bool is_log_append_time() const noexcept { return (attributes() & kLogAppendTimeBit) != 0; }
  bool is_transactional() const noexcept { return (attributes() & kTransactionalBit) != 0; }
  bool is_control() const noexcept { return (attributes() & kControlBit) != 0; }

  // The CRC32C of [kCrcCoveredFrom, end): equals crc() for an intact batch.
  std::uint32_t compute_crc() const noexcept;
  bool crc_matches() const noexcept { return compute_crc() == crc(); }

  // The record bytes (or the compressed blob): [kRecordsAt, end).
  std::span<const std::byte> record_bytes() const noexcept { return bytes_.subspan(kRecordsAt); }
  // Iterates records; for a compressed batch the range is empty with status kCompressed.
  RecordRange records() const noexcept { return RecordRange(*this); }

 private:
  std::span<const std::byte> bytes_;
};

// ---------------------------------------------------------------------------------------------
// Parsing

// The outcome of parse_batch. `bytes` is how far a reader may advance:
//   kOk                          - batch is the whole batch, bytes == batch.size_bytes();
//   kCrcMismatch, kMalformedRecord - the length was sound, so batch and bytes still cover the
//                                  claimed batch (a tool may inspect or skip it; recovery stops);
//   every other status           - batch is empty and bytes == 0.
struct ParsedBatch {
  ParseStatus status = ParseStatus::kEndOfData;
  BatchView batch;
  std::size_t bytes = 0;

  bool ok() const noexcept { return status == ParseStatus::kOk; }
};

// Parses the batch at the start of `data`, which may be followed by more bytes (other batches,
// preallocated zeros). Checks, in this order, each giving its own status: empty input, zero fill,
// short header, magic, length bounds (never trusting batchLength before comparing it with
// max_batch_bytes and data.size()), truncation, CRC, records. Never reads outside `data`.
ParsedBatch parse_batch(std::span<const std::byte> data, ParseOptions options = {}) noexcept;

// Walks consecutive batches in a buffer: next() yields each batch until the first outcome that
// is not kOk, which it then keeps returning (at position() where that outcome was found). A clean
// end of a buffer is kEndOfData; the end of the written part of a preallocated file is
// kZeroFilled; a torn tail is kTruncated or kShortHeader.
class BatchReader {
 public:
  explicit BatchReader(std::span<const std::byte> data, ParseOptions options = {}) noexcept
      : data_(data), options_(options) {}

  ParsedBatch next() noexcept;
  // Bytes consumed by the kOk batches returned so far.
  std::size_t position() const noexcept { return position_; }

 private:
  std::span<const std::byte> data_;
  ParseOptions options_;
  std::size_t position_ = 0;
};

// ---------------------------------------------------------------------------------------------
// In-place rewrites. Both fields precede the CRC-covered range, so the CRC stays valid
// (Kafka's broker stamps them the same way).
// REQUIRES: batch.size() >= kBatchHeaderBytes (asserted).
void set_base_offset(std::span<std::byte> batch, std::int64_t base_offset) noexcept;
void set_leader_epoch(std::span<std::byte> batch, std::int32_t leader_epoch) noexcept;
// Turns the batch into a LogAppendTime batch stamped `now_ms` (attributes bit 3, maxTimestamp)
// and recomputes the CRC, as Kafka's broker does for LogAppendTime topics.
// REQUIRES: batch is one whole batch (size == 12 + batchLength, asserted).
void set_log_append_time(std::span<std::byte> batch, std::int64_t now_ms) noexcept;

// ---------------------------------------------------------------------------------------------
// Building

// Header fields a BatchBuilder writes that are not derived from the records.
struct BatchOptions {
  std::int64_t base_offset = 0;                // the engine assigns the real one on append
  std::int32_t leader_epoch = kNoLeaderEpoch;  // as Kafka's Java producer writes it
  std::int64_t producer_id = kNoProducerId;
  std::int16_t producer_epoch = kNoProducerEpoch;
  std::int32_t base_sequence = kNoSequence;
  bool transactional = false;
  bool control = false;
};

// Builds one uncompressed RecordBatch v2 in a buffer the builder owns.
//
// Usage: add() records, finish() to get the bytes, reset() to build the next batch in the same
// buffer (capacity is kept, so steady-state building allocates nothing).
// Records get offset deltas 0, 1, 2, ...; baseTimestamp is the first record's timestamp and
// maxTimestamp the largest. Record timestamps may go backwards (negative deltas are legal).
// The span returned by finish() stays valid until reset(), a move from, or destruction.
// A builder is movable, not copyable; not thread-safe.
class BatchBuilder {
 public:
  explicit BatchBuilder(BatchOptions options = {}, std::size_t reserve_bytes = 0);
  BatchBuilder(BatchBuilder&&) noexcept;
  BatchBuilder& operator=(BatchBuilder&&) noexcept;
  BatchBuilder(const BatchBuilder&) = delete;
  BatchBuilder& operator=(const BatchBuilder&) = delete;
  ~BatchBuilder();

  // Appends a record. nullopt key/value encode as null (length -1); empty spans as length 0.
  // timestamp_ms == kTimestampNow stamps the wall clock (ms since the Unix epoch).
  // REQUIRES: not finished; the batch stays below 2 GiB and below 2^31 records (asserted).
  void add(std::optional<std::span<const std::byte>> key,
           std::optional<std::span<const std::byte>> value,
           std::span<const RecordHeader> headers = {}, std::int64_t timestamp_ms = kTimestampNow);
  // Convenience: a non-null key and value given as text.
  void add(std::string_view key, std::string_view value, std::span<const RecordHeader> headers = {},
           std::int64_t timestamp_ms = kTimestampNow) {
    add(as_bytes(key), as_bytes(value), headers, timestamp_ms);
  }

  std::int32_t record_count() const noexcept { return record_count_; }
  // The size finish() produces (header included).
  std::size_t size_bytes() const noexcept { return size_; }
  bool finished() const noexcept { return finished_; }

  // Fills in the header (lengths, counts, timestamps, CRC) and returns the whole batch.
  // Calling it again returns the same bytes. REQUIRES: record_count() > 0 (asserted).
  std::span<const std::byte> finish() noexcept;
  // Same bytes as finish(), writable, for a caller that stamps offsets in place.
  std::span<std::byte> finish_mutable() noexcept;

  // Starts a new batch, keeping the buffer's capacity.
  void reset() noexcept { reset(options_); }
  void reset(const BatchOptions& options) noexcept;

 private:
  void reserve(std::size_t bytes);
  std::byte* grow(std::size_t bytes);

  BatchOptions options_;
  std::unique_ptr<std::byte[]> buffer_;
  std::size_t capacity_ = 0;
  std::size_t size_ = 0;
  std::int32_t record_count_ = 0;
  std::int64_t base_timestamp_ms_ = 0;
  std::int64_t max_timestamp_ms_ = 0;
  bool finished_ = false;
};

}  // namespace ringlog
