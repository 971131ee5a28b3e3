// CRC-32C (Castagnoli), the checksum of Kafka's RecordBatch v2, computed with ISA-L.
//
// crc32c() is the standard CRC-32C: reflected polynomial 0x82F63B78, initial value and final xor
// 0xFFFFFFFF, so crc32c("123456789") == 0xE3069283. crc32c_extend() continues a finished CRC over
// more bytes: crc32c_extend(crc32c(a), b) == crc32c(a + b), and crc32c_extend(0, x) == crc32c(x).
// Both are pure functions of their inputs, reentrant and allocation-free.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace ringlog {

std::uint32_t crc32c_extend(std::uint32_t crc, std::span<const std::byte> data) noexcept;

inline std::uint32_t crc32c(std::span<const std::byte> data) noexcept {
  return crc32c_extend(0, data);
}

}  // namespace ringlog
