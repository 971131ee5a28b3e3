// Leveled logging to stderr: "2026-11-24T05:40:00.123Z info  server: listening on 127.0.0.1:8123".
// One fprintf per line, so lines from different threads do not interleave. The level is
// process-wide; messages below it cost one relaxed atomic load.
#pragma once

#include <atomic>
#include <string_view>

namespace ringlog {

enum class LogLevel : int { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3, kOff = 4 };

void set_log_level(LogLevel level) noexcept;
LogLevel log_level() noexcept;
// "debug" | "info" | "warn" | "error" | "off"; false if the name is unknown.
bool parse_log_level(std::string_view name, LogLevel* out) noexcept;

void log_message(LogLevel level, const char* format, ...) noexcept
    __attribute__((format(printf, 2, 3)));

}  // namespace ringlog

#define RINGLOG_LOG(level, ...)                                              \
  do {                                                                       \
    if (static_cast<int>(level) >= static_cast<int>(::ringlog::log_level())) \
      ::ringlog::log_message(level, __VA_ARGS__);                            \
  } while (0)
#define RINGLOG_DEBUG(...) RINGLOG_LOG(::ringlog::LogLevel::kDebug, __VA_ARGS__)
#define RINGLOG_INFO(...) RINGLOG_LOG(::ringlog::LogLevel::kInfo, __VA_ARGS__)
#define RINGLOG_WARN(...) RINGLOG_LOG(::ringlog::LogLevel::kWarn, __VA_ARGS__)
#define RINGLOG_ERROR(...) RINGLOG_LOG(::ringlog::LogLevel::kError, __VA_ARGS__)
