#include <doctest/doctest.h>

#include <ringlog/batch.h>

#include "cli/segment_files.h"
#include "cli/text.h"

namespace ringlog::cli {

TEST_CASE("text: UTF-8 validation accepts text and refuses overlongs, surrogates and cut bytes") {
  CHECK(is_valid_utf8(as_bytes("plain ascii")));
  CHECK(is_valid_utf8(as_bytes("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80")));
  CHECK_FALSE(is_valid_utf8(as_bytes("\xff")));
  CHECK_FALSE(is_valid_utf8(as_bytes("\xc0\xaf")));          // overlong '/'
  CHECK_FALSE(is_valid_utf8(as_bytes("\xed\xa0\x80")));      // a surrogate
  CHECK_FALSE(is_valid_utf8(as_bytes("\xe2\x82")));          // cut short
  CHECK_FALSE(is_valid_utf8(as_bytes("\xf4\x90\x80\x80")));  // above U+10FFFF
}

TEST_CASE("text: base64 pads to whole quads") {
  CHECK(base64_encode(as_bytes("")) == "");
  CHECK(base64_encode(as_bytes("f")) == "Zg==");
  CHECK(base64_encode(as_bytes("fo")) == "Zm8=");
  CHECK(base64_encode(as_bytes("foo")) == "Zm9v");
  CHECK(base64_encode(as_bytes("foobar")) == "Zm9vYmFy");
}

TEST_CASE("text: JSON fields escape text and fall back to base64 for other bytes") {
  std::string out;
  append_json_bytes_field(out, "value", as_bytes("a\"b\\c\n\x01"));
  CHECK(out == "\"value\":\"a\\\"b\\\\c\\n\\u0001\"");
  out.clear();
  append_json_bytes_field(out, "key", std::nullopt);
  CHECK(out == "\"key\":null");
  out.clear();
  append_json_bytes_field(out, "value", as_bytes("\xff\xfe"));
  CHECK(out == "\"value_base64\":\"//4=\"");
}

TEST_CASE("text: display escaping shows bytes and cuts long values") {
  CHECK(escape_for_display(as_bytes("hi\tthere\x80")) == "\"hi\\tthere\\x80\"");
  CHECK(escape_for_display(std::nullopt) == "null");
  CHECK(escape_for_display(as_bytes("abcdef"), 3) == "\"abc\"... (6 bytes)");
}

TEST_CASE("segment files: names carry the base offset in 20 digits") {
  CHECK(segment_file_name(42, kLogSuffix) == "00000000000000000042.log");
  CHECK(parse_segment_file_name("00000000000000000042.log", kLogSuffix) == 42);
  CHECK(parse_segment_file_name("00000000000000000042.index", kIndexSuffix) == 42);
  CHECK_FALSE(parse_segment_file_name("00000000000000000042.log", kIndexSuffix));
  CHECK_FALSE(parse_segment_file_name("@next.log", kLogSuffix));
  CHECK_FALSE(parse_segment_file_name("0000000000000000004x.log", kLogSuffix));
}

TEST_CASE("segment files: index entries decode big-endian and ignore a partial tail") {
  const unsigned char raw[] = {0, 0, 0, 5, 0, 0, 1, 0, 9};
  auto entries = decode_offset_index(std::as_bytes(std::span(raw)));
  REQUIRE(entries.size() == 1);
  CHECK(entries[0].relative_offset == 5);
  CHECK(entries[0].position == 256);
  CHECK(format_timestamp_ms(1000) == "1970-01-01T00:00:01.000Z");
}

}  // namespace ringlog::cli
