// Human-readable sizes and durations for the command line and config files.
//
// Sizes:     "4096", "64k", "64K", "64KiB", "1GiB", "1g", "10MB", "1.5GiB"
//            k/K/KiB, m/M/MiB, g/G/GiB, t/T/TiB are binary (x1024); kB/KB, MB, GB, TB are
//            decimal (x1000), as dd(1) reads them. A bare number is bytes.
// Durations: "250us", "10ms", "5s", "2m", "1h", "7d"; a bare number takes the caller's unit.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <ringlog/error.h>

namespace ringlog::cli {

Result<std::uint64_t> parse_size(std::string_view text);

// `--min-free-space`: a size ("512MiB", "1GiB", bytes) or a percentage of the file system
// ("5%", "2.5%", in [0, 50]). Exactly one of the two is set.
struct FreeSpaceReserve {
  std::optional<std::uint64_t> bytes;
  std::optional<double> percent;
};
Result<FreeSpaceReserve> parse_free_space(std::string_view text);

enum class DurationUnit { kMicroseconds, kMilliseconds, kSeconds, kHours };
// Returns the duration in microseconds; a bare number is read in `bare_unit`.
Result<std::chrono::microseconds> parse_duration(std::string_view text, DurationUnit bare_unit);

// 1536 -> "1.5 KiB", 3'000'000'000 -> "2.8 GiB"; exact byte counts below 1 KiB ("512 B").
std::string format_size(std::uint64_t bytes);
// Seconds with three significant decimals for short spans ("12.3 ms", "1.25 s", "3 h 2 min").
std::string format_duration(std::chrono::microseconds duration);

}  // namespace ringlog::cli
