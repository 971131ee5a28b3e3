// ringlog serve: the server (line protocol, and Kafka's wire protocol on a second listener) in
// front of an Engine on the data directory.
// SIGINT/SIGTERM stop it cleanly: the server finishes in-flight work, then the engine syncs,
// writes its checkpoint and clean-shutdown marker, and releases the directory.
#include <pthread.h>
#include <sys/resource.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <thread>

#include "cli/backend.h"
#include "cli/commands.h"
#include "cli/units.h"
#include "io/log.h"
#include "protocol/server.h"

namespace ringlog::cli {
namespace {

constexpr std::string_view kDefaultKafkaListen = "127.0.0.1:9092";

struct ServeOptions {
  std::string listen = std::string(kDefaultListen);
  std::string durability = "always";
  std::string segment_size = "1GiB";
  std::string preallocation_budget = "1GiB";
  std::size_t max_open_files = 1000;
  double retention_hours = 168;
  std::string retention_bytes;
  std::size_t max_connections = 1024;
  std::string max_message_size = "1MiB";
  std::string max_request_size = "8MiB";
  std::string max_wait = "60s";
  std::string idle_timeout = "5m";
  unsigned workers = 2;
  bool no_auto_create = false;
  std::int32_t default_partitions = 1;
  std::string kafka_listen = std::string(kDefaultKafkaListen);
  std::string kafka_advertise;
  std::string kafka_max_frame = "100MiB";
  std::string request_budget = "256MiB";
  std::string kafka_empty_group_expiration = "10m";
  std::string kafka_group_initial_delay = "1s";
  std::string kafka_producer_id_expiration = "1d";
  std::size_t kafka_max_producer_states = 100'000;
  std::string offsets_retention = "7d";
  std::string min_free_space;  // "": the engine's default (the smaller of 5GiB and 5%)
  std::uint32_t max_topics = EngineOptions{}.max_topics;
  std::uint32_t max_partitions = EngineOptions{}.max_partitions;
  std::string config_file;
};

// Applies the settings of a CLI11 config file (INI or TOML) to the options of `cmd` that were
// not given on the command line. (CLI11 2.1 reads config files for the top-level app only.)
void apply_config_file(CLI::App& cmd, const std::string& path) {
  std::vector<CLI::ConfigItem> items;
  try {
    items = CLI::ConfigTOML().from_file(path);
  } catch (const CLI::Error& e) {
    fail_usage("config file " + path + ": " + e.what());
  }
  for (const CLI::ConfigItem& item : items) {
    if (item.name == "++" || item.name == "--") continue;  // section markers
    bool ours = item.parents.empty() || (item.parents.size() == 1 && item.parents[0] == "serve");
    CLI::Option* opt = nullptr;
    try {
      opt = ours ? cmd.get_option("--" + item.name) : nullptr;
    } catch (const CLI::OptionNotFound&) {
    }
    if (opt == nullptr || item.name == "config") {
      fail_usage("config file " + path + ": unknown setting '" + item.fullname() +
                 "' (see `ringlog serve --help` for the names)");
    }
    if (opt->count() > 0) continue;  // the command line wins
    try {
      for (const std::string& value : item.inputs)
        opt->add_result(value);
      opt->run_callback();
    } catch (const CLI::Error& e) {
      fail_usage("config file " + path + ": " + item.name + ": " + e.what());
    }
  }
}

std::uint64_t size_or_usage(const std::string& text, const char* option) {
  auto size = parse_size(text);
  if (!size) fail_usage(std::string(option) + ": " + size.error().message());
  return *size;
}

std::uint64_t ms_or_usage(const std::string& text, const char* option) {
  auto d = parse_duration(text, DurationUnit::kMilliseconds);
  if (!d) fail_usage(std::string(option) + ": " + d.error().message());
  return static_cast<std::uint64_t>(d->count() / 1000);
}

EngineOptions engine_options(const CommonOptions& common, const ServeOptions& o) {
  EngineOptions e = embedded_engine_options(common.data_dir);
  auto durability = Durability::parse(o.durability);
  if (!durability) fail_usage("--durability: " + durability.error().message());
  e.durability = *durability;
  e.segment_bytes = size_or_usage(o.segment_size, "--segment-size");
  e.preallocation_budget = size_or_usage(o.preallocation_budget, "--preallocation-budget");
  if (o.max_open_files < 16) fail_usage("--max-open-files must be at least 16");
  e.max_open_files = o.max_open_files;
  if (o.retention_hours <= 0) fail_usage("--retention-hours must be positive");
  e.retention_ms = static_cast<std::uint64_t>(o.retention_hours * 3600e3);
  if (!o.retention_bytes.empty())
    e.retention_bytes =
        static_cast<std::int64_t>(size_or_usage(o.retention_bytes, "--retention-bytes"));
  e.auto_create_topics = !o.no_auto_create;
  if (o.default_partitions < 1) fail_usage("--default-partitions must be at least 1");
  e.default_partitions = o.default_partitions;
  e.offsets_retention_ms = ms_or_usage(o.offsets_retention, "--offsets-retention");
  if (e.offsets_retention_ms == 0) fail_usage("--offsets-retention must be at least 1ms");
  if (!o.min_free_space.empty()) {
    auto reserve = parse_free_space(o.min_free_space);
    if (!reserve) fail_usage("--min-free-space: " + reserve.error().message());
    e.min_free_space = reserve->bytes;
    e.min_free_space_percent = reserve->percent;
  }
  if (o.max_topics < 1) fail_usage("--max-topics must be at least 1");
  if (o.max_partitions < 1) fail_usage("--max-partitions must be at least 1");
  e.max_topics = o.max_topics;
  e.max_partitions = o.max_partitions;
  return e;
}

protocol::ServerOptions server_options(const ServeOptions& o) {
  protocol::ServerOptions s;
  s.listen = o.listen;
  s.kafka_listen = o.kafka_listen == "off" ? "" : o.kafka_listen;
  s.kafka_advertise = o.kafka_advertise;
  s.kafka_max_frame_bytes = size_or_usage(o.kafka_max_frame, "--kafka-max-frame");
  if (s.kafka_max_frame_bytes < 64 || s.kafka_max_frame_bytes > 0x7fffffff) {
    fail_usage("--kafka-max-frame must be between 64B and 2GiB - 1");
  }
  s.max_request_bytes = size_or_usage(o.request_budget, "--request-budget");

  s.kafka_empty_group_expiration_ms = static_cast<std::int64_t>(
      ms_or_usage(o.kafka_empty_group_expiration, "--kafka-empty-group-expiration"));
  s.kafka_producer_id_expiration_ms = static_cast<std::int64_t>(
      ms_or_usage(o.kafka_producer_id_expiration, "--kafka-producer-id-expiration"));
  const std::uint64_t initial_delay =
      ms_or_usage(o.kafka_group_initial_delay, "--kafka-group-initial-delay");
  if (initial_delay > 300'000) fail_usage("--kafka-group-initial-delay must be at most 5m");
  s.kafka_group_initial_delay_ms = static_cast<std::uint32_t>(initial_delay);
  if (s.kafka_empty_group_expiration_ms == 0 || s.kafka_producer_id_expiration_ms == 0) {
    fail_usage(
        "--kafka-empty-group-expiration and --kafka-producer-id-expiration must be at "
        "least 1ms");
  }
  if (o.kafka_max_producer_states < 1) fail_usage("--kafka-max-producer-states must be at least 1");
  s.kafka_max_producer_states = o.kafka_max_producer_states;
  s.default_partitions = o.default_partitions;
  s.max_connections = o.max_connections;
  s.limits.max_message_bytes = size_or_usage(o.max_message_size, "--max-message-size");
  s.limits.max_batch_bytes = size_or_usage(o.max_request_size, "--max-request-size");
  s.limits.max_wait_ms = static_cast<std::uint32_t>(ms_or_usage(o.max_wait, "--max-wait"));
  s.idle_timeout_ms = static_cast<std::uint32_t>(ms_or_usage(o.idle_timeout, "--idle-timeout"));
  s.worker_threads = o.workers == 0 ? 1 : o.workers;
  s.auto_create_topics = !o.no_auto_create;
  const std::size_t largest_line_request =
      s.limits.max_line_bytes + std::max(s.limits.max_message_bytes, s.limits.max_batch_bytes) + 2;
  if (s.max_request_bytes < std::max(s.kafka_max_frame_bytes + 4, largest_line_request)) {
    fail_usage(
        "--request-budget must hold the largest request: --kafka-max-frame + 4 bytes, and "
        "a line request with the larger of --max-message-size and --max-request-size");
  }
  return s;
}

// Blocks SIGINT and SIGTERM in this thread and every thread it starts afterwards, so that only
// the waiter thread (sigwait) receives them.
sigset_t block_stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

// The descriptors the server may need: segment files (--max-open-files), connections
// (--max-connections), and some for indexes, listeners, the io_uring and the log. Raises the soft
// RLIMIT_NOFILE to that (within the hard limit), and warns when the hard limit is lower.
void ensure_descriptor_limit(const EngineOptions& eo, const protocol::ServerOptions& so) {
  const rlim_t needed = static_cast<rlim_t>(eo.max_open_files + so.max_connections + 128);
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= needed) return;
  rlimit raised = limit;
  raised.rlim_cur = limit.rlim_max == RLIM_INFINITY ? needed : std::min(needed, limit.rlim_max);
  if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  if (limit.rlim_cur < needed)
    RINGLOG_WARN(
        "serve: the descriptor limit is %llu, below the %llu that --max-open-files (%zu) and "
        "--max-connections (%zu) may need: raise it (ulimit -n) or lower them",
        static_cast<unsigned long long>(limit.rlim_cur), static_cast<unsigned long long>(needed),
        eo.max_open_files, so.max_connections);
}

void run_serve(const CommonOptions& common, const ServeOptions& options, bool kafka_default) {
  EngineOptions eo = engine_options(common, options);
  protocol::ServerOptions so = server_options(options);
  ensure_descriptor_limit(eo, so);
  sigset_t signals = block_stop_signals();
  RINGLOG_INFO("serve: opening %s (durability %s, segments of %s)", common.data_dir.c_str(),
               eo.durability.to_string().c_str(), format_size(eo.segment_bytes).c_str());
  auto engine = Engine::open(eo);
  if (!engine) {
    if (engine.error().code() == Errc::kBusy) {
      throw CommandFailure(kExitError, "data directory '" + common.data_dir +
                                           "' is in use by another ringlog process: stop it, or "
                                           "serve another directory with --data DIR");
    }
    fail_with(engine.error(), "open " + common.data_dir);
  }
  auto server = protocol::Server::create(**engine, so);
  if (!server && kafka_default) {
    // The default Kafka port is taken (a Kafka broker, another ringlog): serve without it rather
    // than not at all. An explicit --kafka-listen that cannot be bound is an error.
    std::fprintf(stderr,
                 "ringlog serve: warning: cannot listen for Kafka on %s (%s): Kafka listener "
                 "off (choose another with --kafka-listen)\n",
                 so.kafka_listen.c_str(), server.error().to_string().c_str());
    so.kafka_listen.clear();
    server = protocol::Server::create(**engine, so);
  }
  if (!server) {
    (void)(*engine)->close();
    fail_with(server.error(), "listen on " + options.listen +
                                  (so.kafka_listen.empty() ? "" : " and " + so.kafka_listen));
  }
  // Scripts and tests read the line address from the text between "listening on " and ",".
  std::string kafka = "Kafka off";
  if (!(*server)->kafka_address().empty()) {
    kafka = "Kafka on " + (*server)->kafka_address() + " (advertised as " +
            (*server)->kafka_advertised() + ")";
  }
  std::fprintf(stderr, "ringlog serve: listening on %s, %s, data in %s\n",
               (*server)->address().c_str(), kafka.c_str(), common.data_dir.c_str());
  protocol::Server* raw = server->get();
  std::thread waiter([&signals, raw] {
    int sig = 0;
    sigwait(&signals, &sig);
    RINGLOG_INFO("serve: %s received, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    raw->stop();
  });
  Status ran = (*server)->run();
  pthread_kill(waiter.native_handle(), SIGTERM);  // wakes the waiter if run() ended by itself
  waiter.join();
  server->reset();
  Status closed = (*engine)->close();
  if (!ran) fail_with(ran.error(), "server");
  check(closed, "close the engine");
  RINGLOG_INFO("serve: stopped cleanly");
}

}  // namespace

void add_serve_command(CLI::App& app, CommonOptions& common) {
  auto options = std::make_shared<ServeOptions>();
  CLI::App* cmd =
      app.add_subcommand("serve", "run the server (line protocol and Kafka) on a data directory");
  cmd->add_option("--config", options->config_file,
                  "read settings from an INI or TOML file: keys are option names (listen = "
                  "\"0.0.0.0:8123\"), optionally under [serve]; the command line wins")
      ->check(CLI::ExistingFile);
  cmd->add_option("--data", common.data_dir, "data directory (default ./ringlog-data)");
  cmd->add_option("--listen", options->listen, "ADDR:PORT to listen on (default 127.0.0.1:8123)");
  CLI::Option* kafka_listen = cmd->add_option(
      "--kafka-listen", options->kafka_listen,
      "ADDR:PORT for Kafka clients (default 127.0.0.1:9092, skipped with a warning if taken); "
      "off: no Kafka listener");
  cmd->add_option("--kafka-advertise", options->kafka_advertise,
                  "HOST:PORT Kafka clients are told to connect to (default: the Kafka listen "
                  "address, or this machine's hostname when listening on 0.0.0.0)");
  cmd->add_option("--kafka-max-frame", options->kafka_max_frame,
                  "largest Kafka request accepted (100MiB); larger ones close the connection")
      ->check(size_validator());
  cmd->add_option("--request-budget", options->request_budget,
                  "requests above 64KiB (Kafka frames, line bodies) in the server at once, all "
                  "connections together (256MiB; like Kafka's queued.max.request.bytes): "
                  "beyond it, reading waits")
      ->check(size_validator());
  cmd->add_option("--kafka-empty-group-expiration", options->kafka_empty_group_expiration,
                  "forget a consumer group Empty this long (10m; its offsets are kept, see "
                  "--offsets-retention)")
      ->check(duration_validator());
  cmd->add_option("--kafka-group-initial-delay", options->kafka_group_initial_delay,
                  "how long a new consumer group waits for more members before its first "
                  "rebalance completes (1s; Kafka's group.initial.rebalance.delay.ms; 0: none)")
      ->check(duration_validator());
  cmd->add_option("--kafka-producer-id-expiration", options->kafka_producer_id_expiration,
                  "forget an idempotent producer's state on a partition this long after its last "
                  "write (1d; Kafka's producer.id.expiration.ms)")
      ->check(duration_validator());
  cmd->add_option("--kafka-max-producer-states", options->kafka_max_producer_states,
                  "idempotent producer states kept, one per producer and partition (100000): "
                  "beyond, the least recently written is forgotten");
  cmd->add_option("--durability", options->durability,
                  "when appends are acknowledged: always (fsync, default), interval=MS or never");
  cmd->add_option("--segment-size", options->segment_size, "segment file size (default 1GiB)")
      ->check(size_validator());
  cmd->add_option("--preallocation-budget", options->preallocation_budget,
                  "disk reserved ahead of all partitions' write positions together, in steps "
                  "of 64KiB to 16MiB per partition (default 1GiB; 0: none)");
  cmd->add_option("--max-open-files", options->max_open_files,
                  "segment files kept open, least recently used closed beyond it, whatever the "
                  "partition count (default 1000)");
  cmd->add_option("--retention-hours", options->retention_hours,
                  "delete segments older than this (default 168)");
  cmd->add_option("--retention-bytes", options->retention_bytes,
                  "keep at most this much per partition, e.g. 10GiB (default unlimited)")
      ->check(size_validator());
  cmd->add_option("--offsets-retention", options->offsets_retention,
                  "consumer group offsets expire after the group had no commit and no members "
                  "this long (7d; Kafka's offsets.retention.minutes)")
      ->check(duration_validator());
  cmd->add_option("--default-partitions", options->default_partitions,
                  "partitions of auto-created topics, by either protocol (default 1)");
  cmd->add_flag("--no-auto-create", options->no_auto_create,
                "appends (and Kafka Metadata requests) to unknown topics fail instead of "
                "creating them");
  cmd->add_option("--min-free-space", options->min_free_space,
                  "refuse appends and topic creation (507 / KAFKA_STORAGE_ERROR) while the data "
                  "directory's file system has less free: a size (512MiB) or a percentage (5%); "
                  "default the smaller of 5GiB and 5%; 0 = no guard")
      ->check([](const std::string& text) {
        auto r = parse_free_space(text);
        return r ? std::string() : r.error().message();
      });
  cmd->add_option(
      "--max-topics", options->max_topics,
      "most topics on this server (2000): creating more fails (403 / POLICY_VIOLATION)");
  cmd->add_option("--max-partitions", options->max_partitions,
                  "most partitions of all topics together (20000): creating more fails");
  cmd->add_option("--max-connections", options->max_connections, "default 1024");
  cmd->add_option("--max-message-size", options->max_message_size, "largest put body (1MiB)")
      ->check(size_validator());
  cmd->add_option("--max-request-size", options->max_request_size, "largest putb body (8MiB)")
      ->check(size_validator());
  cmd->add_option("--max-wait", options->max_wait, "cap on a long poll's wait_ms (60s)")
      ->check(duration_validator());
  cmd->add_option("--idle-timeout", options->idle_timeout,
                  "close connections idle this long (5m; 0 = never)")
      ->check(duration_validator());
  cmd->add_option("--workers", options->workers, "threads for blocking engine calls (2)");
  cmd->add_option("--log-level", common.log_level, "debug, info (default), warn, error or off");
  set_example(*cmd,
              "  ringlog serve --data /var/lib/ringlog --listen 0.0.0.0:8123 "
              "--durability interval=100\n"
              "  ringlog serve --kafka-listen 0.0.0.0:9092 --kafka-advertise broker1.lan:9092\n"
              "  ringlog serve --config ringlog.toml   # e.g. listen = \"0.0.0.0:8123\"\n");
  cmd->preparse_callback([&common](std::size_t) { common.log_level = "info"; });
  cmd->callback([cmd, options, &common, kafka_listen] {
    if (!options->config_file.empty()) apply_config_file(*cmd, options->config_file);
    apply_log_level(common);
    run_serve(common, *options, kafka_listen->count() == 0);
  });
}

}  // namespace ringlog::cli
