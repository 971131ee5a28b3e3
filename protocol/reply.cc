#include "protocol/reply.h"

#include <charconv>

#include "protocol/lexical.h"

namespace ringlog::protocol {

namespace {

void append_number(std::string& out, std::int64_t value) {
  char digits[24];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), value);
  out.append(digits, end);
}

void append_number(std::string& out, std::uint64_t value) {
  char digits[24];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), value);
  out.append(digits, end);
}

void append_text(std::string& out, std::string_view text) {
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    out.push_back(u < 0x20 || u == 0x7f ? ' ' : c);
  }
}

void append_word_number(std::string& out, std::string_view word, std::int64_t value) {
  out.append(word);
  out.push_back(' ');
  append_number(out, value);
}

}  // namespace

void append_crlf(std::string& out) {
  out.append("\r\n");
}

void append_ok(std::string& out) {
  out.append("ok\r\n");
}

void append_ok(std::string& out, std::int64_t offset) {
  append_word_number(out, "ok", offset);
  append_crlf(out);
}

void append_ok(std::string& out, std::int64_t first, std::int64_t last) {
  append_word_number(out, "ok", first);
  out.push_back(' ');
  append_number(out, last);
  append_crlf(out);
}

void append_pong(std::string& out) {
  out.append("pong\r\n");
}

void append_version(std::string& out, std::string_view semver) {
  out.append("version ");
  append_text(out, semver);
  append_crlf(out);
}

void append_error(std::string& out, StatusCode code, std::string_view message) {
  append_word_number(out, "error", to_int(code));
  out.push_back(' ');
  append_text(out, message.empty() ? status_code_text(code) : message);
  append_crlf(out);
}

void append_offsets(std::string& out, std::int64_t log_start, std::int64_t high_watermark) {
  append_word_number(out, "offsets", log_start);
  out.push_back(' ');
  append_number(out, high_watermark);
  append_crlf(out);
}

void append_committed(std::string& out, std::int64_t offset) {
  append_word_number(out, "offset", offset);
  append_crlf(out);
}

void append_topic(std::string& out, std::string_view name, std::int32_t partitions) {
  out.append("topic ");
  append_text(out, name);
  out.push_back(' ');
  append_number(out, std::int64_t{partitions});
  append_crlf(out);
}

void append_partition(std::string& out, std::int32_t partition, std::int64_t log_start,
                      std::int64_t high_watermark) {
  append_word_number(out, "partition", partition);
  out.push_back(' ');
  append_number(out, log_start);
  out.push_back(' ');
  append_number(out, high_watermark);
  append_crlf(out);
}

void append_stat(std::string& out, std::string_view name, std::int64_t value) {
  out.append("stat ");
  append_text(out, name);
  out.push_back(' ');
  append_number(out, value);
  append_crlf(out);
}

void append_stat(std::string& out, std::string_view name, std::string_view value) {
  out.append("stat ");
  append_text(out, name);
  out.push_back(' ');
  append_text(out, value);
  append_crlf(out);
}

void append_end(std::string& out) {
  out.append("end\r\n");
}

void append_end(std::string& out, std::int64_t next_offset) {
  append_word_number(out, "end", next_offset);
  append_crlf(out);
}

void append_msg_header(std::string& out, std::int64_t offset, std::int64_t timestamp_ms,
                       std::size_t length, std::optional<std::span<const std::byte>> key) {
  append_word_number(out, "msg", offset);
  out.push_back(' ');
  append_number(out, timestamp_ms);
  out.push_back(' ');
  append_number(out, std::uint64_t{length});
  if (key) {
    if (is_plain_key(*key)) {
      out.append(" key=");
      out.append(reinterpret_cast<const char*>(key->data()), key->size());
    } else {
      out.append(" keyhex=");
      append_hex(out, *key);
    }
  }
  append_crlf(out);
}

void append_batches_header(std::string& out, std::uint64_t length, std::int64_t high_watermark) {
  out.append("batches ");
  append_number(out, length);
  out.push_back(' ');
  append_number(out, high_watermark);
  append_crlf(out);
}

}  // namespace ringlog::protocol
