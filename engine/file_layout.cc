#include "engine/file_layout.h"

#include <charconv>
#include <cstdio>

#include <ringlog/engine.h>

#include "engine/endian.h"

namespace ringlog {

void encode_index_entry(std::byte* out, IndexEntry entry) noexcept {
  store_be<std::uint32_t>(out, entry.relative_offset);
  store_be<std::uint32_t>(out + 4, entry.position);
}

IndexEntry decode_index_entry(const std::byte* in) noexcept {
  return {load_be<std::uint32_t>(in), load_be<std::uint32_t>(in + 4)};
}

void encode_time_index_entry(std::byte* out, TimeIndexEntry entry) noexcept {
  store_be<std::int64_t>(out, entry.timestamp_ms);
  store_be<std::uint32_t>(out + 8, entry.relative_offset);
}

TimeIndexEntry decode_time_index_entry(const std::byte* in) noexcept {
  return {load_be<std::int64_t>(in), load_be<std::uint32_t>(in + 8)};
}

std::vector<IndexEntry> decode_offset_index(std::span<const std::byte> bytes) {
  std::vector<IndexEntry> out;
  out.reserve(bytes.size() / kIndexEntryBytes);
  for (std::size_t at = 0; at + kIndexEntryBytes <= bytes.size(); at += kIndexEntryBytes)
    out.push_back(decode_index_entry(bytes.data() + at));
  return out;
}

std::vector<TimeIndexEntry> decode_time_index(std::span<const std::byte> bytes) {
  std::vector<TimeIndexEntry> out;
  out.reserve(bytes.size() / kTimeIndexEntryBytes);
  for (std::size_t at = 0; at + kTimeIndexEntryBytes <= bytes.size(); at += kTimeIndexEntryBytes)
    out.push_back(decode_time_index_entry(bytes.data() + at));
  return out;
}

std::string join_path(std::string_view dir, std::string_view name) {
  std::string path(dir);
  if (!path.empty() && path.back() != '/') path += '/';
  path += name;
  return path;
}

std::string segment_file_name(std::int64_t base_offset, std::string_view suffix) {
  char digits[32];
  std::snprintf(digits, sizeof digits, "%020lld", static_cast<long long>(base_offset));
  std::string name(digits);
  name += suffix;
  return name;
}

std::optional<std::int64_t> parse_segment_file_name(std::string_view name,
                                                    std::string_view suffix) {
  if (name.size() != 20 + suffix.size() || !name.ends_with(suffix)) return std::nullopt;
  std::int64_t value = 0;
  const char* end = name.data() + 20;
  for (const char* p = name.data(); p != end; ++p) {
    if (*p < '0' || *p > '9') return std::nullopt;
  }
  auto [ptr, ec] = std::from_chars(name.data(), end, value);
  if (ec != std::errc() || ptr != end) return std::nullopt;
  return value;
}

namespace {
bool is_topic_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}
}  // namespace

std::string topic_name_problem(std::string_view name) {
  static constexpr std::string_view kRule =
      "topic names are 1 to 249 characters of [A-Za-z0-9._-], and not '.' or '..'";
  if (name.empty() || name.size() > 249 || name == "." || name == "..") return std::string(kRule);
  for (char c : name) {
    if (!is_topic_char(c)) return std::string(kRule);
  }
  return {};
}

std::string group_id_problem(std::string_view id) {
  static constexpr std::string_view kRule =
      "group ids are 1 to 249 bytes of printable ASCII without spaces";
  if (id.empty() || id.size() > 249) return std::string(kRule);
  for (char c : id) {
    if (c < 0x21 || c > 0x7e) return std::string(kRule);
  }
  return {};
}

bool is_valid_topic_name(std::string_view name) {
  return topic_name_problem(name).empty();
}

bool is_valid_group_id(std::string_view id) {
  return group_id_problem(id).empty();
}

}  // namespace ringlog
