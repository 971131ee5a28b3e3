#include "protocol/kafka/wire.h"

#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>

#include <ringlog/batch.h>

#include "io/assert.h"

namespace ringlog::kafka {
namespace {

template <typename T>
T load(const std::byte* p) noexcept {
  using U = std::make_unsigned_t<T>;
  U raw;
  std::memcpy(&raw, p, sizeof(U));
  if constexpr (std::endian::native == std::endian::little && sizeof(U) > 1) {
    raw = std::byteswap(raw);
  }
  return static_cast<T>(raw);
}

template <typename T>
void store(Bytes& out, T value) {
  using U = std::make_unsigned_t<T>;
  U raw = static_cast<U>(value);
  if constexpr (std::endian::native == std::endian::little && sizeof(U) > 1) {
    raw = std::byteswap(raw);
  }
  const auto* p = reinterpret_cast<const std::byte*>(&raw);
  out.insert(out.end(), p, p + sizeof(U));
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Reader

const std::byte* Reader::take(std::size_t n) noexcept {
  if (!ok_ || data_.size() - pos_ < n) {
    ok_ = false;
    return nullptr;
  }
  const std::byte* p = data_.data() + pos_;
  pos_ += n;
  return p;
}

std::int8_t Reader::i8() noexcept {
  const std::byte* p = take(1);
  return p ? static_cast<std::int8_t>(*p) : 0;
}
std::int16_t Reader::i16() noexcept {
  const std::byte* p = take(2);
  return p ? load<std::int16_t>(p) : 0;
}
std::int32_t Reader::i32() noexcept {
  const std::byte* p = take(4);
  return p ? load<std::int32_t>(p) : 0;
}
std::int64_t Reader::i64() noexcept {
  const std::byte* p = take(8);
  return p ? load<std::int64_t>(p) : 0;
}

std::uint32_t Reader::uvarint() noexcept {
  std::uint32_t value = 0;
  for (int shift = 0; shift < 35; shift += 7) {
    const std::byte* p = take(1);
    if (p == nullptr) return 0;
    const auto b = static_cast<std::uint32_t>(*p);
    if (shift == 28 && (b & 0xF0) != 0) break;  // more than 32 bits
    value |= (b & 0x7F) << shift;
    if ((b & 0x80) == 0) return value;
  }
  ok_ = false;
  return 0;
}

std::optional<std::string> Reader::string_of(std::int64_t length) noexcept {
  if (length < 0) {
    ok_ = false;
    return std::nullopt;
  }
  const std::byte* p = take(static_cast<std::size_t>(length));
  if (p == nullptr) return std::nullopt;
  return std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(length));
}

std::optional<Bytes> Reader::bytes_of(std::int64_t length) noexcept {
  if (length < 0) {
    ok_ = false;
    return std::nullopt;
  }
  const std::byte* p = take(static_cast<std::size_t>(length));
  if (p == nullptr) return std::nullopt;
  return Bytes(p, p + length);
}

std::string Reader::string() noexcept {
  return string_of(i16()).value_or(std::string());
}

std::optional<std::string> Reader::nullable_string() noexcept {
  const std::int16_t length = i16();
  if (ok_ && length == -1) return std::nullopt;
  return string_of(length);
}

Bytes Reader::bytes() noexcept {
  return bytes_of(i32()).value_or(Bytes());
}

std::optional<Bytes> Reader::nullable_bytes() noexcept {
  const std::int32_t length = i32();
  if (ok_ && length == -1) return std::nullopt;
  return bytes_of(length);
}

std::string Reader::compact_string() noexcept {
  const std::uint32_t n = uvarint();
  return string_of(static_cast<std::int64_t>(n) - 1).value_or(std::string());
}

std::optional<std::string> Reader::compact_nullable_string() noexcept {
  const std::uint32_t n = uvarint();
  if (ok_ && n == 0) return std::nullopt;
  return string_of(static_cast<std::int64_t>(n) - 1);
}

std::optional<Bytes> Reader::compact_nullable_bytes() noexcept {
  const std::uint32_t n = uvarint();
  if (ok_ && n == 0) return std::nullopt;
  return bytes_of(static_cast<std::int64_t>(n) - 1);
}

std::int32_t Reader::array_count() noexcept {
  const std::int32_t n = i32();
  if (!ok_) return 0;
  if (n == -1) return -1;
  if (n < 0 || static_cast<std::size_t>(n) > remaining()) {
    ok_ = false;
    return 0;
  }
  return n;
}

std::int32_t Reader::compact_array_count() noexcept {
  const std::uint32_t n = uvarint();
  if (!ok_) return 0;
  if (n == 0) return -1;
  if (n - 1 > remaining()) {
    ok_ = false;
    return 0;
  }
  return static_cast<std::int32_t>(n - 1);
}

void Reader::skip_tagged_fields() noexcept {
  const std::uint32_t count = uvarint();
  for (std::uint32_t i = 0; ok_ && i < count; ++i) {
    (void)uvarint();  // tag
    skip(uvarint());  // size, then the field's bytes
  }
}

std::span<const std::byte> Reader::rest() const noexcept {
  return ok_ ? data_.subspan(pos_) : std::span<const std::byte>();
}

void Reader::skip(std::size_t n) noexcept {
  (void)take(n);
}

// ---------------------------------------------------------------------------------------------
// Writer

void Writer::i16(std::int16_t v) {
  store(out_, v);
}
void Writer::i32(std::int32_t v) {
  store(out_, v);
}
void Writer::i64(std::int64_t v) {
  store(out_, v);
}

void Writer::uvarint(std::uint32_t v) {
  while (v >= 0x80) {
    out_.push_back(static_cast<std::byte>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out_.push_back(static_cast<std::byte>(v));
}

void Writer::string(std::string_view v) {
  RINGLOG_ASSERT(v.size() <= static_cast<std::size_t>(INT16_MAX));
  i16(static_cast<std::int16_t>(v.size()));
  raw(as_bytes(v));
}

void Writer::nullable_string(const std::optional<std::string>& v) {
  if (!v) return i16(-1);
  string(*v);
}

void Writer::bytes(std::span<const std::byte> v) {
  i32(static_cast<std::int32_t>(v.size()));
  raw(v);
}

void Writer::nullable_bytes(const std::optional<Bytes>& v) {
  if (!v) return i32(-1);
  bytes(*v);
}

void Writer::compact_string(std::string_view v) {
  uvarint(static_cast<std::uint32_t>(v.size() + 1));
  raw(as_bytes(v));
}

void Writer::compact_nullable_string(const std::optional<std::string>& v) {
  if (!v) return uvarint(0);
  compact_string(*v);
}

void Writer::compact_nullable_bytes(const std::optional<Bytes>& v) {
  if (!v) return uvarint(0);
  uvarint(static_cast<std::uint32_t>(v->size() + 1));
  raw(*v);
}

void Writer::array_count(std::size_t n) {
  i32(static_cast<std::int32_t>(n));
}

void Writer::splice(const FileSlice& slice) {
  if (slice.length == 0) return;
  splices_.push_back({out_.size(), slice});
  spliced_bytes_ += slice.length;
}

void Writer::patch_i32(std::size_t at, std::int32_t v) {
  Bytes tmp;
  store(tmp, v);
  std::memcpy(out_.data() + at, tmp.data(), 4);
}

OutFrame Writer::take() && {
  return OutFrame{std::move(out_), std::move(splices_)};
}

// ---------------------------------------------------------------------------------------------
// OutFrame

std::size_t OutFrame::total_bytes() const noexcept {
  std::size_t total = bytes.size();
  for (const Splice& s : splices)
    total += s.slice.length;
  return total;
}

Result<Bytes> OutFrame::materialize() const {
  Bytes out;
  out.reserve(total_bytes());
  std::size_t from = 0;
  for (const Splice& s : splices) {
    out.insert(out.end(), bytes.begin() + static_cast<std::ptrdiff_t>(from),
               bytes.begin() + static_cast<std::ptrdiff_t>(s.at));
    from = s.at;
    const std::size_t base = out.size();
    out.resize(base + s.slice.length);
    std::size_t done = 0;
    while (done < s.slice.length) {
      const ssize_t n = ::pread(s.slice.fd, out.data() + base + done, s.slice.length - done,
                                static_cast<off_t>(s.slice.position + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return fail(error_from_errno(errno, "pread fetch slice"));
      if (n == 0) return fail(Errc::kIo, "pread fetch slice: unexpected end of file");
      done += static_cast<std::size_t>(n);
    }
  }
  out.insert(out.end(), bytes.begin() + static_cast<std::ptrdiff_t>(from), bytes.end());
  return out;
}

}  // namespace ringlog::kafka
