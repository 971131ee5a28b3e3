// Registration of each subcommand: every add_*_command adds one CLI11 subcommand to `app`,
// with its options bound to state it owns and a callback that runs the command (throwing
// CommandFailure on failure). main.cc calls them in order.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/common.h"

namespace ringlog::cli {

void add_serve_command(CLI::App& app, CommonOptions& common);
void add_produce_command(CLI::App& app, CommonOptions& common);
void add_consume_command(CLI::App& app, CommonOptions& common);
void add_topics_command(CLI::App& app, CommonOptions& common);
void add_offsets_command(CLI::App& app, CommonOptions& common);
void add_stats_command(CLI::App& app, CommonOptions& common);
// verify sets `exit_code` to kExitCorruption when it finds damage (the report is not an error).
void add_verify_command(CLI::App& app, CommonOptions& common, int& exit_code);
void add_dump_command(CLI::App& app, CommonOptions& common);
// The benchmarks issue fills this in (cli/bench_cmd.cc).
void add_bench_command(CLI::App& app);

}  // namespace ringlog::cli
