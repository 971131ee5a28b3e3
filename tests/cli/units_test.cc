#include <doctest/doctest.h>

#include "cli/units.h"

namespace ringlog::cli {

using std::chrono::microseconds;

TEST_CASE("units: sizes read binary and decimal suffixes") {
  CHECK(parse_size("4096").value() == 4096);
  CHECK(parse_size("64k").value() == 64 * 1024);
  CHECK(parse_size("64K").value() == 64 * 1024);
  CHECK(parse_size("1GiB").value() == 1ull << 30);
  CHECK(parse_size("1g").value() == 1ull << 30);
  CHECK(parse_size("1.5KiB").value() == 1536);
  CHECK(parse_size("10MB").value() == 10'000'000);
  CHECK(parse_size(" 2 MiB ").value() == 2ull << 20);
}

TEST_CASE("units: bad sizes are refused with a message that names them") {
  for (const char* bad : {"", "abc", "-1k", "1XB", "0.3B", "99999999999999999999T"}) {
    CAPTURE(bad);
    auto r = parse_size(bad);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code() == Errc::kInvalidArgument);
  }
  CHECK(parse_size("1XB").error().message().find("unknown unit") != std::string::npos);
}

TEST_CASE("units: durations read their suffix, bare numbers the caller's unit") {
  CHECK(parse_duration("10ms", DurationUnit::kSeconds).value() == microseconds(10'000));
  CHECK(parse_duration("250us", DurationUnit::kSeconds).value() == microseconds(250));
  CHECK(parse_duration("2m", DurationUnit::kSeconds).value() == microseconds(120'000'000));
  CHECK(parse_duration("7d", DurationUnit::kSeconds).value() == microseconds(604'800'000'000));
  CHECK(parse_duration("10", DurationUnit::kMilliseconds).value() == microseconds(10'000));
  CHECK(parse_duration("168", DurationUnit::kHours).value() == microseconds(604'800'000'000));
  CHECK_FALSE(parse_duration("5 fortnights", DurationUnit::kSeconds).has_value());
  CHECK_FALSE(parse_duration("-5s", DurationUnit::kSeconds).has_value());
}

TEST_CASE("units: formatting is short and human") {
  CHECK(format_size(512) == "512 B");
  CHECK(format_size(1536) == "1.50 KiB");
  CHECK(format_size(1ull << 30) == "1.00 GiB");
  CHECK(format_duration(microseconds(250)) == "250 us");
  CHECK(format_duration(microseconds(12'300)) == "12.3 ms");
  CHECK(format_duration(microseconds(1'250'000)) == "1.25 s");
}

TEST_CASE("units: --min-free-space reads a size or a percentage of the file system") {
  CHECK(parse_free_space("512MiB").value().bytes == 512ull << 20);
  CHECK_FALSE(parse_free_space("512MiB").value().percent);
  CHECK(parse_free_space("1GiB").value().bytes == 1ull << 30);
  CHECK(parse_free_space("4096").value().bytes == 4096);
  CHECK(parse_free_space("0").value().bytes == 0);
  CHECK(parse_free_space("5%").value().percent == 5.0);
  CHECK_FALSE(parse_free_space("5%").value().bytes);
  CHECK(parse_free_space("2.5%").value().percent == 2.5);
  for (const char* bad : {"", "%", "x%", "5MiB%", "51%", "-1%", "abc"}) {
    CAPTURE(bad);
    auto r = parse_free_space(bad);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code() == Errc::kInvalidArgument);
  }
}

}  // namespace ringlog::cli
