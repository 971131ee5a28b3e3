// Registration of each subcommand: every add_*_command adds one CLI11 subcommand to `app`,
// with its options bound to state it owns and a callback that runs the command (throwing
// CommandFailure on failure). main.cc calls them in order. Also the helpers those registrations
// share (common options, validators, examples): the only header that includes CLI11.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/common.h"

namespace ringlog::cli {

// Adds --data, --server, --json and --log-level to `app`, bound to `common`.
// `with_server` false for commands that only work on files (verify, dump).
void add_common_options(CLI::App& app, CommonOptions& common, bool with_server = true);

// A CLI11 validator for human sizes ("64k", "1GiB") and durations ("10ms").
CLI::Validator size_validator();
CLI::Validator duration_validator();

// Adds an "Example:" footer to a subcommand's --help.
void set_example(CLI::App& app, const std::string& example);

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
