// Zigzag varints (protobuf sint32/sint64), the integer encoding inside Kafka records.
//
// Encoding: zigzag maps n to (n << 1) ^ (n >> bits-1), so small magnitudes of either sign are
// short; then 7 bits per byte, low group first, bit 7 set on all but the last byte.
// A varint is 1-5 bytes, a varlong 1-10 (kMaxVarintBytes, kMaxVarlongBytes).
//
// Decoding is bounds-checked against `end` and rejects over-long or overflowing input: more
// than 5 (10) bytes, or a last byte with bits above bit 31 (63). On failure `p` is unspecified
// and the caller stops.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ringlog {

inline constexpr std::size_t kMaxVarintBytes = 5;
inline constexpr std::size_t kMaxVarlongBytes = 10;

constexpr std::uint32_t zigzag_encode32(std::int32_t n) noexcept {
  return (static_cast<std::uint32_t>(n) << 1) ^ static_cast<std::uint32_t>(n >> 31);
}
constexpr std::uint64_t zigzag_encode64(std::int64_t n) noexcept {
  return (static_cast<std::uint64_t>(n) << 1) ^ static_cast<std::uint64_t>(n >> 63);
}
constexpr std::int32_t zigzag_decode32(std::uint32_t z) noexcept {
  return static_cast<std::int32_t>((z >> 1) ^ (~(z & 1) + 1));
}
constexpr std::int64_t zigzag_decode64(std::uint64_t z) noexcept {
  return static_cast<std::int64_t>((z >> 1) ^ (~(z & 1) + 1));
}

constexpr std::size_t uvarint_size(std::uint64_t v) noexcept {
  std::size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}
constexpr std::size_t varint_size(std::int32_t n) noexcept {
  return uvarint_size(zigzag_encode32(n));
}
constexpr std::size_t varlong_size(std::int64_t n) noexcept {
  return uvarint_size(zigzag_encode64(n));
}

// Writes v and returns the byte after it. REQUIRES: room for uvarint_size(v) bytes.
inline std::byte* put_uvarint(std::byte* p, std::uint64_t v) noexcept {
  while (v >= 0x80) {
    *p++ = static_cast<std::byte>(v | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<std::byte>(v);
  return p;
}
inline std::byte* put_varint(std::byte* p, std::int32_t n) noexcept {
  return put_uvarint(p, zigzag_encode32(n));
}
inline std::byte* put_varlong(std::byte* p, std::int64_t n) noexcept {
  return put_uvarint(p, zigzag_encode64(n));
}

// Reads an unsigned varint of at most max_bytes whose value fits in value_bits bits.
template <std::size_t kMaxBytes, unsigned kValueBits>
inline bool get_uvarint(const std::byte*& p, const std::byte* end, std::uint64_t& out) noexcept {
  if (p != end && static_cast<std::uint8_t>(*p) < 0x80) [[likely]] {
    out = static_cast<std::uint8_t>(*p++);
    return true;
  }
  constexpr unsigned kLastShift = 7 * (kMaxBytes - 1);
  constexpr std::uint64_t kLastByteMax = (std::uint64_t{1} << (kValueBits - kLastShift)) - 1;
  std::uint64_t result = 0;
  for (unsigned shift = 0; shift <= kLastShift; shift += 7) {
    if (p == end) return false;
    const std::uint64_t b = static_cast<std::uint8_t>(*p++);
    if (shift == kLastShift && b > kLastByteMax) return false;
    result |= (b & 0x7f) << shift;
    if (b < 0x80) {
      out = result;
      return true;
    }
  }
  return false;
}

inline bool get_varint(const std::byte*& p, const std::byte* end, std::int32_t& out) noexcept {
  std::uint64_t z;
  if (!get_uvarint<kMaxVarintBytes, 32>(p, end, z)) return false;
  out = zigzag_decode32(static_cast<std::uint32_t>(z));
  return true;
}
inline bool get_varlong(const std::byte*& p, const std::byte* end, std::int64_t& out) noexcept {
  std::uint64_t z;
  if (!get_uvarint<kMaxVarlongBytes, 64>(p, end, z)) return false;
  out = zigzag_decode64(z);
  return true;
}

}  // namespace ringlog
