#include "engine/topic_config.h"

#include <charconv>

namespace ringlog {

namespace {
constexpr std::string_view kHeader = "ringlog-topic 1";
constexpr std::string_view kTrailer = "end";

template <typename T>
bool parse_number(std::string_view text, T& out) {
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && ptr == text.data() + text.size();
}
}  // namespace

std::string encode_topic_config(const TopicConfig& config) {
  std::string out(kHeader);
  out += "\npartitions=" + std::to_string(config.partitions) + "\n";
  if (config.durability) out += "durability=" + config.durability->to_string() + "\n";
  if (config.segment_bytes) out += "segment_bytes=" + std::to_string(*config.segment_bytes) + "\n";
  if (config.retention_ms) out += "retention_ms=" + std::to_string(*config.retention_ms) + "\n";
  if (config.retention_bytes)
    out += "retention_bytes=" + std::to_string(*config.retention_bytes) + "\n";
  out += kTrailer;
  out += "\n";
  return out;
}

Result<TopicConfig> decode_topic_config(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return fail(Errc::kCorruption, "topic config: " + std::string(why));
  };
  TopicConfig config;
  bool header = false, trailer = false;
  while (!text.empty()) {
    std::size_t eol = text.find('\n');
    if (eol == std::string_view::npos) return bad("unterminated line");
    std::string_view line = text.substr(0, eol);
    text.remove_prefix(eol + 1);
    if (!header) {
      if (line != kHeader) return bad("bad header");
      header = true;
      continue;
    }
    if (line == kTrailer) {
      trailer = true;
      break;
    }
    std::size_t eq = line.find('=');
    if (eq == std::string_view::npos) return bad("bad line");
    std::string_view key = line.substr(0, eq), value = line.substr(eq + 1);
    bool ok = true;
    if (key == "partitions") {
      ok = parse_number(value, config.partitions);
    } else if (key == "durability") {
      auto d = Durability::parse(value);
      ok = d.has_value();
      if (ok) config.durability = *d;
    } else if (key == "segment_bytes") {
      config.segment_bytes = 0;
      ok = parse_number(value, *config.segment_bytes);
    } else if (key == "retention_ms") {
      config.retention_ms = 0;
      ok = parse_number(value, *config.retention_ms);
    } else if (key == "retention_bytes") {
      config.retention_bytes = 0;
      ok = parse_number(value, *config.retention_bytes);
    }  // unknown keys: written by a newer version; ignored
    if (!ok) return bad("bad value for " + std::string(key));
  }
  if (!header || !trailer) return bad("truncated");
  if (config.partitions < 1) return bad("bad partition count");
  return config;
}

}  // namespace ringlog
