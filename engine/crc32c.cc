// CRC-32C on ISA-L, with a short-input path on the SSE4.2 crc32 instruction.
//
// ISA-L's crc32_iscsi(buf, len, init) runs the reflected CRC register without the final
// inversion: the standard CRC is ~crc32_iscsi(buf, len, ~0). Its dispatcher picks the
// (V)PCLMULQDQ folding kernel, which is fastest from about 256 bytes but has a fixed cost that
// makes it 2-3x slower than plain crc32 instructions on short inputs (bench/codec_bench.cc,
// BM_Crc32c/64). Below kShortBytes we therefore use the instruction directly when the CPU has
// it. ISA-L takes an int length, so large inputs go through in chunks.
#include "engine/crc32c.h"

#include <isa-l/crc.h>

#include <algorithm>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace ringlog {
namespace {

constexpr std::size_t kShortBytes = 256;

#if defined(__x86_64__)
bool cpu_has_sse42() noexcept {
  static const bool has = __builtin_cpu_supports("sse4.2");
  return has;
}

// The raw CRC register over `data` (no inversions), 8 bytes per instruction.
__attribute__((target("sse4.2"))) std::uint32_t crc32c_sse42(
    std::uint32_t state, std::span<const std::byte> data) noexcept {
  const std::byte* p = data.data();
  std::size_t n = data.size();
  std::uint64_t state64 = state;
  for (; n >= 8; n -= 8, p += 8) {
    std::uint64_t word;
    std::memcpy(&word, p, 8);
    state64 = _mm_crc32_u64(state64, word);
  }
  state = static_cast<std::uint32_t>(state64);
  for (; n > 0; --n, ++p)
    state = _mm_crc32_u8(state, static_cast<std::uint8_t>(*p));
  return state;
}
#endif

std::uint32_t crc32c_isal(std::uint32_t state, std::span<const std::byte> data) noexcept {
  constexpr std::size_t kChunkBytes = std::size_t{1} << 30;
  while (!data.empty()) {
    const std::size_t n = std::min(data.size(), kChunkBytes);
    // ISA-L takes a non-const pointer but does not write through it.
    auto* bytes = const_cast<unsigned char*>(reinterpret_cast<const unsigned char*>(data.data()));
    state = crc32_iscsi(bytes, static_cast<int>(n), state);
    data = data.subspan(n);
  }
  return state;
}

}  // namespace

std::uint32_t crc32c_extend(std::uint32_t crc, std::span<const std::byte> data) noexcept {
#if defined(__x86_64__)
  if (data.size() < kShortBytes && cpu_has_sse42()) return ~crc32c_sse42(~crc, data);
#endif
  return ~crc32c_isal(~crc, data);
}

}  // namespace ringlog
