// The lexical rules of the line protocol: numbers and keys. Pure functions, no allocation
// except where a std::string is filled.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace ringlog::protocol {

// Strict unsigned decimal: one or more of [0-9], nothing else (no sign, no spaces), value <= max.
// Leading zeros are accepted. nullopt for anything else, including overflow.
std::optional<std::uint64_t> parse_decimal(std::string_view token, std::uint64_t max) noexcept;

// Strict signed decimal for replies that may carry -1 (`offset -1`): an optional '-' then digits.
std::optional<std::int64_t> parse_signed_decimal(std::string_view token) noexcept;

// Names of topics and groups follow the engine's rule: ringlog::topic_name_problem and
// group_id_problem (ringlog/engine.h).

// True when `key` can be written as `key=<key>`: non-empty printable ASCII without spaces.
bool is_plain_key(std::span<const std::byte> key) noexcept;

// Appends two lowercase hex digits per byte.
void append_hex(std::string& out, std::span<const std::byte> bytes);

// Decodes an even-length hex string (either case) into `out` (replaced); false if malformed.
bool decode_hex(std::string_view hex, std::string& out);

// Case-insensitive ASCII equality.
bool equals_ignore_case(std::string_view a, std::string_view b) noexcept;

}  // namespace ringlog::protocol
