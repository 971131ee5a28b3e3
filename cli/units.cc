#include "cli/units.h"

#include <array>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>

namespace ringlog::cli {
namespace {

struct Suffix {
  std::string_view text;
  double factor;
};

constexpr double kKi = 1024.0;
constexpr std::array kSizeSuffixes{
    Suffix{"", 1},
    Suffix{"b", 1},
    Suffix{"B", 1},
    Suffix{"k", kKi},
    Suffix{"K", kKi},
    Suffix{"KiB", kKi},
    Suffix{"m", kKi* kKi},
    Suffix{"M", kKi* kKi},
    Suffix{"MiB", kKi* kKi},
    Suffix{"g", kKi* kKi* kKi},
    Suffix{"G", kKi* kKi* kKi},
    Suffix{"GiB", kKi* kKi* kKi},
    Suffix{"t", kKi* kKi* kKi* kKi},
    Suffix{"T", kKi* kKi* kKi* kKi},
    Suffix{"TiB", kKi* kKi* kKi* kKi},
    Suffix{"kB", 1e3},
    Suffix{"KB", 1e3},
    Suffix{"MB", 1e6},
    Suffix{"GB", 1e9},
    Suffix{"TB", 1e12},
};

constexpr std::array kDurationSuffixes{
    Suffix{"us", 1},     Suffix{"ms", 1e3},   Suffix{"s", 1e6},     Suffix{"m", 60e6},
    Suffix{"min", 60e6}, Suffix{"h", 3600e6}, Suffix{"d", 86400e6},
};

struct NumberAndSuffix {
  double number;
  std::string_view suffix;
};

// Splits "1.5GiB" into 1.5 and "GiB". Refuses empty, negative and non-finite numbers.
Result<NumberAndSuffix> split_number(std::string_view text, std::string_view what) {
  while (!text.empty() && text.back() == ' ')
    text.remove_suffix(1);
  while (!text.empty() && text.front() == ' ')
    text.remove_prefix(1);
  double number = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (ec != std::errc() || text.empty() || text.front() == '-' || !std::isfinite(number)) {
    return fail(Errc::kInvalidArgument,
                std::string(what) + " '" + std::string(text) + "' is not a number with a unit");
  }
  std::string_view suffix(end, static_cast<std::size_t>(text.data() + text.size() - end));
  while (!suffix.empty() && suffix.front() == ' ')
    suffix.remove_prefix(1);
  return NumberAndSuffix{number, suffix};
}

template <std::size_t N>
const Suffix* find_suffix(const std::array<Suffix, N>& table, std::string_view suffix) {
  for (const Suffix& s : table) {
    if (s.text == suffix) return &s;
  }
  return nullptr;
}

}  // namespace

Result<std::uint64_t> parse_size(std::string_view text) {
  auto parts = split_number(text, "size");
  if (!parts) return fail(parts.error());
  const Suffix* suffix = find_suffix(kSizeSuffixes, parts->suffix);
  if (suffix == nullptr) {
    return fail(Errc::kInvalidArgument, "size '" + std::string(text) +
                                            "' has an unknown unit: use B, k, KiB, MiB, GiB, "
                                            "TiB (x1024) or kB, MB, GB, TB (x1000)");
  }
  double bytes = parts->number * suffix->factor;
  if (bytes >= static_cast<double>(std::numeric_limits<std::uint64_t>::max())) {
    return fail(Errc::kInvalidArgument, "size '" + std::string(text) + "' is too large");
  }
  if (bytes != std::floor(bytes)) {
    return fail(Errc::kInvalidArgument,
                "size '" + std::string(text) + "' is not a whole number of bytes");
  }
  return static_cast<std::uint64_t>(bytes);
}

Result<FreeSpaceReserve> parse_free_space(std::string_view text) {
  while (!text.empty() && text.back() == ' ')
    text.remove_suffix(1);
  if (!text.ends_with('%')) {
    auto bytes = parse_size(text);
    if (!bytes) return fail(bytes.error());
    return FreeSpaceReserve{*bytes, std::nullopt};
  }
  text.remove_suffix(1);
  auto parts = split_number(text, "percentage");
  if (!parts || !parts->suffix.empty())
    return fail(Errc::kInvalidArgument,
                "percentage '" + std::string(text) + "%' is not a number followed by %");
  if (parts->number > 50)
    return fail(Errc::kInvalidArgument,
                "percentage '" + std::string(text) + "%' is above 50% of the file system");
  return FreeSpaceReserve{std::nullopt, parts->number};
}

Result<std::chrono::microseconds> parse_duration(std::string_view text, DurationUnit bare_unit) {
  auto parts = split_number(text, "duration");
  if (!parts) return fail(parts.error());
  double factor_us = 0;
  if (parts->suffix.empty()) {
    switch (bare_unit) {
      case DurationUnit::kMicroseconds:
        factor_us = 1;
        break;
      case DurationUnit::kMilliseconds:
        factor_us = 1e3;
        break;
      case DurationUnit::kSeconds:
        factor_us = 1e6;
        break;
      case DurationUnit::kHours:
        factor_us = 3600e6;
        break;
    }
  } else {
    const Suffix* suffix = find_suffix(kDurationSuffixes, parts->suffix);
    if (suffix == nullptr) {
      return fail(Errc::kInvalidArgument, "duration '" + std::string(text) +
                                              "' has an unknown unit: use us, ms, s, m, h or d");
    }
    factor_us = suffix->factor;
  }
  double us = std::round(parts->number * factor_us);
  if (us >= 9.2e18) {
    return fail(Errc::kInvalidArgument, "duration '" + std::string(text) + "' is too long");
  }
  return std::chrono::microseconds(static_cast<std::int64_t>(us));
}

std::string format_size(std::uint64_t bytes) {
  if (bytes < 1024) return std::to_string(bytes) + " B";
  static constexpr std::array<const char*, 5> kUnits{"KiB", "MiB", "GiB", "TiB", "PiB"};
  double value = static_cast<double>(bytes) / 1024.0;
  std::size_t unit = 0;
  while (value >= 1024.0 && unit + 1 < kUnits.size()) {
    value /= 1024.0;
    ++unit;
  }
  char out[32];
  std::snprintf(out, sizeof out,
                value < 10    ? "%.2f %s"
                : value < 100 ? "%.1f %s"
                              : "%.0f %s",
                value, kUnits[unit]);
  return out;
}

std::string format_duration(std::chrono::microseconds duration) {
  const double us = static_cast<double>(duration.count());
  char out[48];
  if (us < 1e3) {
    std::snprintf(out, sizeof out, "%.0f us", us);
  } else if (us < 1e6) {
    std::snprintf(out, sizeof out, "%.3g ms", us / 1e3);
  } else if (us < 60e6) {
    std::snprintf(out, sizeof out, "%.3g s", us / 1e6);
  } else if (us < 3600e6) {
    std::snprintf(out, sizeof out, "%.0f min %.0f s", std::floor(us / 60e6),
                  std::fmod(us / 1e6, 60.0));
  } else {
    std::snprintf(out, sizeof out, "%.0f h %.0f min", std::floor(us / 3600e6),
                  std::fmod(us / 60e6, 60.0));
  }
  return out;
}

}  // namespace ringlog::cli
