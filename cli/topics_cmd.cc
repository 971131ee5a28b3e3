// ringlog topics create|list|describe|delete
#include <cstdio>

#include "cli/backend.h"
#include "cli/commands.h"
#include "cli/text.h"
#include "cli/units.h"

namespace ringlog::cli {
namespace {

struct TopicsOptions {
  std::string name;
  std::int32_t partitions = 1;
  std::string durability;
  std::string segment_size;
  std::optional<double> retention_hours;
  std::string retention_bytes;
  bool if_not_exists = false;
};

TopicConfig topic_config(const TopicsOptions& options, bool embedded) {
  TopicConfig config;
  config.partitions = options.partitions;
  bool overrides = !options.durability.empty() || !options.segment_size.empty() ||
                   options.retention_hours || !options.retention_bytes.empty();
  if (overrides && !embedded) {
    fail_usage(
        "--durability, --segment-size and --retention-* can only be set in embedded mode "
        "(the line protocol's create takes a partition count only); set server-wide "
        "defaults with `ringlog serve` instead");
  }
  if (!options.durability.empty())
    config.durability = value_or_fail(Durability::parse(options.durability), "--durability");
  if (!options.segment_size.empty())
    config.segment_bytes = value_or_fail(parse_size(options.segment_size), "--segment-size");
  if (options.retention_hours)
    config.retention_ms = static_cast<std::uint64_t>(*options.retention_hours * 3600e3);
  if (!options.retention_bytes.empty()) {
    config.retention_bytes = static_cast<std::int64_t>(
        value_or_fail(parse_size(options.retention_bytes), "--retention-bytes"));
  }
  return config;
}

void run_create(const CommonOptions& common, const TopicsOptions& options) {
  require_topic_name(options.name);
  if (options.partitions < 1) fail_usage("--partitions must be at least 1");
  auto backend = open_backend(common, Access::kWrite);
  Status s = backend->create_topic(options.name, topic_config(options, backend->embedded()));
  if (!s && !(options.if_not_exists && s.error().code() == Errc::kAlreadyExists))
    fail_with(s.error(), "create topic '" + options.name + "'");
  check(backend->close(), "close");
  if (common.json) {
    std::printf("{\"topic\":\"%s\",\"partitions\":%d,\"created\":%s}\n", options.name.c_str(),
                options.partitions, s ? "true" : "false");
  } else if (s) {
    std::printf("created topic %s with %d partition%s\n", options.name.c_str(), options.partitions,
                options.partitions == 1 ? "" : "s");
  }
}

void run_list(const CommonOptions& common) {
  auto backend = open_backend(common, Access::kRead);
  auto topics = value_or_fail(backend->list_topics(), "list topics");
  std::string out = common.json ? "[" : "";
  for (std::size_t i = 0; i < topics.size(); ++i) {
    if (common.json) {
      if (i > 0) out += ',';
      out += "{\"name\":";
      append_json_string(out, topics[i].name);
      out += ",\"partitions\":" + std::to_string(topics[i].partitions) + "}";
    } else {
      out += topics[i].name + "\t" + std::to_string(topics[i].partitions) + "\n";
    }
  }
  if (common.json) out += "]\n";
  std::fputs(out.c_str(), stdout);
  check(backend->close(), "close");
}

std::string describe_json(const TopicDescription& d) {
  std::string out = "{\"name\":";
  append_json_string(out, d.name);
  if (d.info) {
    out += ",\"durability\":\"" + d.info->durability.to_string() + "\"";
    out += ",\"segment_bytes\":" + std::to_string(d.info->segment_bytes);
    out += ",\"retention_ms\":" + std::to_string(d.info->retention_ms);
    out += ",\"retention_bytes\":" + std::to_string(d.info->retention_bytes);
  }
  out += ",\"partitions\":[";
  for (std::size_t i = 0; i < d.partitions.size(); ++i) {
    const PartitionSummary& p = d.partitions[i];
    if (i > 0) out += ',';
    out += "{\"partition\":" + std::to_string(p.partition) +
           ",\"log_start\":" + std::to_string(p.log_start) +
           ",\"high_watermark\":" + std::to_string(p.high_watermark);
    if (p.detail) {
      out += ",\"durable\":" + std::to_string(p.detail->durable) +
             ",\"log_end\":" + std::to_string(p.detail->log_end) +
             ",\"size_bytes\":" + std::to_string(p.detail->size_bytes) +
             ",\"segments\":" + std::to_string(p.detail->segments) + ",\"corruption\":";
      if (p.detail->corruption) {
        append_json_string(out, *p.detail->corruption);
      } else {
        out += "null";
      }
    }
    out += '}';
  }
  return out + "]}\n";
}

std::string describe_text(const TopicDescription& d) {
  std::string out = "topic " + d.name + "\n";
  if (d.info) {
    out += "  durability " + d.info->durability.to_string() + ", segments of " +
           format_size(d.info->segment_bytes) + ", retention " +
           format_duration(std::chrono::milliseconds(d.info->retention_ms)) +
           (d.info->retention_bytes >= 0
                ? " or " + format_size(static_cast<std::uint64_t>(d.info->retention_bytes))
                : std::string()) +
           "\n";
  }
  out += "partition\tlog_start\thigh_watermark";
  out += d.info ? "\tsize\tsegments\n" : "\n";
  for (const PartitionSummary& p : d.partitions) {
    out += std::to_string(p.partition) + "\t" + std::to_string(p.log_start) + "\t" +
           std::to_string(p.high_watermark);
    if (p.detail) {
      out += "\t" + format_size(p.detail->size_bytes) + "\t" + std::to_string(p.detail->segments);
      if (p.detail->corruption) out += "\tDAMAGED: " + *p.detail->corruption;
    }
    out += "\n";
  }
  return out;
}

void run_describe(const CommonOptions& common, const TopicsOptions& options) {
  require_topic_name(options.name);
  auto backend = open_backend(common, Access::kRead);
  auto description =
      value_or_fail(backend->describe_topic(options.name), "describe topic '" + options.name + "'");
  std::string out = common.json ? describe_json(description) : describe_text(description);
  std::fputs(out.c_str(), stdout);
  check(backend->close(), "close");
}

void run_delete(const CommonOptions& common, const TopicsOptions& options) {
  require_topic_name(options.name);
  auto backend = open_backend(common, Access::kWrite);
  check(backend->delete_topic(options.name), "delete topic '" + options.name + "'");
  check(backend->close(), "close");
  if (common.json) {
    std::printf("{\"topic\":\"%s\",\"deleted\":true}\n", options.name.c_str());
  } else {
    std::printf("deleted topic %s\n", options.name.c_str());
  }
}

}  // namespace

void add_topics_command(CLI::App& app, CommonOptions& common) {
  auto options = std::make_shared<TopicsOptions>();
  CLI::App* topics = app.add_subcommand("topics", "create, list, describe or delete topics");
  topics->require_subcommand(1);
  add_common_options(*topics, common);
  set_example(*topics,
              "  ringlog topics create orders --partitions 4\n"
              "  ringlog topics list --json\n"
              "  ringlog topics describe orders\n"
              "  ringlog topics delete orders\n");

  CLI::App* create = topics->add_subcommand("create", "create a topic");
  create->add_option("name", options->name, "topic name")->required();
  create->add_option("-n,--partitions", options->partitions, "partition count (default 1)");
  create->add_option("--durability", options->durability,
                     "always, interval=MS or never (embedded mode; default: the engine's)");
  create->add_option("--segment-size", options->segment_size, "segment file size, e.g. 256MiB")
      ->check(size_validator());
  create->add_option("--retention-hours", options->retention_hours, "delete older segments");
  create
      ->add_option("--retention-bytes", options->retention_bytes,
                   "keep at most this much per partition, e.g. 10GiB")
      ->check(size_validator());
  create->add_flag("--if-not-exists", options->if_not_exists, "succeed if the topic exists");
  add_common_options(*create, common);
  set_example(*create, "  ringlog topics create orders --partitions 4 --segment-size 256MiB\n");
  create->callback([options, &common] {
    apply_log_level(common);
    run_create(common, *options);
  });

  CLI::App* list = topics->add_subcommand("list", "list topics and their partition counts");
  add_common_options(*list, common);
  set_example(*list, "  ringlog topics list --server 127.0.0.1:8123\n");
  list->callback([&common] {
    apply_log_level(common);
    run_list(common);
  });

  CLI::App* describe = topics->add_subcommand("describe", "show a topic's partitions and offsets");
  describe->add_option("name", options->name, "topic name")->required();
  add_common_options(*describe, common);
  set_example(*describe, "  ringlog topics describe orders --json\n");
  describe->callback([options, &common] {
    apply_log_level(common);
    run_describe(common, *options);
  });

  CLI::App* remove = topics->add_subcommand("delete", "delete a topic and all its data");
  remove->add_option("name", options->name, "topic name")->required();
  add_common_options(*remove, common);
  set_example(*remove, "  ringlog topics delete orders\n");
  remove->callback([options, &common] {
    apply_log_level(common);
    run_delete(common, *options);
  });
}

}  // namespace ringlog::cli
