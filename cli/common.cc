#include "cli/common.h"

#include <unistd.h>

#include <ringlog/engine.h>

#include "cli/commands.h"
#include "cli/units.h"
#include "io/log.h"

namespace ringlog::cli {

int exit_code_for(const Error& error) noexcept {
  return error.code() == Errc::kCorruption || error.code() == Errc::kDataLoss ? kExitCorruption
                                                                              : kExitError;
}

void fail_with(const Error& error, std::string_view context) {
  std::string message = context.empty() ? std::string() : std::string(context) + ": ";
  message += error.message();
  throw CommandFailure(exit_code_for(error), message);
}

void fail_usage(const std::string& message) {
  throw CommandFailure(kExitUsage, message);
}

// The engine's naming rules (ringlog/engine.h), the same for both protocols.
void require_topic_name(std::string_view topic) {
  if (const std::string problem = topic_name_problem(topic); !problem.empty())
    fail_usage("topic '" + std::string(topic) + "' is not a valid name: " + problem);
}

void require_group_name(std::string_view group) {
  if (const std::string problem = group_id_problem(group); !problem.empty())
    fail_usage("group '" + std::string(group) + "' is not a valid name: " + problem);
}

void add_common_options(CLI::App& app, CommonOptions& common, bool with_server) {
  if (with_server) {
    app.add_option("--data", common.data_dir,
                   "data directory to open when no --server is given (default ./ringlog-data, "
                   "as for `ringlog serve`)");
    app.add_option("--server", common.server,
                   "talk to a running `ringlog serve` at ADDR:PORT (e.g. 127.0.0.1:8123) "
                   "instead of opening the data directory");
  }
  app.add_flag("--json", common.json, "machine-readable JSON output");
  app.add_option("--log-level", common.log_level, "debug, info, warn (default), error or off");
}

void apply_log_level(const CommonOptions& common) {
  LogLevel level;
  if (!parse_log_level(common.log_level, &level)) {
    fail_usage("--log-level '" + common.log_level +
               "' is not a level: use debug, info, warn, error or off");
  }
  set_log_level(level);
}

CLI::Validator size_validator() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        auto size = parse_size(text);
        return size ? std::string() : size.error().message();
      },
      "SIZE", "size");
}

CLI::Validator duration_validator() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        auto d = parse_duration(text, DurationUnit::kMilliseconds);
        return d ? std::string() : d.error().message();
      },
      "DURATION", "duration");
}

void set_example(CLI::App& app, const std::string& example) {
  app.footer("\nExample:\n" + example);
}

bool stderr_is_terminal() {
  return ::isatty(STDERR_FILENO) == 1;
}

}  // namespace ringlog::cli
