// ringlog serve: the line-protocol server in front of an Engine on the data directory.
// SIGINT/SIGTERM stop it cleanly: the server finishes in-flight work, then the engine syncs,
// writes its checkpoint and clean-shutdown marker, and releases the directory.
#include <pthread.h>

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

struct ServeOptions {
  std::string listen = std::string(kDefaultListen);
  std::string durability = "always";
  std::string segment_size = "1GiB";
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
  if (o.retention_hours <= 0) fail_usage("--retention-hours must be positive");
  e.retention_ms = static_cast<std::uint64_t>(o.retention_hours * 3600e3);
  if (!o.retention_bytes.empty())
    e.retention_bytes =
        static_cast<std::int64_t>(size_or_usage(o.retention_bytes, "--retention-bytes"));
  e.auto_create_topics = !o.no_auto_create;
  if (o.default_partitions < 1) fail_usage("--default-partitions must be at least 1");
  e.default_partitions = o.default_partitions;
  return e;
}

protocol::ServerOptions server_options(const ServeOptions& o) {
  protocol::ServerOptions s;
  s.listen = o.listen;
  s.max_connections = o.max_connections;
  s.limits.max_message_bytes = size_or_usage(o.max_message_size, "--max-message-size");
  s.limits.max_batch_bytes = size_or_usage(o.max_request_size, "--max-request-size");
  s.limits.max_wait_ms = static_cast<std::uint32_t>(ms_or_usage(o.max_wait, "--max-wait"));
  s.idle_timeout_ms = static_cast<std::uint32_t>(ms_or_usage(o.idle_timeout, "--idle-timeout"));
  s.worker_threads = o.workers == 0 ? 1 : o.workers;
  s.auto_create_topics = !o.no_auto_create;
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

void run_serve(const CommonOptions& common, const ServeOptions& options) {
  EngineOptions eo = engine_options(common, options);
  protocol::ServerOptions so = server_options(options);
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
  if (!server) {
    (void)(*engine)->close();
    fail_with(server.error(), "listen on " + options.listen);
  }
  std::fprintf(stderr, "ringlog serve: listening on %s, data in %s\n", (*server)->address().c_str(),
               common.data_dir.c_str());
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
  CLI::App* cmd = app.add_subcommand("serve", "run the server (line protocol) on a data directory");
  cmd->add_option("--config", options->config_file,
                  "read settings from an INI or TOML file: keys are option names (listen = "
                  "\"0.0.0.0:8123\"), optionally under [serve]; the command line wins")
      ->check(CLI::ExistingFile);
  cmd->add_option("--data", common.data_dir, "data directory (default ./ringlog-data)");
  cmd->add_option("--listen", options->listen, "ADDR:PORT to listen on (default 127.0.0.1:8123)");
  cmd->add_option("--durability", options->durability,
                  "when appends are acknowledged: always (fsync, default), interval=MS or never");
  cmd->add_option("--segment-size", options->segment_size, "segment file size (default 1GiB)")
      ->check(size_validator());
  cmd->add_option("--retention-hours", options->retention_hours,
                  "delete segments older than this (default 168)");
  cmd->add_option("--retention-bytes", options->retention_bytes,
                  "keep at most this much per partition, e.g. 10GiB (default unlimited)")
      ->check(size_validator());
  cmd->add_option("--default-partitions", options->default_partitions,
                  "partitions of auto-created topics (default 1)");
  cmd->add_flag("--no-auto-create", options->no_auto_create,
                "appends to unknown topics fail instead of creating them");
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
              "  ringlog serve --config ringlog.toml   # e.g. listen = \"0.0.0.0:8123\"\n");
  cmd->preparse_callback([&common](std::size_t) { common.log_level = "info"; });
  cmd->callback([cmd, options, &common] {
    if (!options->config_file.empty()) apply_config_file(*cmd, options->config_file);
    apply_log_level(common);
    run_serve(common, *options);
  });
}

}  // namespace ringlog::cli
