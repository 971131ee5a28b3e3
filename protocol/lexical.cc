#include "protocol/lexical.h"

namespace ringlog::protocol {

std::optional<std::uint64_t> parse_decimal(std::string_view token, std::uint64_t max) noexcept {
  if (token.empty()) return std::nullopt;
  std::uint64_t value = 0;
  for (char c : token) {
    if (c < '0' || c > '9') return std::nullopt;
    const auto digit = static_cast<std::uint64_t>(c - '0');
    if (value > (max - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
  }
  return value;
}

std::optional<std::int64_t> parse_signed_decimal(std::string_view token) noexcept {
  const bool negative = !token.empty() && token.front() == '-';
  if (negative) token.remove_prefix(1);
  constexpr auto kMax = static_cast<std::uint64_t>(INT64_MAX);
  const auto magnitude = parse_decimal(token, negative ? kMax + 1 : kMax);
  if (!magnitude) return std::nullopt;
  if (!negative) return static_cast<std::int64_t>(*magnitude);
  if (*magnitude == kMax + 1) return INT64_MIN;
  return -static_cast<std::int64_t>(*magnitude);
}

bool is_plain_key(std::span<const std::byte> key) noexcept {
  if (key.empty()) return false;
  for (std::byte b : key) {
    const auto c = static_cast<unsigned char>(b);
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

void append_hex(std::string& out, std::span<const std::byte> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  for (std::byte b : bytes) {
    const auto c = static_cast<unsigned char>(b);
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 0xf]);
  }
}

namespace {
int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

bool decode_hex(std::string_view hex, std::string& out) {
  out.clear();
  if (hex.size() % 2 != 0) return false;
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    const int hi = hex_value(hex[i]);
    const int lo = hex_value(hex[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out.push_back(static_cast<char>((hi << 4) | lo));
  }
  return true;
}

bool equals_ignore_case(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

}  // namespace ringlog::protocol
