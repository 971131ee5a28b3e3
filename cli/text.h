// Turning record bytes into output: JSON strings (with a base64 fallback for bytes that are not
// UTF-8) and escaped printable text for people.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace ringlog::cli {

bool is_valid_utf8(std::span<const std::byte> bytes) noexcept;
std::string base64_encode(std::span<const std::byte> bytes);

// Appends `text` as a quoted JSON string: ", \ and control characters escaped (\n, \t, \u0001).
// REQUIRES: text is valid UTF-8 (other bytes pass through unchanged).
void append_json_string(std::string& out, std::string_view text);

// Appends `"name":...` for record bytes: null for nullopt, a JSON string when the bytes are
// valid UTF-8, otherwise `"name_base64":"..."` (documented in docs/cli.md).
void append_json_bytes_field(std::string& out, std::string_view name,
                             const std::optional<std::span<const std::byte>>& bytes);

// For people: printable ASCII as is, \n \t \r \\ \" and \xNN for everything else, in quotes;
// `null` for nullopt. Longer than `max_bytes`: cut, with "..." and the full length.
std::string escape_for_display(const std::optional<std::span<const std::byte>>& bytes,
                               std::size_t max_bytes = 256);

inline std::string_view as_text(std::span<const std::byte> bytes) noexcept {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

}  // namespace ringlog::cli
