// The `ringlog` command: one CLI11 app with a subcommand per file (cli/*_cmd.cc).
// Exit codes (docs/cli.md): 0 ok, 1 error, 2 usage, 3 data corruption found.
#include <csignal>
#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "cli/common.h"

namespace {

bool has_subcommand(CLI::App& app, const std::string& name) {
  try {
    return app.get_subcommand(name) != nullptr;
  } catch (const CLI::OptionNotFound&) {
    return false;
  }
}

int run(int argc, char** argv) {
  using namespace ringlog::cli;
  CLI::App app("ringlog: a single-node log engine on io_uring", "ringlog");
  app.set_version_flag("--version", "ringlog 0.1.0");
  app.require_subcommand(1);
  app.footer(
      "\nRun `ringlog SUBCOMMAND --help` for a subcommand's options and an example.\n"
      "Without --server, commands open the data directory (--data, default ./ringlog-data) "
      "directly.\nExit codes: 0 ok, 1 error, 2 usage, 3 data corruption found.\n");
  CommonOptions common;
  int exit_code = kExitOk;
  add_serve_command(app, common);
  add_produce_command(app, common);
  add_consume_command(app, common);
  add_topics_command(app, common);
  add_offsets_command(app, common);
  add_stats_command(app, common);
  add_verify_command(app, common, exit_code);
  add_dump_command(app, common);
  add_bench_command(app);
  if (argc > 1 && argv[1][0] != '-' && !has_subcommand(app, argv[1])) {
    std::fprintf(stderr,
                 "ringlog: '%s' is not a subcommand: use serve, produce, consume, topics, offsets, "
                 "stats, verify, dump or bench (see `ringlog --help`)\n",
                 argv[1]);
    return kExitUsage;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    std::fprintf(stderr, "Run `ringlog --help` or `ringlog SUBCOMMAND --help` for usage.\n");
    return kExitUsage;
  } catch (const CommandFailure& e) {
    std::fflush(stdout);
    if (*e.what() != '\0') std::fprintf(stderr, "ringlog: error: %s\n", e.what());
    return e.exit_code();
  }
  return exit_code;
}

}  // namespace

int main(int argc, char** argv) {
  // Writes to a closed pipe fail with EPIPE (handled where output is written) instead of killing
  // the process before the engine is closed cleanly.
  std::signal(SIGPIPE, SIG_IGN);
  return run(argc, argv);
}
