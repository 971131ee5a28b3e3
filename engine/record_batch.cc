// RecordBatch v2 codec. The layout and the parse outcomes are specified in docs/format.md.
#include "engine/record_batch.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <limits>

#include "engine/crc32c.h"
#include "engine/endian.h"
#include "engine/varint.h"
#include "io/assert.h"

namespace ringlog {
namespace internal {
namespace {

// Lengths are varints; 0 is by far the most common header count and key length.
bool get_length(const std::byte*& p, const std::byte* end, std::int32_t& out) noexcept {
  return get_varint(p, end, out);
}

std::span<const std::byte> take(const std::byte*& p, std::size_t n) noexcept {
  std::span<const std::byte> out(p, n);
  p += n;
  return out;
}

std::size_t nullable_bytes_size(const std::optional<std::span<const std::byte>>& field) noexcept {
  if (!field) return 1;  // varint(-1)
  return varint_size(static_cast<std::int32_t>(field->size())) + field->size();
}

std::byte* put_bytes(std::byte* p, std::span<const std::byte> bytes) noexcept {
  if (!bytes.empty()) std::memcpy(p, bytes.data(), bytes.size());
  return p + bytes.size();
}

std::byte* put_nullable_bytes(std::byte* p,
                              const std::optional<std::span<const std::byte>>& field) noexcept {
  if (!field) return put_varint(p, -1);
  p = put_varint(p, static_cast<std::int32_t>(field->size()));
  return put_bytes(p, *field);
}

}  // namespace

bool get_nullable_bytes(const std::byte*& p, const std::byte* end,
                        std::optional<std::span<const std::byte>>& out) noexcept {
  std::int32_t length;
  if (!get_length(p, end, length) || length < -1) return false;
  if (length == -1) {
    out.reset();
    return true;
  }
  if (static_cast<std::size_t>(length) > static_cast<std::size_t>(end - p)) return false;
  out = take(p, static_cast<std::size_t>(length));
  return true;
}

bool get_record_header(const std::byte*& p, const std::byte* end, RecordHeader& out) noexcept {
  std::int32_t key_length;
  if (!get_length(p, end, key_length) || key_length < 0) return false;
  if (static_cast<std::size_t>(key_length) > static_cast<std::size_t>(end - p)) return false;
  const auto key = take(p, static_cast<std::size_t>(key_length));
  out.key = std::string_view(reinterpret_cast<const char*>(key.data()), key.size());
  return get_nullable_bytes(p, end, out.value);
}

namespace {

// Checks the headers of a record and returns their encoded bytes through `out`.
bool get_headers(const std::byte*& p, const std::byte* end, std::int32_t count,
                 std::span<const std::byte>& out) noexcept {
  // Each header takes at least 2 bytes; reject absurd counts before looping over them.
  if (count < 0 || static_cast<std::size_t>(count) > static_cast<std::size_t>(end - p) / 2) {
    return false;
  }
  const std::byte* start = p;
  RecordHeader header;
  for (std::int32_t i = 0; i < count; ++i) {
    if (!get_record_header(p, end, header)) return false;
  }
  out = std::span<const std::byte>(start, p);
  return true;
}

}  // namespace

bool decode_record(const std::byte*& p, const std::byte* end, RawRecord& out) noexcept {
  std::int32_t length;
  if (!get_length(p, end, length) || length < 1) return false;
  if (static_cast<std::size_t>(length) > static_cast<std::size_t>(end - p)) return false;
  const std::byte* record_end = p + length;
  out.attributes = static_cast<std::int8_t>(*p++);
  if (!get_varlong(p, record_end, out.timestamp_delta)) return false;
  if (!get_varint(p, record_end, out.offset_delta)) return false;
  if (!get_nullable_bytes(p, record_end, out.key)) return false;
  if (!get_nullable_bytes(p, record_end, out.value)) return false;
  if (!get_length(p, record_end, out.header_count)) return false;
  if (!get_headers(p, record_end, out.header_count, out.header_bytes)) return false;
  return p == record_end;
}

std::size_t record_body_bytes(std::int64_t timestamp_delta, std::int32_t offset_delta,
                              const std::optional<std::span<const std::byte>>& key,
                              const std::optional<std::span<const std::byte>>& value,
                              std::span<const RecordHeader> headers) noexcept {
  std::size_t n = 1 + varlong_size(timestamp_delta) + varint_size(offset_delta) +
                  nullable_bytes_size(key) + nullable_bytes_size(value) +
                  varint_size(static_cast<std::int32_t>(headers.size()));
  for (const RecordHeader& h : headers) {
    n += varint_size(static_cast<std::int32_t>(h.key.size())) + h.key.size() +
         nullable_bytes_size(h.value);
  }
  return n;
}

std::byte* put_record(std::byte* p, std::size_t body, std::int64_t timestamp_delta,
                      std::int32_t offset_delta,
                      const std::optional<std::span<const std::byte>>& key,
                      const std::optional<std::span<const std::byte>>& value,
                      std::span<const RecordHeader> headers) noexcept {
  p = put_varint(p, static_cast<std::int32_t>(body));
  *p++ = std::byte{0};  // attributes
  p = put_varlong(p, timestamp_delta);
  p = put_varint(p, offset_delta);
  p = put_nullable_bytes(p, key);
  p = put_nullable_bytes(p, value);
  p = put_varint(p, static_cast<std::int32_t>(headers.size()));
  for (const RecordHeader& h : headers) {
    p = put_varint(p, static_cast<std::int32_t>(h.key.size()));
    p = put_bytes(p, as_bytes(h.key));
    p = put_nullable_bytes(p, h.value);
  }
  return p;
}

}  // namespace internal

namespace {

// Offsets and timestamps from the world may be anything: add with wrap-around, never UB.
std::int64_t wrapping_add(std::int64_t a, std::int64_t b) noexcept {
  return static_cast<std::int64_t>(static_cast<std::uint64_t>(a) + static_cast<std::uint64_t>(b));
}
std::int64_t wrapping_sub(std::int64_t a, std::int64_t b) noexcept {
  return static_cast<std::int64_t>(static_cast<std::uint64_t>(a) - static_cast<std::uint64_t>(b));
}

std::int64_t now_ms() noexcept {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Header

BatchHeader read_batch_header(std::span<const std::byte> bytes) noexcept {
  RINGLOG_ASSERT(bytes.size() >= kBatchHeaderBytes);
  const std::byte* p = bytes.data();
  return BatchHeader{
      .base_offset = load_be<std::int64_t>(p + kBaseOffsetAt),
      .batch_length = load_be<std::int32_t>(p + kBatchLengthAt),
      .leader_epoch = load_be<std::int32_t>(p + kLeaderEpochAt),
      .magic = load_be<std::int8_t>(p + kMagicAt),
      .crc = load_be<std::uint32_t>(p + kCrcAt),
      .attributes = load_be<std::int16_t>(p + kAttributesAt),
      .last_offset_delta = load_be<std::int32_t>(p + kLastOffsetDeltaAt),
      .base_timestamp_ms = load_be<std::int64_t>(p + kBaseTimestampAt),
      .max_timestamp_ms = load_be<std::int64_t>(p + kMaxTimestampAt),
      .producer_id = load_be<std::int64_t>(p + kProducerIdAt),
      .producer_epoch = load_be<std::int16_t>(p + kProducerEpochAt),
      .base_sequence = load_be<std::int32_t>(p + kBaseSequenceAt),
      .record_count = load_be<std::int32_t>(p + kRecordCountAt),
  };
}

std::string_view parse_status_name(ParseStatus status) noexcept {
  switch (status) {
    case ParseStatus::kOk:
      return "ok";
    case ParseStatus::kEndOfData:
      return "end_of_data";
    case ParseStatus::kZeroFilled:
      return "zero_filled";
    case ParseStatus::kShortHeader:
      return "short_header";
    case ParseStatus::kBadMagic:
      return "bad_magic";
    case ParseStatus::kBadLength:
      return "bad_length";
    case ParseStatus::kTruncated:
      return "truncated";
    case ParseStatus::kCrcMismatch:
      return "crc_mismatch";
    case ParseStatus::kMalformedRecord:
      return "malformed_record";
    case ParseStatus::kCompressed:
      return "compressed";
  }
  return "unknown";
}

// ---------------------------------------------------------------------------------------------
// BatchView

BatchView::BatchView(std::span<const std::byte> bytes) noexcept : bytes_(bytes) {
  RINGLOG_ASSERT(bytes.size() >= kBatchHeaderBytes);
  RINGLOG_ASSERT(bytes.size() == kBatchLengthFieldEnd + static_cast<std::size_t>(batch_length()));
}

std::int64_t BatchView::base_offset() const noexcept {
  return load_be<std::int64_t>(bytes_.data() + kBaseOffsetAt);
}
std::int32_t BatchView::batch_length() const noexcept {
  return load_be<std::int32_t>(bytes_.data() + kBatchLengthAt);
}
std::int32_t BatchView::leader_epoch() const noexcept {
  return load_be<std::int32_t>(bytes_.data() + kLeaderEpochAt);
}
std::int8_t BatchView::magic() const noexcept {
  return load_be<std::int8_t>(bytes_.data() + kMagicAt);
}
std::uint32_t BatchView::crc() const noexcept {
  return load_be<std::uint32_t>(bytes_.data() + kCrcAt);
}
std::int16_t BatchView::attributes() const noexcept {
  return load_be<std::int16_t>(bytes_.data() + kAttributesAt);
}
std::int32_t BatchView::last_offset_delta() const noexcept {
  return load_be<std::int32_t>(bytes_.data() + kLastOffsetDeltaAt);
}
std::int64_t BatchView::base_timestamp_ms() const noexcept {
  return load_be<std::int64_t>(bytes_.data() + kBaseTimestampAt);
}
std::int64_t BatchView::max_timestamp_ms() const noexcept {
  return load_be<std::int64_t>(bytes_.data() + kMaxTimestampAt);
}
std::int64_t BatchView::producer_id() const noexcept {
  return load_be<std::int64_t>(bytes_.data() + kProducerIdAt);
}
std::int16_t BatchView::producer_epoch() const noexcept {
  return load_be<std::int16_t>(bytes_.data() + kProducerEpochAt);
}
std::int32_t BatchView::base_sequence() const noexcept {
  return load_be<std::int32_t>(bytes_.data() + kBaseSequenceAt);
}
std::int32_t BatchView::record_count() const noexcept {
  return load_be<std::int32_t>(bytes_.data() + kRecordCountAt);
}
std::int64_t BatchView::last_offset() const noexcept {
  return wrapping_add(base_offset(), last_offset_delta());
}
Compression BatchView::compression() const noexcept {
  return static_cast<Compression>(attributes() & kCompressionMask);
}
std::uint32_t BatchView::compute_crc() const noexcept {
  return crc32c(bytes_.subspan(kCrcCoveredFrom));
}

// ---------------------------------------------------------------------------------------------
// Records

HeaderIterator::HeaderIterator(std::span<const std::byte> bytes, std::int32_t count) noexcept
    : rest_(bytes), remaining_(count) {
  decode_next();
}

HeaderIterator& HeaderIterator::operator++() noexcept {
  decode_next();
  return *this;
}

void HeaderIterator::decode_next() noexcept {
  if (remaining_ <= 0) {
    remaining_ = -1;
    return;
  }
  const std::byte* p = rest_.data();
  const std::byte* end = p + rest_.size();
  if (!internal::get_record_header(p, end, current_)) {
    remaining_ = -1;
    return;
  }
  rest_ = std::span<const std::byte>(p, end);
  --remaining_;
}

RecordReader::RecordReader(const BatchView& batch) noexcept {
  if (batch.empty()) {
    done_ = true;
    return;
  }
  if (batch.is_compressed()) {
    done_ = true;
    status_ = ParseStatus::kCompressed;
    return;
  }
  rest_ = batch.record_bytes();
  base_offset_ = batch.base_offset();
  base_timestamp_ms_ = batch.base_timestamp_ms();
  max_timestamp_ms_ = batch.max_timestamp_ms();
  last_offset_delta_ = batch.last_offset_delta();
  record_count_ = batch.record_count();
  log_append_time_ = batch.is_log_append_time();
  if (record_count_ < 0) fail(ParseStatus::kMalformedRecord);
}

std::optional<RecordView> RecordReader::fail(ParseStatus status) noexcept {
  done_ = true;
  status_ = status;
  return std::nullopt;
}

std::optional<RecordView> RecordReader::next() noexcept {
  if (done_) return std::nullopt;
  if (decoded_ == record_count_) {
    // The count must account for every byte of the batch.
    if (!rest_.empty()) return fail(ParseStatus::kMalformedRecord);
    done_ = true;
    return std::nullopt;
  }
  const std::byte* p = rest_.data();
  const std::byte* end = p + rest_.size();
  internal::RawRecord raw;
  if (!internal::decode_record(p, end, raw)) return fail(ParseStatus::kMalformedRecord);
  if (raw.offset_delta <= previous_delta_ || raw.offset_delta > last_offset_delta_) {
    return fail(ParseStatus::kMalformedRecord);
  }
  previous_delta_ = raw.offset_delta;
  rest_ = std::span<const std::byte>(p, end);
  ++decoded_;
  return RecordView{
      .offset = wrapping_add(base_offset_, raw.offset_delta),
      .timestamp_ms = log_append_time_ ? max_timestamp_ms_
                                       : wrapping_add(base_timestamp_ms_, raw.timestamp_delta),
      .attributes = raw.attributes,
      .key = raw.key,
      .value = raw.value,
      .header_count = raw.header_count,
      .header_bytes = raw.header_bytes,
  };
}

// ---------------------------------------------------------------------------------------------
// Parsing

namespace {

bool is_zero_filled(std::span<const std::byte> data) noexcept {
  const auto probe = data.first(std::min(data.size(), kMagicAt + 1));
  return std::all_of(probe.begin(), probe.end(), [](std::byte b) { return b == std::byte{0}; });
}

ParseStatus validate_records(const BatchView& batch) noexcept {
  if (batch.record_count() < 0) return ParseStatus::kMalformedRecord;
  const auto code = static_cast<std::uint8_t>(batch.compression());
  if (code > static_cast<std::uint8_t>(Compression::kZstd)) return ParseStatus::kMalformedRecord;
  if (batch.is_compressed()) return ParseStatus::kOk;
  RecordReader reader(batch);
  while (reader.next()) {
  }
  return reader.status();
}

}  // namespace

ParsedBatch parse_batch(std::span<const std::byte> data, ParseOptions options) noexcept {
  if (data.empty()) return {ParseStatus::kEndOfData, {}, 0};
  if (is_zero_filled(data)) return {ParseStatus::kZeroFilled, {}, 0};
  if (data.size() < kBatchHeaderBytes) return {ParseStatus::kShortHeader, {}, 0};
  if (load_be<std::int8_t>(data.data() + kMagicAt) != kMagicV2) {
    return {ParseStatus::kBadMagic, {}, 0};
  }
  const std::int32_t batch_length = load_be<std::int32_t>(data.data() + kBatchLengthAt);
  if (batch_length < kMinBatchLength) return {ParseStatus::kBadLength, {}, 0};
  const std::size_t total = kBatchLengthFieldEnd + static_cast<std::size_t>(batch_length);
  if (total > options.max_batch_bytes) return {ParseStatus::kBadLength, {}, 0};
  if (total > data.size()) return {ParseStatus::kTruncated, {}, 0};

  const BatchView batch(data.first(total));
  if (options.check_crc && !batch.crc_matches()) {
    return {ParseStatus::kCrcMismatch, batch, total};
  }
  if (options.validate_records) {
    const ParseStatus status = validate_records(batch);
    if (status != ParseStatus::kOk) return {status, batch, total};
  }
  return {ParseStatus::kOk, batch, total};
}

ParsedBatch BatchReader::next() noexcept {
  ParsedBatch parsed = parse_batch(data_.subspan(position_), options_);
  if (parsed.ok()) position_ += parsed.bytes;
  return parsed;
}

// ---------------------------------------------------------------------------------------------
// In-place rewrites

void set_base_offset(std::span<std::byte> batch, std::int64_t base_offset) noexcept {
  RINGLOG_ASSERT(batch.size() >= kBatchHeaderBytes);
  store_be(batch.data() + kBaseOffsetAt, base_offset);
}

void set_leader_epoch(std::span<std::byte> batch, std::int32_t leader_epoch) noexcept {
  RINGLOG_ASSERT(batch.size() >= kBatchHeaderBytes);
  store_be(batch.data() + kLeaderEpochAt, leader_epoch);
}

void set_log_append_time(std::span<std::byte> batch, std::int64_t now_ms) noexcept {
  const BatchView view(batch);  // asserts the batch is whole
  const auto attributes = static_cast<std::int16_t>(view.attributes() | kLogAppendTimeBit);
  store_be(batch.data() + kAttributesAt, attributes);
  store_be(batch.data() + kMaxTimestampAt, now_ms);
  store_be(batch.data() + kCrcAt, view.compute_crc());
}

// ---------------------------------------------------------------------------------------------
// Building

BatchBuilder::BatchBuilder(BatchOptions options, std::size_t reserve_bytes) : options_(options) {
  reserve(std::max(reserve_bytes, kBatchHeaderBytes));
  size_ = kBatchHeaderBytes;
}

BatchBuilder::BatchBuilder(BatchBuilder&&) noexcept = default;
BatchBuilder& BatchBuilder::operator=(BatchBuilder&&) noexcept = default;
BatchBuilder::~BatchBuilder() = default;

void BatchBuilder::reserve(std::size_t bytes) {
  if (bytes <= capacity_) return;
  auto bigger = std::make_unique_for_overwrite<std::byte[]>(bytes);
  if (size_ > 0) std::memcpy(bigger.get(), buffer_.get(), size_);
  buffer_ = std::move(bigger);
  capacity_ = bytes;
}

std::byte* BatchBuilder::grow(std::size_t bytes) {
  const std::size_t needed = size_ + bytes;
  RINGLOG_ASSERT_MSG(needed - kBatchLengthFieldEnd <=
                         static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max()),
                     "a batch must stay below 2 GiB");
  if (needed > capacity_) reserve(std::max(needed, capacity_ * 2));
  std::byte* at = buffer_.get() + size_;
  size_ = needed;
  return at;
}

void BatchBuilder::add(std::optional<std::span<const std::byte>> key,
                       std::optional<std::span<const std::byte>> value,
                       std::span<const RecordHeader> headers, std::int64_t timestamp_ms) {
  RINGLOG_ASSERT_MSG(!finished_, "BatchBuilder::add after finish; call reset()");
  RINGLOG_ASSERT(record_count_ < std::numeric_limits<std::int32_t>::max());
  const std::int64_t timestamp = timestamp_ms == kTimestampNow ? now_ms() : timestamp_ms;
  if (record_count_ == 0) {
    base_timestamp_ms_ = timestamp;
    max_timestamp_ms_ = timestamp;
  } else {
    max_timestamp_ms_ = std::max(max_timestamp_ms_, timestamp);
  }
  const std::int64_t timestamp_delta = wrapping_sub(timestamp, base_timestamp_ms_);
  const std::size_t body =
      internal::record_body_bytes(timestamp_delta, record_count_, key, value, headers);
  RINGLOG_ASSERT(body <= static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max()));
  std::byte* p = grow(varint_size(static_cast<std::int32_t>(body)) + body);
  internal::put_record(p, body, timestamp_delta, record_count_, key, value, headers);
  ++record_count_;
}

std::span<std::byte> BatchBuilder::finish_mutable() noexcept {
  RINGLOG_ASSERT_MSG(record_count_ > 0, "a batch holds at least one record");
  std::byte* p = buffer_.get();
  if (!finished_) {
    std::int16_t attributes = 0;
    if (options_.transactional) attributes |= kTransactionalBit;
    if (options_.control) attributes |= kControlBit;
    store_be(p + kBaseOffsetAt, options_.base_offset);
    store_be(p + kBatchLengthAt, static_cast<std::int32_t>(size_ - kBatchLengthFieldEnd));
    store_be(p + kLeaderEpochAt, options_.leader_epoch);
    store_be(p + kMagicAt, kMagicV2);
    store_be(p + kAttributesAt, attributes);
    store_be(p + kLastOffsetDeltaAt, record_count_ - 1);
    store_be(p + kBaseTimestampAt, base_timestamp_ms_);
    store_be(p + kMaxTimestampAt, max_timestamp_ms_);
    store_be(p + kProducerIdAt, options_.producer_id);
    store_be(p + kProducerEpochAt, options_.producer_epoch);
    store_be(p + kBaseSequenceAt, options_.base_sequence);
    store_be(p + kRecordCountAt, record_count_);
    const std::span<const std::byte> covered(p + kCrcCoveredFrom, size_ - kCrcCoveredFrom);
    store_be(p + kCrcAt, crc32c(covered));
    finished_ = true;
  }
  return {p, size_};
}

std::span<const std::byte> BatchBuilder::finish() noexcept {
  return finish_mutable();
}

void BatchBuilder::reset(const BatchOptions& options) noexcept {
  options_ = options;
  size_ = kBatchHeaderBytes;
  record_count_ = 0;
  base_timestamp_ms_ = 0;
  max_timestamp_ms_ = 0;
  finished_ = false;
}

}  // namespace ringlog
