#include "engine/topic_config.h"

#include <charconv>
#include <cstdio>

#include "engine/crc32c.h"

namespace ringlog {

namespace {
constexpr std::string_view kHeaderPrefix = "ringlog-topic ";
constexpr int kVersion = 2;
constexpr std::string_view kChecksumKey = "crc32c";
constexpr std::string_view kTrailer = "end";

template <typename T>
bool parse_number(std::string_view text, T& out) {
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && ptr == text.data() + text.size();
}

std::uint32_t checksum(std::string_view text) {
  return crc32c(std::as_bytes(std::span(text.data(), text.size())));
}

std::string hex8(std::uint32_t value) {
  char buf[9];
  std::snprintf(buf, sizeof(buf), "%08x", value);
  return buf;
}

// Applies one "key=value" line; false if the value is bad. Unknown keys (written by a newer
// version) are ignored.
bool apply_setting(std::string_view key, std::string_view value, TopicConfig& config) {
  if (key == "partitions") return parse_number(value, config.partitions);
  if (key == "durability") {
    auto d = Durability::parse(value);
    if (d) config.durability = *d;
    return d.has_value();
  }
  if (key == "segment_bytes") return parse_number(value, config.segment_bytes.emplace());
  if (key == "retention_ms") return parse_number(value, config.retention_ms.emplace());
  if (key == "retention_bytes") return parse_number(value, config.retention_bytes.emplace());
  return true;
}
}  // namespace

std::string encode_topic_config(const TopicConfig& config) {
  std::string out(kHeaderPrefix);
  out += std::to_string(kVersion);
  out += "\npartitions=" + std::to_string(config.partitions) + "\n";
  if (config.durability) out += "durability=" + config.durability->to_string() + "\n";
  if (config.segment_bytes) out += "segment_bytes=" + std::to_string(*config.segment_bytes) + "\n";
  if (config.retention_ms) out += "retention_ms=" + std::to_string(*config.retention_ms) + "\n";
  if (config.retention_bytes)
    out += "retention_bytes=" + std::to_string(*config.retention_bytes) + "\n";
  out += std::string(kChecksumKey) + "=" + hex8(checksum(out)) + "\n";
  out += kTrailer;
  out += "\n";
  return out;
}

Result<TopicConfig> decode_topic_config(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return fail(Errc::kCorruption, "topic config: " + std::string(why));
  };
  const std::string_view whole = text;
  std::size_t eol = text.find('\n');
  if (eol == std::string_view::npos || !text.starts_with(kHeaderPrefix)) return bad("bad header");
  int version = 0;
  if (!parse_number(text.substr(kHeaderPrefix.size(), eol - kHeaderPrefix.size()), version) ||
      version < 1)
    return bad("bad header");
  if (version > kVersion)
    return fail(Errc::kUnsupported, "topic config: version " + std::to_string(version) +
                                        " was written by a newer ringlog");
  text.remove_prefix(eol + 1);
  TopicConfig config;
  bool trailer = false, checked = false;
  while (!text.empty()) {
    eol = text.find('\n');
    if (eol == std::string_view::npos) return bad("unterminated line");
    std::string_view line = text.substr(0, eol);
    const std::size_t line_start = static_cast<std::size_t>(line.data() - whole.data());
    text.remove_prefix(eol + 1);
    if (line == kTrailer) {
      trailer = true;
      break;
    }
    std::size_t eq = line.find('=');
    if (eq == std::string_view::npos) return bad("bad line");
    std::string_view key = line.substr(0, eq), value = line.substr(eq + 1);
    if (key == kChecksumKey) {
      if (version == 1) return bad("a checksum line in a version 1 file");
      if (value != hex8(checksum(whole.substr(0, line_start)))) return bad("checksum mismatch");
      checked = true;
      continue;
    }
    if (checked) return bad("a line after the checksum");
    if (!apply_setting(key, value, config)) return bad("bad value for " + std::string(key));
  }
  if (!trailer) return bad("truncated");
  if (version >= 2 && !checked) return bad("no checksum");
  if (version >= 2 && !text.empty()) return bad("bytes after the end");
  if (config.partitions < 1) return bad("bad partition count");
  return config;
}

}  // namespace ringlog
