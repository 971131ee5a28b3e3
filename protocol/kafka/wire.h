// Kafka's primitive wire types: a bounds-checked big-endian Reader and a Writer that builds a
// response frame, possibly with zero-copy file ranges spliced into it.
//
// Types (https://kafka.apache.org/protocol#protocol_types): int8/16/32/64 big-endian; STRING and
// NULLABLE_STRING with an i16 length (-1 = null); BYTES and NULLABLE_BYTES with an i32 length;
// ARRAY with an i32 count (-1 = null); and, for flexible versions, COMPACT_* types whose lengths
// are an unsigned varint N+1 (0 = null) plus TAG_BUFFERs (uvarint count, then tag/size/bytes).
// Record bodies use zigzag varints instead; they are the codec's business (ringlog/batch.h).
//
// Reader: a failed read (truncation, a negative length other than -1, an absurd count) makes the
// reader fail for good; every later read returns a zero value. Decoders read a whole message and
// check ok() once at the end. A Reader never reads outside its span.
// Writer: appends to a growing byte buffer; splice() inserts a FileSlice's bytes into the
// stream without copying them (see OutFrame).
// Both are plain single-threaded values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <ringlog/engine.h>

namespace ringlog::kafka {

using Bytes = std::vector<std::byte>;

class Reader {
 public:
  explicit Reader(std::span<const std::byte> data) noexcept : data_(data) {}

  bool ok() const noexcept { return ok_; }
  std::size_t remaining() const noexcept { return ok_ ? data_.size() - pos_ : 0; }
  std::size_t position() const noexcept { return pos_; }
  // Marks the input malformed (for checks made by a decoder on decoded values).
  void fail() noexcept { ok_ = false; }

  std::int8_t i8() noexcept;
  std::int16_t i16() noexcept;
  std::int32_t i32() noexcept;
  std::int64_t i64() noexcept;
  bool boolean() noexcept { return i8() != 0; }
  // Unsigned LEB128, at most 5 bytes.
  std::uint32_t uvarint() noexcept;

  std::string string() noexcept;  // null -> failure
  std::optional<std::string> nullable_string() noexcept;
  Bytes bytes() noexcept;  // null -> failure
  std::optional<Bytes> nullable_bytes() noexcept;
  std::string compact_string() noexcept;
  std::optional<std::string> compact_nullable_string() noexcept;
  std::optional<Bytes> compact_nullable_bytes() noexcept;

  // An array's element count: -1 for null. Fails on any other negative count and on a count
  // larger than the bytes left (every element takes at least one byte), so a hostile count
  // cannot make a decoder allocate more than the frame holds.
  std::int32_t array_count() noexcept;
  std::int32_t compact_array_count() noexcept;  // -1 for null
  // Skips a TAG_BUFFER (all tagged fields are optional for ringlog).
  void skip_tagged_fields() noexcept;

  // The unread bytes (empty when failed); advance by skip().
  std::span<const std::byte> rest() const noexcept;
  void skip(std::size_t n) noexcept;

 private:
  const std::byte* take(std::size_t n) noexcept;
  std::optional<std::string> string_of(std::int64_t length) noexcept;
  std::optional<Bytes> bytes_of(std::int64_t length) noexcept;

  std::span<const std::byte> data_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

// A response frame ready to send: `bytes` (which start with the i32 size prefix) with file
// ranges inserted. Send, in order: bytes[0, splices[0].at), splices[0].slice,
// bytes[splices[0].at, splices[1].at), splices[1].slice, ..., bytes[splices.back().at, end).
// The size prefix already counts the spliced bytes, so nothing has to be known later.
struct OutFrame {
  struct Splice {
    std::size_t at = 0;  // byte position in `bytes` where the slice goes
    FileSlice slice;
  };
  Bytes bytes;
  std::vector<Splice> splices;

  std::size_t total_bytes() const noexcept;
  // The whole frame in memory (pread()s the slices): for tests and the copying send path.
  Result<Bytes> materialize() const;
};

class Writer {
 public:
  Writer() = default;

  void i8(std::int8_t v) { out_.push_back(static_cast<std::byte>(v)); }
  void i16(std::int16_t v);
  void i32(std::int32_t v);
  void i64(std::int64_t v);
  void boolean(bool v) { i8(v ? 1 : 0); }
  void uvarint(std::uint32_t v);

  void string(std::string_view v);
  void nullable_string(const std::optional<std::string>& v);
  void bytes(std::span<const std::byte> v);
  void nullable_bytes(const std::optional<Bytes>& v);
  void compact_string(std::string_view v);
  void compact_nullable_string(const std::optional<std::string>& v);
  void compact_nullable_bytes(const std::optional<Bytes>& v);
  void array_count(std::size_t n);
  void null_array() { i32(-1); }
  void compact_array_count(std::size_t n) { uvarint(static_cast<std::uint32_t>(n + 1)); }
  void empty_tagged_fields() { uvarint(0); }
  void raw(std::span<const std::byte> v) { out_.insert(out_.end(), v.begin(), v.end()); }

  // Records `slice` to be sent at this point of the stream (its length counts in frame_bytes()).
  void splice(const FileSlice& slice);
  // Overwrites an i32 written earlier at byte position `at`.
  void patch_i32(std::size_t at, std::int32_t v);

  std::size_t position() const noexcept { return out_.size(); }
  // Bytes written plus spliced bytes.
  std::size_t frame_bytes() const noexcept { return out_.size() + spliced_bytes_; }
  const Bytes& buffer() const noexcept { return out_; }
  OutFrame take() &&;

 private:
  Bytes out_;
  std::vector<OutFrame::Splice> splices_;
  std::size_t spliced_bytes_ = 0;
};

}  // namespace ringlog::kafka
