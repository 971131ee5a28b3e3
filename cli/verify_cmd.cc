// ringlog verify [DIR]: offline check of every segment and index (see cli/verifier.h).
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstdio>

#include "cli/commands.h"
#include "cli/progress.h"
#include "cli/text.h"
#include "cli/units.h"
#include "cli/verifier.h"

namespace ringlog::cli {
namespace {

// Is an engine holding the directory's locks right now: the directory itself, or `@lock` (older
// binaries)? (Reading is safe either way, but the active segments' tails may then be in flight.)
bool locked(const std::string& path, int flags) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return false;
  bool busy = ::flock(fd, LOCK_SH | LOCK_NB) != 0;
  ::close(fd);
  return busy;
}

bool directory_in_use(const std::string& dir) {
  return locked(dir, O_RDONLY | O_DIRECTORY) || locked(dir + "/@lock", O_RDONLY);
}

std::string findings_json(const std::vector<Finding>& findings) {
  std::string out = "[";
  for (std::size_t i = 0; i < findings.size(); ++i) {
    if (i > 0) out += ',';
    out += "{\"file\":";
    append_json_string(out, findings[i].file);
    out += ",\"position\":" + std::to_string(findings[i].position) + ",\"problem\":";
    append_json_string(out, findings[i].problem);
    out += '}';
  }
  return out + "]";
}

void print_report(const VerifyReport& r, bool json, bool in_use, std::chrono::microseconds took) {
  if (json) {
    std::string out =
        "{\"clean\":" + std::string(r.clean() ? "true" : "false") +
        ",\"in_use\":" + (in_use ? "true" : "false") + ",\"topics\":" + std::to_string(r.topics) +
        ",\"partitions\":" + std::to_string(r.partitions) +
        ",\"segments\":" + std::to_string(r.segments) +
        ",\"batches\":" + std::to_string(r.batches) + ",\"records\":" + std::to_string(r.records) +
        ",\"bytes\":" + std::to_string(r.log_bytes) +
        ",\"offset_records\":" + std::to_string(r.offset_records) +
        ",\"damage\":" + findings_json(r.damage) + ",\"warnings\":" + findings_json(r.warnings) +
        "}\n";
    std::fputs(out.c_str(), stdout);
    return;
  }
  for (const Finding& f : r.damage)
    std::printf("DAMAGED %s at byte %llu: %s\n", f.file.c_str(),
                static_cast<unsigned long long>(f.position), f.problem.c_str());
  for (const Finding& f : r.warnings)
    std::printf("warning: %s at byte %llu: %s\n", f.file.c_str(),
                static_cast<unsigned long long>(f.position), f.problem.c_str());
  std::printf(
      "checked %llu topics, %llu partitions, %llu segments: %llu batches, %llu records, %s in "
      "%s: %s\n",
      static_cast<unsigned long long>(r.topics), static_cast<unsigned long long>(r.partitions),
      static_cast<unsigned long long>(r.segments), static_cast<unsigned long long>(r.batches),
      static_cast<unsigned long long>(r.records), format_size(r.log_bytes).c_str(),
      format_duration(took).c_str(),
      r.clean() ? "clean" : (std::to_string(r.damage.size()) + " damaged place(s) found").c_str());
}

int run_verify(const CommonOptions& common, const std::string& dir_arg) {
  const std::string dir = dir_arg.empty() ? common.data_dir : dir_arg;
  bool in_use = directory_in_use(dir);
  if (in_use && !common.json) {
    std::fprintf(stderr,
                 "note: a running ringlog holds %s; verifying it live (reading is safe, but the "
                 "newest batches may be in flight)\n",
                 dir.c_str());
  }
  auto start = std::chrono::steady_clock::now();
  Progress progress("verifying", 0);
  auto report = verify_data_dir(dir, [&](std::uint64_t done, std::uint64_t total) {
    progress.set_total(total);
    progress.update(done);
  });
  progress.finish();
  if (!report) fail_with(report.error(), "verify " + dir);
  auto took = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now() - start);
  print_report(*report, common.json, in_use, took);
  return report->clean() ? kExitOk : kExitCorruption;
}

}  // namespace

void add_verify_command(CLI::App& app, CommonOptions& common, int& exit_code) {
  auto dir = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand(
      "verify", "check every segment and index of a data directory offline (exit 3 on damage)");
  cmd->add_option("dir", *dir, "data directory (default: --data, ./ringlog-data)");
  cmd->add_option("--data", common.data_dir, "data directory when DIR is not given");
  add_common_options(*cmd, common, /*with_server=*/false);
  set_example(*cmd,
              "  ringlog verify ./ringlog-data && echo clean\n"
              "  ringlog verify /var/lib/ringlog --json | jq '.damage'\n");
  cmd->callback([dir, &common, &exit_code] {
    apply_log_level(common);
    exit_code = run_verify(common, *dir);
  });
}

}  // namespace ringlog::cli
