// ringlog consume TOPIC: prints a partition's records from an offset, checking every batch's
// CRC end to end; with --group it resumes from and commits the group's offset.
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <thread>

#include <ringlog/batch.h>

#include "cli/backend.h"
#include "cli/commands.h"
#include "cli/text.h"
#include "cli/units.h"

namespace ringlog::cli {
namespace {

struct ConsumeOptions {
  std::string topic;
  std::int32_t partition = 0;
  std::string from = "earliest";
  std::string group;
  std::optional<std::uint64_t> count;
  bool follow = false;
  std::string format = "text";
  std::string max_bytes = "1MiB";
};

enum class Format { kText, kJson, kRaw };

constexpr std::uint32_t kFollowWaitMs = 1000;
constexpr auto kEmbeddedPollInterval = std::chrono::milliseconds(100);
constexpr std::size_t kOutputFlushBytes = 1u << 20;
// Batches larger than this are refused as damaged (the engine's own limit is far below).
constexpr std::size_t kMaxBatchBytes = std::size_t{256} << 20;

volatile std::sig_atomic_t g_stop = 0;
void on_stop_signal(int) {
  g_stop = 1;
}

void install_stop_handler() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// "@1732400000000" (ms since the epoch), "@-10m" (that long ago), "@2026-11-24T05:00:00Z" (UTC).
std::int64_t parse_timestamp(std::string_view text) {
  if (all_digits(text)) return std::stoll(std::string(text));
  if (!text.empty() && text.front() == '-') {
    auto ago = parse_duration(text.substr(1), DurationUnit::kSeconds);
    if (ago) return now_ms() - ago->count() / 1000;
  }
  std::tm tm{};
  std::string s(text);
  const char* end = ::strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (end != nullptr && (*end == '\0' || (*end == 'Z' && end[1] == '\0')))
    return static_cast<std::int64_t>(::timegm(&tm)) * 1000;
  fail_usage("--from @" + s +
             " is not a time: use @MILLISECONDS since the epoch, @-DURATION (e.g. @-10m) or "
             "@YYYY-MM-DDTHH:MM:SSZ");
}

std::int64_t resolve_from(Backend& backend, const ConsumeOptions& options) {
  const std::string& from = options.from;
  if (from == "earliest" || from == "latest") {
    auto range = value_or_fail(backend.offsets(options.topic, options.partition),
                               options.topic + "/" + std::to_string(options.partition));
    return from == "earliest" ? range.first : range.second;
  }
  if (all_digits(from)) return std::stoll(from);
  if (!from.empty() && from.front() == '@') {
    std::int64_t ts = parse_timestamp(std::string_view(from).substr(1));
    return value_or_fail(backend.offset_for_timestamp(options.topic, options.partition, ts),
                         "find offset for timestamp");
  }
  fail_usage("--from '" + from + "' is not a position: use earliest, latest, an OFFSET or @TIME");
}

// Writes records in the chosen format to stdout, buffering up to kOutputFlushBytes.
class RecordPrinter {
 public:
  RecordPrinter(Format format, std::int32_t partition) : format_(format), partition_(partition) {}

  void print(const RecordView& record) {
    static constexpr std::span<const std::byte> kEmpty;
    switch (format_) {
      case Format::kText:
        out_ += as_text(record.value.value_or(kEmpty));
        out_ += '\n';
        break;
      case Format::kRaw:
        out_ += as_text(record.value.value_or(kEmpty));
        break;
      case Format::kJson:
        out_ += "{\"offset\":" + std::to_string(record.offset) +
                ",\"timestamp\":" + std::to_string(record.timestamp_ms) + ",";
        append_json_bytes_field(out_, "key", record.key);
        out_ += ',';
        append_json_bytes_field(out_, "value", record.value);
        out_ += ",\"partition\":" + std::to_string(partition_) + "}\n";
        break;
    }
    if (out_.size() >= kOutputFlushBytes) flush();
  }

  // A reader that went away (`ringlog consume t | head`) ends the command quietly; with --group
  // nothing more is committed than what was written before.
  void flush() {
    if (!out_.empty()) std::fwrite(out_.data(), 1, out_.size(), stdout);
    out_.clear();
    if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
      if (errno == EPIPE) throw CommandFailure(kExitOk, "");
      fail_with(error_from_errno(errno, "write to standard output"));
    }
  }

 private:
  Format format_;
  std::int32_t partition_;
  std::string out_;
};

[[noreturn]] void damaged(const ConsumeOptions& options, std::int64_t offset,
                          std::string_view why) {
  throw CommandFailure(kExitCorruption,
                       "the batch at offset " + std::to_string(offset) + " of " + options.topic +
                           "/" + std::to_string(options.partition) + " is damaged (" +
                           std::string(why) +
                           "): the stored data fails its check; run `ringlog verify` on the data "
                           "directory");
}

// Prints the records at or after `offset` in `bytes` (whole batches, maybe a cut tail) up to
// `budget` records; returns the offset to continue from.
std::int64_t print_batches(std::span<const std::byte> bytes, std::int64_t offset,
                           std::uint64_t& budget, RecordPrinter& printer,
                           const ConsumeOptions& options) {
  bool first = true;
  ParseOptions parse;
  parse.max_batch_bytes = kMaxBatchBytes;
  while (!bytes.empty() && budget > 0) {
    ParsedBatch parsed = parse_batch(bytes, parse);
    if (parsed.status == ParseStatus::kTruncated || parsed.status == ParseStatus::kShortHeader) {
      if (first) damaged(options, offset, "the first batch is cut short");
      break;  // a cut tail: fetch again from here
    }
    if (parsed.status == ParseStatus::kEndOfData || parsed.status == ParseStatus::kZeroFilled)
      break;
    if (!parsed.ok()) damaged(options, offset, parse_status_name(parsed.status));
    const BatchView& batch = parsed.batch;
    if (batch.is_compressed()) {
      throw CommandFailure(kExitError, "the batch at offset " +
                                           std::to_string(batch.base_offset()) +
                                           " is compressed; ringlog consume prints uncompressed "
                                           "batches only");
    }
    RecordRange records = batch.records();
    for (const RecordView& record : records) {
      if (record.offset < offset) continue;
      printer.print(record);
      offset = record.offset + 1;
      if (--budget == 0) return offset;
    }
    if (records.status() != ParseStatus::kOk)
      damaged(options, batch.base_offset(), parse_status_name(records.status()));
    offset = std::max(offset, batch.next_offset());
    bytes = bytes.subspan(parsed.bytes);
    first = false;
  }
  return offset;
}

Format parse_format(const std::string& name) {
  if (name == "text") return Format::kText;
  if (name == "json") return Format::kJson;
  if (name == "raw") return Format::kRaw;
  fail_usage("--format '" + name + "' is not a format: use text, json or raw");
}

std::int64_t start_offset(Backend& backend, const ConsumeOptions& options) {
  if (!options.group.empty()) {
    auto committed = value_or_fail(
        backend.committed(options.group, options.topic, options.partition), "committed offset");
    if (committed) return *committed;
  }
  return resolve_from(backend, options);
}

// Embedded mode knows when recovery found damage: the readable log stops before it. Reaching that
// point is not a clean end, so say so (exit 3) instead of exiting 0 as if the log ended there.
void report_damaged_partition(Backend& backend, const ConsumeOptions& options,
                              std::int64_t offset) {
  if (!backend.embedded() || options.count) return;
  auto d = backend.describe_topic(options.topic);
  if (!d) return;
  for (const PartitionSummary& p : d->partitions) {
    if (p.partition != options.partition || !p.detail || !p.detail->corruption) continue;
    if (offset < p.high_watermark) return;
    throw CommandFailure(kExitCorruption,
                         options.topic + "/" + std::to_string(p.partition) +
                             " is damaged after offset " + std::to_string(p.high_watermark) + ": " +
                             *p.detail->corruption + " (run `ringlog verify` for a full report)");
  }
}

void run_consume(const CommonOptions& common, ConsumeOptions options) {
  require_topic_name(options.topic);
  if (!options.group.empty()) require_group_name(options.group);
  if (options.partition < 0) fail_usage("--partition must be 0 or more");
  if (common.json) options.format = "json";
  Format format = parse_format(options.format);
  auto max_bytes = value_or_fail(parse_size(options.max_bytes), "--max-bytes");
  auto backend = open_backend(common, Access::kRead);
  if (options.follow) {
    install_stop_handler();
    if (backend->embedded()) {
      std::fprintf(stderr,
                   "note: in embedded mode this command holds %s, so nothing else can append "
                   "while it follows; use --server ADDR:PORT to follow a running server\n",
                   common.data_dir.c_str());
    }
  }
  const std::string where = options.topic + "/" + std::to_string(options.partition);
  std::int64_t offset = start_offset(*backend, options);
  std::int64_t committed = offset;
  std::uint64_t budget = options.count.value_or(UINT64_MAX);
  RecordPrinter printer(format, options.partition);
  while (budget > 0 && g_stop == 0) {
    std::uint32_t wait_ms = options.follow ? kFollowWaitMs : 0;
    auto fetched = backend->fetch(options.topic, options.partition, offset,
                                  static_cast<std::uint32_t>(max_bytes), wait_ms);
    if (!fetched && g_stop != 0) break;
    if (!fetched)
      fail_with(fetched.error(), "fetch " + where + " at offset " + std::to_string(offset));
    if (fetched->bytes.empty()) {
      if (!options.follow) break;
      if (backend->embedded()) std::this_thread::sleep_for(kEmbeddedPollInterval);
      continue;
    }
    std::int64_t next = print_batches(fetched->bytes, offset, budget, printer, options);
    if (next == offset) damaged(options, offset, "no progress past this offset");
    offset = next;
    printer.flush();
    if (!options.group.empty() && offset != committed) {
      check(backend->commit(options.group, options.topic, options.partition, offset), "commit");
      committed = offset;
    }
    if (!options.follow && offset >= fetched->high_watermark) break;
  }
  printer.flush();
  report_damaged_partition(*backend, options, offset);
  check(backend->close(), "close");
}

}  // namespace

void add_consume_command(CLI::App& app, CommonOptions& common) {
  auto options = std::make_shared<ConsumeOptions>();
  CLI::App* cmd = app.add_subcommand("consume", "print the messages of a topic partition");
  cmd->add_option("topic", options->topic, "topic to read")->required();
  cmd->add_option("-p,--partition", options->partition, "partition (default 0)");
  cmd->add_option("--from", options->from,
                  "where to start: earliest (default), latest, an OFFSET, or @TIME "
                  "(@MILLISECONDS, @-10m, @2026-11-24T05:00:00Z)");
  cmd->add_option("-g,--group", options->group,
                  "consumer group: start from its committed offset (--from if none) and commit "
                  "what was printed");
  cmd->add_option("-n,--count", options->count, "stop after N messages");
  cmd->add_flag("-f,--follow", options->follow,
                "keep waiting for new messages (Ctrl-C to stop) instead of stopping at the end");
  cmd->add_option("--format", options->format,
                  "text: each value and a newline (default); json: one object per line; "
                  "raw: values only")
      ->check(CLI::IsMember({"text", "json", "raw"}));
  cmd->add_option("--max-bytes", options->max_bytes, "bytes per fetch (default 1MiB)")
      ->check(size_validator());
  add_common_options(*cmd, common);
  set_example(*cmd,
              "  ringlog consume events --from earliest > events.txt\n"
              "  ringlog consume events --group audit --follow --server 127.0.0.1:8123\n"
              "  ringlog consume events --from @-10m --format json | jq .value\n");
  cmd->callback([options, &common] {
    apply_log_level(common);
    run_consume(common, *options);
  });
}

}  // namespace ringlog::cli
