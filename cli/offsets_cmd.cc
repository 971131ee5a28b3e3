// ringlog offsets TOPIC: log start and high watermark of each partition, and with --group the
// group's committed offset and lag.
#include <cstdio>

#include "cli/backend.h"
#include "cli/commands.h"
#include "cli/text.h"

namespace ringlog::cli {
namespace {

struct OffsetsOptions {
  std::string topic;
  std::optional<std::int32_t> partition;
  std::string group;
};

struct Row {
  std::int32_t partition;
  std::int64_t log_start;
  std::int64_t high_watermark;
  std::optional<std::int64_t> committed;
};

std::string render(const std::vector<Row>& rows, const OffsetsOptions& options, bool json) {
  std::string out = json ? "{\"topic\":" : "partition\tlog_start\thigh_watermark";
  if (json) {
    append_json_string(out, options.topic);
    out += ",\"partitions\":[";
  } else {
    out += options.group.empty() ? "\n" : "\tcommitted\tlag\n";
  }
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    std::string committed = r.committed ? std::to_string(*r.committed) : (json ? "null" : "-");
    std::string lag = std::to_string(r.high_watermark - r.committed.value_or(r.log_start));
    if (json) {
      out += i > 0 ? "," : "";
      out += "{\"partition\":" + std::to_string(r.partition) +
             ",\"log_start\":" + std::to_string(r.log_start) +
             ",\"high_watermark\":" + std::to_string(r.high_watermark);
      if (!options.group.empty()) out += ",\"committed\":" + committed + ",\"lag\":" + lag;
      out += "}";
    } else {
      out += std::to_string(r.partition) + "\t" + std::to_string(r.log_start) + "\t" +
             std::to_string(r.high_watermark);
      out += options.group.empty() ? "\n" : "\t" + committed + "\t" + lag + "\n";
    }
  }
  return json ? out + "]}\n" : out;
}

void run_offsets(const CommonOptions& common, const OffsetsOptions& options) {
  require_topic_name(options.topic);
  if (!options.group.empty()) require_group_name(options.group);
  auto backend = open_backend(common, Access::kRead);
  std::vector<Row> rows;
  if (options.partition) {
    auto range = value_or_fail(backend->offsets(options.topic, *options.partition),
                               options.topic + "/" + std::to_string(*options.partition));
    rows.push_back({*options.partition, range.first, range.second, std::nullopt});
  } else {
    auto d = value_or_fail(backend->describe_topic(options.topic), "topic '" + options.topic + "'");
    for (const PartitionSummary& p : d.partitions)
      rows.push_back({p.partition, p.log_start, p.high_watermark, std::nullopt});
  }
  if (!options.group.empty()) {
    for (Row& r : rows) {
      r.committed = value_or_fail(backend->committed(options.group, options.topic, r.partition),
                                  "committed offset");
    }
  }
  std::fputs(render(rows, options, common.json).c_str(), stdout);
  check(backend->close(), "close");
}

}  // namespace

void add_offsets_command(CLI::App& app, CommonOptions& common) {
  auto options = std::make_shared<OffsetsOptions>();
  CLI::App* cmd = app.add_subcommand(
      "offsets", "show each partition's first offset and high watermark (and a group's lag)");
  cmd->add_option("topic", options->topic, "topic")->required();
  cmd->add_option("-p,--partition", options->partition, "only this partition");
  cmd->add_option("-g,--group", options->group, "also show this group's committed offset and lag");
  add_common_options(*cmd, common);
  set_example(*cmd, "  ringlog offsets events --group audit\n");
  cmd->callback([options, &common] {
    apply_log_level(common);
    run_offsets(common, *options);
  });
}

}  // namespace ringlog::cli
