// What every `ringlog` subcommand shares: the common options, the exit codes, and the one
// exception type that carries a failure from a command to main().
//
// CLI11 itself is only in cli/commands.h: it costs seconds of compile time per file.
//
// cli/ is the only layer that uses exceptions (CLI11 throws). Commands call the engine and
// the client, which return Result/Status, and turn an Error into a CommandFailure with
// `value_or_fail` / `check`; main() prints "ringlog: error: <message>" and exits with its code.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include <ringlog/error.h>

namespace ringlog::cli {

// Documented in docs/cli.md; scripts depend on them.
inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;
inline constexpr int kExitUsage = 2;       // CLI11 parse errors and arguments we refuse
inline constexpr int kExitCorruption = 3;  // stored data failed a check

inline constexpr std::string_view kDefaultDataDir = "./ringlog-data";
inline constexpr std::string_view kDefaultListen = "127.0.0.1:8123";

// Options every command accepts (on the command or before it).
struct CommonOptions {
  std::string data_dir = std::string(kDefaultDataDir);
  std::string server;  // "ADDR:PORT"; empty: embedded mode (open data_dir)
  bool json = false;
  std::string log_level = "warn";
};

// A failure that ends the command: printed once by main(), which exits with `exit_code`.
class CommandFailure : public std::runtime_error {
 public:
  CommandFailure(int exit_code, const std::string& message)
      : std::runtime_error(message), exit_code_(exit_code) {}
  int exit_code() const noexcept { return exit_code_; }

 private:
  int exit_code_;
};

// Exit code for an engine/client error: 3 for corruption, 1 otherwise.
int exit_code_for(const Error& error) noexcept;
[[noreturn]] void fail_with(const Error& error, std::string_view context = {});
[[noreturn]] void fail_usage(const std::string& message);

inline void check(const Status& status, std::string_view context = {}) {
  if (!status) fail_with(status.error(), context);
}
template <typename T>
T value_or_fail(Result<T>&& result, std::string_view context = {}) {
  if (!result) fail_with(result.error(), context);
  return std::move(*result);
}

// Throws a usage failure naming the rule when `topic` is not a valid topic name.
void require_topic_name(std::string_view topic);
void require_group_name(std::string_view group);

// Applies --log-level (io/log.h); a usage failure when the level is unknown.
void apply_log_level(const CommonOptions& common);

// Is file descriptor 2 a terminal (for progress output)?
bool stderr_is_terminal();

}  // namespace ringlog::cli
