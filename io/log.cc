#include "io/log.h"

#include <cstdarg>
#include <cstdio>
#include <ctime>

namespace ringlog {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};

const char* level_name(LogLevel level) noexcept {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info ";
    case LogLevel::kWarn:
      return "warn ";
    case LogLevel::kError:
      return "error";
    case LogLevel::kOff:
      break;
  }
  return "?    ";
}

}  // namespace

void set_log_level(LogLevel level) noexcept {
  g_level.store(static_cast<int>(level), std::memory_order_relaxed);
}

LogLevel log_level() noexcept {
  return static_cast<LogLevel>(g_level.load(std::memory_order_relaxed));
}

bool parse_log_level(std::string_view name, LogLevel* out) noexcept {
  struct Entry {
    std::string_view name;
    LogLevel level;
  };
  static constexpr Entry kLevels[] = {{"debug", LogLevel::kDebug},
                                      {"info", LogLevel::kInfo},
                                      {"warn", LogLevel::kWarn},
                                      {"error", LogLevel::kError},
                                      {"off", LogLevel::kOff}};
  for (const Entry& e : kLevels) {
    if (e.name == name) {
      *out = e.level;
      return true;
    }
  }
  return false;
}

void log_message(LogLevel level, const char* format, ...) noexcept {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  tm utc{};
  gmtime_r(&now.tv_sec, &utc);
  char line[2048];
  int n = std::snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s ",
                        utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min,
                        utc.tm_sec, now.tv_nsec / 1'000'000, level_name(level));
  va_list args;
  va_start(args, format);
  int m = std::vsnprintf(line + n, sizeof line - static_cast<std::size_t>(n) - 1, format, args);
  va_end(args);
  std::size_t len = static_cast<std::size_t>(n) + (m < 0 ? 0 : static_cast<std::size_t>(m));
  if (len > sizeof line - 2) len = sizeof line - 2;
  line[len++] = '\n';
  std::fwrite(line, 1, len, stderr);
}

}  // namespace ringlog
