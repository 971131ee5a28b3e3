// The `ringlog` command: one CLI11 app with a subcommand per file (cli/*_cmd.cc).
// Exit codes (docs/cli.md): 0 ok, 1 error, 2 usage, 3 data corruption found.
#include <malloc.h>

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

namespace {

// Appends carry batches of up to max_batch_bytes in buffers allocated per request and freed once
// written. With glibc's defaults a buffer above the mmap threshold is mmapped and unmapped every
// time, so each append's bytes sit in freshly faulted pages, and the kernel's copy into the page
// cache from them costs far more than from reused memory: on this VM buffered appends of 1 MiB
// batches ran at 380-760 MB/s this way and at 900-1,120 MB/s with reused memory
// (docs/performance.md, "The buffered row"). So large buffers come from the heap and freed memory
// stays there for the next ones: RSS keeps its high-water mark, which max_pending_bytes bounds.
void keep_freed_memory_for_reuse() {
  (void)mallopt(M_MMAP_THRESHOLD, 32 << 20);  // glibc's maximum on 64-bit
  (void)mallopt(M_TRIM_THRESHOLD, 1 << 30);
}

}  // namespace

int main(int argc, char** argv) {
  keep_freed_memory_for_reuse();
  // Writes to a closed pipe fail with EPIPE (handled where output is written) instead of killing
  // the process before the engine is closed cleanly.
  std::signal(SIGPIPE, SIG_IGN);
  return run(argc, argv);
}
