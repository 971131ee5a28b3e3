// Big-endian loads and stores of fixed-width integers at arbitrary (unaligned) byte addresses.
// Formats are encoded field by field with these, never by copying a struct.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace ringlog {

template <typename T>
requires std::is_integral_v<T>
inline T load_be(const std::byte* p) noexcept {
  using U = std::make_unsigned_t<T>;
  U raw;
  std::memcpy(&raw, p, sizeof(U));
  if constexpr (std::endian::native == std::endian::little && sizeof(U) > 1) {
    raw = std::byteswap(raw);
  }
  return static_cast<T>(raw);
}

template <typename T>
requires std::is_integral_v<T>
inline void store_be(std::byte* p, T value) noexcept {
  using U = std::make_unsigned_t<T>;
  U raw = static_cast<U>(value);
  if constexpr (std::endian::native == std::endian::little && sizeof(U) > 1) {
    raw = std::byteswap(raw);
  }
  std::memcpy(p, &raw, sizeof(U));
}

}  // namespace ringlog
