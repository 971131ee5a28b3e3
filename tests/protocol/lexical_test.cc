#include "protocol/lexical.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>

#include "protocol/status.h"

namespace ringlog::protocol {
namespace {

std::span<const std::byte> bytes_of(std::string_view text) {
  return std::as_bytes(std::span(text.data(), text.size()));
}

TEST_CASE("lexical: decimals are digits only and never overflow") {
  CHECK(parse_decimal("0", 10) == 0u);
  CHECK(parse_decimal("007", 10) == 7u);
  CHECK(parse_decimal("10", 10) == 10u);
  CHECK_FALSE(parse_decimal("11", 10));
  CHECK_FALSE(parse_decimal("", 10));
  CHECK_FALSE(parse_decimal("-1", 10));
  CHECK_FALSE(parse_decimal("+1", 10));
  CHECK_FALSE(parse_decimal("1 ", 10));
  CHECK_FALSE(parse_decimal("0x1", 100));
  CHECK_FALSE(parse_decimal("1e3", 10000));
  constexpr auto kMax = std::numeric_limits<std::uint64_t>::max();
  CHECK(parse_decimal("18446744073709551615", kMax) == kMax);
  CHECK_FALSE(parse_decimal("18446744073709551616", kMax));
  CHECK_FALSE(parse_decimal("99999999999999999999999", kMax));
  CHECK(parse_decimal("2147483647", 2147483647) == 2147483647u);
  CHECK_FALSE(parse_decimal("2147483648", 2147483647));
}

TEST_CASE("lexical: signed decimals accept -1 and the int64 range only") {
  CHECK(parse_signed_decimal("-1") == -1);
  CHECK(parse_signed_decimal("42") == 42);
  CHECK(parse_signed_decimal("9223372036854775807") == std::numeric_limits<std::int64_t>::max());
  CHECK(parse_signed_decimal("-9223372036854775808") == std::numeric_limits<std::int64_t>::min());
  CHECK_FALSE(parse_signed_decimal("9223372036854775808"));
  CHECK_FALSE(parse_signed_decimal("-"));
  CHECK_FALSE(parse_signed_decimal("--1"));
  CHECK_FALSE(parse_signed_decimal(""));
}

TEST_CASE("lexical: keys are plain when printable without spaces, hex otherwise") {
  CHECK(is_plain_key(bytes_of("user42")));
  CHECK_FALSE(is_plain_key(bytes_of("")));
  CHECK_FALSE(is_plain_key(bytes_of("a b")));
  CHECK_FALSE(is_plain_key(bytes_of("a\nb")));
  CHECK_FALSE(is_plain_key(bytes_of("\x7f")));
  std::string hex;
  append_hex(hex, bytes_of(std::string_view("\x00\xff a", 4)));
  CHECK(hex == "00ff2061");
  std::string decoded;
  REQUIRE(decode_hex("00FF2061", decoded));
  CHECK(decoded == std::string_view("\x00\xff a", 4));
  CHECK(decode_hex("", decoded));
  CHECK(decoded.empty());
  CHECK_FALSE(decode_hex("abc", decoded));
  CHECK_FALSE(decode_hex("zz", decoded));
}

TEST_CASE("lexical: command names compare without case") {
  CHECK(equals_ignore_case("put", "PUT"));
  CHECK(equals_ignore_case("Fetch", "fEtCh"));
  CHECK_FALSE(equals_ignore_case("put", "putb"));
  CHECK_FALSE(equals_ignore_case("get", "gex"));
}

TEST_CASE("status: every code maps to an Errc and back") {
  for (int code : {400, 403, 404, 409, 413, 416, 500, 503, 507, 510}) {
    CAPTURE(code);
    const auto status = status_code_from_int(code);
    REQUIRE(status);
    CHECK(to_int(*status) == code);
    CHECK(status_code_from_errc(errc_from_status_code(*status)) == *status);
    CHECK_FALSE(status_code_text(*status).empty());
  }
  CHECK_FALSE(status_code_from_int(200));
  CHECK(status_code_from_errc(Errc::kClosed) == StatusCode::kBusy);
  CHECK(status_code_from_errc(Errc::kCorruption) == StatusCode::kInternal);
  CHECK(status_code_from_errc(Errc::kIo) == StatusCode::kInternal);
  CHECK(status_code_from_errc(Errc::kNoSpace) == StatusCode::kDiskFull);
  CHECK(status_code_from_errc(Errc::kLimitExceeded) == StatusCode::kLimitExceeded);
  CHECK(errc_from_status_code(StatusCode::kLimitExceeded) == Errc::kLimitExceeded);
}

}  // namespace
}  // namespace ringlog::protocol
