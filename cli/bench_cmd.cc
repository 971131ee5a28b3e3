// ringlog bench WORKLOAD: the load generator (bench/driver/). Produces, consumes, or both at once
// against an embedded engine in a scratch directory or a running server, and reports throughput
// and latency percentiles (text, --json, --csv per second).
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "cli/units.h"

#ifdef RINGLOG_HAVE_BENCH_DRIVER
#include "bench/driver/driver.h"
#endif

namespace ringlog::cli {

#ifndef RINGLOG_HAVE_BENCH_DRIVER

void add_bench_command(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand("bench", "load generator and latency measurement");
  cmd->allow_extras();
  cmd->callback([] {
    throw CommandFailure(kExitError, "this build has no benchmark driver (bench/driver)");
  });
}

#else

namespace {

struct BenchCommandOptions {
  std::string workload = "produce";
  std::string server;
  std::string data_dir;
  std::string temp_dir = "/var/tmp";
  std::string topic = "bench";
  std::string message_size = "100";
  std::uint64_t messages = 1'000'000;
  std::string duration;
  unsigned producers = 1;
  unsigned consumers = 1;
  std::int32_t partitions = 1;
  std::string batch_size = "64KiB";
  std::string linger = "1ms";
  std::size_t in_flight = 64;
  double rate = 0;
  std::string fetch_size = "1MiB";
  std::string durability = "always";
  std::string segment_size = "1GiB";
  bool sync_at_end = false;
  bool json = false;
  std::string csv;
  bool no_progress = false;
  std::string log_level = "warn";
};

std::uint64_t size_or_usage(const std::string& text, const char* option) {
  auto size = parse_size(text);
  if (!size) fail_usage(std::string(option) + ": " + size.error().message());
  return *size;
}

bench::BenchOptions to_driver_options(const BenchCommandOptions& c, bool messages_given) {
  bench::BenchOptions o;
  if (c.workload == "produce") {
    o.workload = bench::Workload::kProduce;
  } else if (c.workload == "consume") {
    o.workload = bench::Workload::kConsume;
  } else if (c.workload == "e2e") {
    o.workload = bench::Workload::kE2e;
  } else {
    fail_usage("workload '" + c.workload + "': use produce, consume or e2e");
  }
  require_topic_name(c.topic);
  o.server = c.server;
  o.data_dir = c.data_dir;
  o.temp_root = c.temp_dir;
  o.topic = c.topic;
  o.message_bytes = size_or_usage(c.message_size, "--message-size");
  o.messages = c.messages;
  if (!c.duration.empty()) {
    auto d = parse_duration(c.duration, DurationUnit::kSeconds);
    if (!d) fail_usage("--duration: " + d.error().message());
    o.duration_ms = static_cast<std::uint64_t>(d->count() / 1000);
    if (!messages_given && o.workload != bench::Workload::kConsume) o.messages = 0;
  }
  o.producers = c.producers;
  o.consumers = c.consumers;
  o.partitions = c.partitions;
  o.batch_bytes = size_or_usage(c.batch_size, "--batch-size");
  auto linger = parse_duration(c.linger, DurationUnit::kMilliseconds);
  if (!linger) fail_usage("--linger: " + linger.error().message());
  o.linger_us = static_cast<std::uint32_t>(linger->count());
  o.in_flight = c.in_flight;
  o.rate = c.rate;
  o.fetch_bytes = static_cast<std::uint32_t>(size_or_usage(c.fetch_size, "--fetch-size"));
  auto durability = Durability::parse(c.durability);
  if (!durability) fail_usage("--durability: " + durability.error().message());
  o.durability = *durability;
  o.segment_bytes = size_or_usage(c.segment_size, "--segment-size");
  o.sync_at_end = c.sync_at_end;
  o.progress = !c.no_progress && !c.json && ::isatty(STDERR_FILENO) == 1;
  o.csv_path = c.csv;
  return o;
}

void run_bench_command(const BenchCommandOptions& c, bool messages_given) {
  CommonOptions common;
  common.log_level = c.log_level;
  apply_log_level(common);
  const bench::BenchOptions options = to_driver_options(c, messages_given);
  auto report = bench::run_bench(options, stderr);
  if (!report) fail_with(report.error(), "bench");
  const std::string text = c.json ? bench::format_json(*report) : bench::format_text(*report);
  std::fputs(text.c_str(), stdout);
  std::fflush(stdout);
  if (report->errors > 0) throw CommandFailure(kExitError, "");
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto o = std::make_shared<BenchCommandOptions>();
  CLI::App* cmd = app.add_subcommand("bench", "load generator: throughput and latency");
  cmd->add_option("workload", o->workload,
                  "produce (append as fast as allowed), consume (catch-up read of a filled topic) "
                  "or e2e (both at once: publish-to-delivery latency); default produce");
  cmd->add_option("--server", o->server,
                  "benchmark a running `ringlog serve` at ADDR:PORT instead of an embedded engine");
  cmd->add_option("--data", o->data_dir,
                  "embedded: data directory to use (default: a fresh one under --temp-dir, "
                  "deleted afterwards)");
  cmd->add_option("--temp-dir", o->temp_dir, "where the scratch data directory goes (/var/tmp)");
  cmd->add_option("--topic", o->topic, "topic (default bench; created if missing)");
  cmd->add_option("-s,--message-size", o->message_size, "bytes per message (default 100)")
      ->check(size_validator());
  auto* messages = cmd->add_option(
      "-n,--messages", o->messages,
      "messages in all (produce, e2e) or to read (consume; the topic is filled first if short); "
      "default 1000000, or unlimited with --duration");
  cmd->add_option("-d,--duration", o->duration, "stop after this long (e.g. 10s)")
      ->check(duration_validator());
  cmd->add_option("-p,--producers", o->producers, "producer threads/connections (default 1)");
  cmd->add_option("-c,--consumers", o->consumers, "consumer threads/connections (default 1)");
  cmd->add_option("--partitions", o->partitions, "partitions of the topic (default 1)");
  cmd->add_option("--batch-size", o->batch_size, "largest batch a producer sends (default 64KiB)")
      ->check(size_validator());
  cmd->add_option("--linger", o->linger,
                  "with --rate: longest a partial batch waits for more messages (default 1ms)")
      ->check(duration_validator());
  cmd->add_option("--in-flight", o->in_flight,
                  "unacknowledged batches allowed per producer (default 64)");
  cmd->add_option("--rate", o->rate,
                  "messages/s over all producers (produce, e2e) or all consumers (consume: each "
                  "fetch waits until the messages read so far are due, then reads up to "
                  "--fetch-size); default: as fast as possible");
  cmd->add_option("--fetch-size", o->fetch_size, "max bytes per consumer fetch (default 1MiB)")
      ->check(size_validator());
  cmd->add_option("--durability", o->durability,
                  "embedded: always, interval=MS or never (default always; a server has its own)");
  cmd->add_option("--segment-size", o->segment_size, "embedded: segment file size (default 1GiB)")
      ->check(size_validator());
  cmd->add_flag("--sync-at-end", o->sync_at_end,
                "embedded produce: end the timed run with a sync of everything written (as "
                "fio's end_fsync)");
  cmd->add_flag("--json", o->json, "print the report as one JSON object");
  cmd->add_option("--csv", o->csv, "write a per-second time series to this CSV file");
  cmd->add_flag("--no-progress", o->no_progress, "no live progress line (it shows on a terminal)");
  cmd->add_option("--log-level", o->log_level, "debug, info, warn (default), error or off");
  set_example(*cmd,
              "  ringlog bench produce -s 1KiB -n 2000000 -p 4 --durability always\n"
              "  ringlog bench consume --server 127.0.0.1:8123 -n 5000000 --json\n"
              "  ringlog bench consume --server 127.0.0.1:8123 -n 1000000 --rate 500000\n"
              "  ringlog bench e2e --rate 100000 -d 30s --csv e2e.csv\n");
  cmd->callback([o, messages] { run_bench_command(*o, messages->count() > 0); });
}

#endif  // RINGLOG_HAVE_BENCH_DRIVER

}  // namespace ringlog::cli
