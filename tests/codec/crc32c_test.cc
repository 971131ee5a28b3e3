#include "engine/crc32c.h"

#include <doctest/doctest.h>

#include <array>
#include <numeric>
#include <string_view>
#include <vector>

#include "ringlog/batch.h"

namespace ringlog {
namespace {

std::uint32_t crc_of(std::string_view text) {
  return crc32c(as_bytes(text));
}

TEST_CASE("crc32c: the standard check value of \"123456789\" is 0xE3069283") {
  CHECK(crc_of("123456789") == 0xE3069283u);
}

TEST_CASE("crc32c: the empty input has crc 0") {
  CHECK(crc_of("") == 0u);
}

// RFC 3720 (iSCSI), appendix B.4, "CRC Examples".
TEST_CASE("crc32c: RFC 3720 B.4 iSCSI vectors match") {
  std::array<std::byte, 32> buf{};
  SUBCASE("32 bytes of zeros") {
    buf.fill(std::byte{0x00});
    CHECK(crc32c(buf) == 0x8A9136AAu);
  }
  SUBCASE("32 bytes of 0xFF") {
    buf.fill(std::byte{0xFF});
    CHECK(crc32c(buf) == 0x62A8AB43u);
  }
  SUBCASE("32 bytes ascending 0..31") {
    for (std::size_t i = 0; i < buf.size(); ++i)
      buf[i] = static_cast<std::byte>(i);
    CHECK(crc32c(buf) == 0x46DD794Eu);
  }
  SUBCASE("32 bytes descending 31..0") {
    for (std::size_t i = 0; i < buf.size(); ++i)
      buf[i] = static_cast<std::byte>(31 - i);
    CHECK(crc32c(buf) == 0x113FDB5Cu);
  }
}

TEST_CASE("crc32c: extending the crc of a prefix equals the crc of the whole") {
  std::vector<std::byte> data(10'000);
  for (std::size_t i = 0; i < data.size(); ++i)
    data[i] = static_cast<std::byte>(i * 131 + 7);
  const std::uint32_t whole = crc32c(data);
  for (std::size_t split : {std::size_t{0}, std::size_t{1}, std::size_t{17}, std::size_t{4096},
                            data.size() - 1, data.size()}) {
    CAPTURE(split);
    const std::span<const std::byte> all(data);
    CHECK(crc32c_extend(crc32c(all.first(split)), all.subspan(split)) == whole);
  }
  CHECK(crc32c_extend(0, data) == whole);
}

// A bit-at-a-time reference (reflected polynomial 0x82F63B78), independent of ISA-L and SSE4.2.
std::uint32_t reference_crc32c(std::span<const std::byte> data) {
  std::uint32_t crc = 0xFFFFFFFFu;
  for (std::byte b : data) {
    crc ^= static_cast<std::uint8_t>(b);
    for (int bit = 0; bit < 8; ++bit)
      crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
  }
  return ~crc;
}

TEST_CASE("crc32c: short and long inputs agree with a bitwise reference at every size") {
  // Sizes span the short-input path (< 256 bytes) and ISA-L's folding kernel, at odd alignments.
  std::vector<std::byte> data(1100);
  for (std::size_t i = 0; i < data.size(); ++i)
    data[i] = static_cast<std::byte>(i * 37 + 11);
  const std::span<const std::byte> all(data);
  for (std::size_t size = 0; size <= 1024; ++size) {
    for (std::size_t start : {std::size_t{0}, std::size_t{3}}) {
      CAPTURE(size);
      CAPTURE(start);
      const auto piece = all.subspan(start, size);
      REQUIRE(crc32c(piece) == reference_crc32c(piece));
    }
  }
}

TEST_CASE("crc32c: a single flipped bit changes the crc") {
  std::vector<std::byte> data(4096, std::byte{0x5A});
  const std::uint32_t before = crc32c(data);
  data[1234] ^= std::byte{0x01};
  CHECK(crc32c(data) != before);
}

}  // namespace
}  // namespace ringlog
