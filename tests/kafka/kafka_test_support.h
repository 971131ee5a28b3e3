// Helpers shared by the Kafka tests: byte literals, hex dumps and round trips.
#pragma once

#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include "protocol/kafka/messages.h"
#include "protocol/kafka/wire.h"

namespace ringlog::kafka::test {

inline Bytes bytes_of(std::initializer_list<int> values) {
  Bytes out;
  for (int v : values)
    out.push_back(static_cast<std::byte>(v));
  return out;
}

inline Bytes text_bytes(std::string_view s) {
  Bytes out;
  for (char c : s)
    out.push_back(static_cast<std::byte>(c));
  return out;
}

inline std::string hex(std::span<const std::byte> data) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (std::byte b : data) {
    out += kDigits[static_cast<unsigned>(b) >> 4];
    out += kDigits[static_cast<unsigned>(b) & 15];
  }
  return out;
}

template <typename M>
Bytes encoded(const M& message, std::int16_t version) {
  Writer w;
  encode(w, message, version);
  return std::move(w).take().bytes;
}

}  // namespace ringlog::kafka::test
