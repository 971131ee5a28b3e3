// ringlog stats: the engine's counters (embedded) or the server's `stats` lines.
#include <cstdio>

#include "cli/backend.h"
#include "cli/commands.h"
#include "cli/text.h"

namespace ringlog::cli {
namespace {

// A decimal number JSON can carry as is: digits with at most one '.' between digits.
bool is_number(const std::string& s) {
  std::size_t dots = 0;
  for (char c : s) {
    if (c == '.') {
      ++dots;
    } else if (c < '0' || c > '9') {
      return false;
    }
  }
  return !s.empty() && dots <= 1 && s.front() != '.' && s.back() != '.' &&
         !(s.size() > 1 && s[0] == '0' && s[1] != '.');
}

void run_stats(const CommonOptions& common) {
  auto backend = open_backend(common, Access::kRead);
  auto stats = value_or_fail(backend->stats(), "stats");
  std::string out = common.json ? "{" : "";
  std::size_t width = 0;
  for (const auto& [name, value] : stats)
    width = std::max(width, name.size());
  for (std::size_t i = 0; i < stats.size(); ++i) {
    const auto& [name, value] = stats[i];
    if (common.json) {
      if (i > 0) out += ',';
      append_json_string(out, name);
      out += ':';
      if (is_number(value)) {
        out += value;
      } else {
        append_json_string(out, value);
      }
    } else {
      out += name + std::string(width + 2 - name.size(), ' ') + value + "\n";
    }
  }
  if (common.json) out += "}\n";
  std::fputs(out.c_str(), stdout);
  check(backend->close(), "close");
}

}  // namespace

void add_stats_command(CLI::App& app, CommonOptions& common) {
  CLI::App* cmd = app.add_subcommand("stats", "show the server's or the engine's counters");
  add_common_options(*cmd, common);
  set_example(*cmd, "  ringlog stats --server 127.0.0.1:8123\n  ringlog stats --json\n");
  cmd->callback([&common] {
    apply_log_level(common);
    run_stats(common);
  });
}

}  // namespace ringlog::cli
