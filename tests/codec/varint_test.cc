#include "engine/varint.h"

#include <doctest/doctest.h>

#include <array>
#include <cstdint>
#include <limits>
#include <vector>

#include "codec/codec_support.h"
#include "engine/endian.h"

namespace ringlog {
namespace {

using test::from_hex;

std::vector<std::byte> encode_varint(std::int32_t n) {
  std::array<std::byte, kMaxVarintBytes> buf{};
  std::byte* end = put_varint(buf.data(), n);
  return {buf.data(), end};
}

std::vector<std::byte> encode_varlong(std::int64_t n) {
  std::array<std::byte, kMaxVarlongBytes> buf{};
  std::byte* end = put_varlong(buf.data(), n);
  return {buf.data(), end};
}

std::optional<std::int32_t> decode_varint(const std::vector<std::byte>& bytes) {
  const std::byte* p = bytes.data();
  std::int32_t out;
  if (!get_varint(p, bytes.data() + bytes.size(), out)) return std::nullopt;
  if (p != bytes.data() + bytes.size()) return std::nullopt;  // must consume exactly
  return out;
}

std::optional<std::int64_t> decode_varlong(const std::vector<std::byte>& bytes) {
  const std::byte* p = bytes.data();
  std::int64_t out;
  if (!get_varlong(p, bytes.data() + bytes.size(), out)) return std::nullopt;
  if (p != bytes.data() + bytes.size()) return std::nullopt;
  return out;
}

// Vectors from apache/kafka clients/src/test/java/org/apache/kafka/common/utils/ByteUtilsTest.java
// (testVarintSerde, testVarlongSerde), plus the int32/int64 extremes.
TEST_CASE("varint: encodes and decodes Kafka's published zigzag vectors") {
  struct Vector {
    std::int32_t value;
    std::string_view hex;
  };
  const Vector vectors[] = {
      {0, "00"},
      {-1, "01"},
      {1, "02"},
      {63, "7e"},
      {-64, "7f"},
      {64, "80 01"},
      {-65, "81 01"},
      {8191, "fe 7f"},
      {-8192, "ff 7f"},
      {8192, "80 80 01"},
      {-8193, "81 80 01"},
      {1048575, "fe ff 7f"},
      {1048576, "80 80 80 01"},
      {134217728, "80 80 80 80 01"},
      {-134217729, "81 80 80 80 01"},
      {std::numeric_limits<std::int32_t>::max(), "fe ff ff ff 0f"},
      {std::numeric_limits<std::int32_t>::min(), "ff ff ff ff 0f"},
  };
  for (const Vector& v : vectors) {
    CAPTURE(v.value);
    CHECK(encode_varint(v.value) == from_hex(v.hex));
    CHECK(varint_size(v.value) == from_hex(v.hex).size());
    CHECK(decode_varint(from_hex(v.hex)) == v.value);
  }
}

TEST_CASE("varlong: encodes and decodes Kafka's published zigzag vectors") {
  struct Vector {
    std::int64_t value;
    std::string_view hex;
  };
  const Vector vectors[] = {
      {0, "00"},
      {-1, "01"},
      {1, "02"},
      {64, "80 01"},
      {std::numeric_limits<std::int32_t>::max(), "fe ff ff ff 0f"},
      {std::numeric_limits<std::int32_t>::min(), "ff ff ff ff 0f"},
      {17179869184LL, "80 80 80 80 80 01"},
      {-36028797018963969LL, "81 80 80 80 80 80 80 80 01"},
      {4611686018427387904LL, "80 80 80 80 80 80 80 80 80 01"},
      {std::numeric_limits<std::int64_t>::max(), "fe ff ff ff ff ff ff ff ff 01"},
      {std::numeric_limits<std::int64_t>::min(), "ff ff ff ff ff ff ff ff ff 01"},
  };
  for (const Vector& v : vectors) {
    CAPTURE(v.value);
    CHECK(encode_varlong(v.value) == from_hex(v.hex));
    CHECK(varlong_size(v.value) == from_hex(v.hex).size());
    CHECK(decode_varlong(from_hex(v.hex)) == v.value);
  }
}

TEST_CASE("varint: round trips every value near the edges") {
  for (std::int64_t base : {std::int64_t{0}, std::int64_t{1} << 7, std::int64_t{1} << 14,
                            std::int64_t{1} << 21, std::int64_t{1} << 28}) {
    for (std::int64_t d = -3; d <= 3; ++d) {
      for (std::int64_t sign : {1, -1}) {
        const auto n = static_cast<std::int32_t>(sign * (base + d));
        CAPTURE(n);
        CHECK(decode_varint(encode_varint(n)) == n);
        CHECK(decode_varlong(encode_varlong(n)) == n);
      }
    }
  }
}

TEST_CASE("varint: more than 5 bytes is rejected as overflow") {
  // ByteUtilsTest.testInvalidVarint: "varint encoding has one overflow byte".
  CHECK_FALSE(decode_varint(from_hex("ff ff ff ff ff 01")));
  // The 5th byte may carry only 4 more bits.
  CHECK_FALSE(decode_varint(from_hex("ff ff ff ff 1f")));
  CHECK(decode_varint(from_hex("ff ff ff ff 0f")) == std::numeric_limits<std::int32_t>::min());
}

TEST_CASE("varlong: 10 or more continuation bytes are rejected as overflow") {
  // ByteUtilsTest.testInvalidVarlong.
  CHECK_FALSE(decode_varlong(from_hex("ff ff ff ff ff ff ff ff ff ff 01")));
  CHECK_FALSE(decode_varlong(from_hex("80 80 80 80 80 80 80 80 80 80 80 80 00")));
  // The 10th byte may carry only 1 more bit.
  CHECK_FALSE(decode_varlong(from_hex("ff ff ff ff ff ff ff ff ff 03")));
}

TEST_CASE("varint: a varint cut by the end of the buffer is rejected") {
  CHECK_FALSE(decode_varint(from_hex("")));
  CHECK_FALSE(decode_varint(from_hex("80")));
  CHECK_FALSE(decode_varint(from_hex("ff ff ff ff")));
  CHECK_FALSE(decode_varlong(from_hex("ff ff ff ff ff ff ff ff ff")));
}

TEST_CASE("endian: fields are stored most significant byte first") {
  std::array<std::byte, 8> buf{};
  store_be<std::int64_t>(buf.data(), 0x0102030405060708);
  CHECK(std::vector<std::byte>(buf.begin(), buf.end()) == from_hex("0102030405060708"));
  CHECK(load_be<std::int64_t>(buf.data()) == 0x0102030405060708);
  store_be<std::int32_t>(buf.data(), -2);
  CHECK(load_be<std::uint32_t>(buf.data()) == 0xFFFFFFFEu);
  store_be<std::int16_t>(buf.data() + 1, 0x1234);
  CHECK(load_be<std::int16_t>(buf.data() + 1) == 0x1234);
}

}  // namespace
}  // namespace ringlog
