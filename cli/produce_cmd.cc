// ringlog produce TOPIC: messages from standard input (or --file), one per line or NUL-separated,
// packed into RecordBatches and appended with pipelining.
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

#include <ringlog/batch.h>

#include "cli/backend.h"
#include "cli/commands.h"
#include "cli/progress.h"
#include "cli/text.h"
#include "cli/units.h"

namespace ringlog::cli {
namespace {

struct ProduceOptions {
  std::string topic;
  std::int32_t partition = 0;
  std::optional<std::string> key;
  std::optional<std::string> key_separator;
  std::string file;
  bool null_separated = false;
  std::string batch_size = "1MiB";
  std::string linger = "5ms";
};

// Worst-case bytes a record adds to a batch beyond its key and value (varints and attributes).
constexpr std::size_t kRecordOverheadBytes = 32;
// Inputs at least this large show a progress bar (on a terminal).
constexpr std::uint64_t kProgressMinBytes = 8ull << 20;
constexpr std::size_t kReadChunkBytes = 1u << 20;

using Clock = std::chrono::steady_clock;

// Packs messages into batches of at most `batch_bytes` and hands each full batch to the backend.
class Batcher {
 public:
  Batcher(Backend& backend, const ProduceOptions& options, std::size_t batch_bytes)
      : backend_(backend), options_(options), batch_bytes_(batch_bytes) {}

  void add(std::span<const std::byte> message, std::uint64_t line) {
    std::optional<std::span<const std::byte>> key;
    std::span<const std::byte> value = message;
    if (options_.key) {
      key = as_bytes(*options_.key);
    } else if (options_.key_separator) {
      std::string_view text = as_text(message);
      std::size_t at = text.find(*options_.key_separator);
      if (at == std::string_view::npos) {
        throw CommandFailure(kExitError, "message " + std::to_string(line) +
                                             " has no key separator '" + *options_.key_separator +
                                             "': write it as KEY" + *options_.key_separator +
                                             "VALUE, or drop --key-separator");
      }
      key = message.first(at);
      value = message.subspan(at + options_.key_separator->size());
    }
    std::size_t record = value.size() + (key ? key->size() : 0) + kRecordOverheadBytes;
    if (kBatchHeaderBytes + record > batch_bytes_) {
      throw CommandFailure(kExitError, "message " + std::to_string(line) + " is " +
                                           format_size(message.size()) +
                                           ": larger than a batch may be (--batch-size " +
                                           format_size(batch_bytes_) + ")");
    }
    if (builder_.record_count() > 0 && builder_.size_bytes() + record > batch_bytes_) flush();
    if (builder_.record_count() == 0) first_added_ = Clock::now();
    builder_.add(key, value);
    ++count_;
    bytes_ += message.size();
  }

  void flush() {
    if (builder_.record_count() == 0) return;
    check(backend_.submit_append(options_.topic, options_.partition, builder_.finish()),
          "append to " + options_.topic + "/" + std::to_string(options_.partition));
    builder_.reset();
  }

  bool has_records() const { return builder_.record_count() > 0; }
  Clock::time_point first_added() const { return first_added_; }
  std::uint64_t count() const { return count_; }
  std::uint64_t bytes() const { return bytes_; }

 private:
  Backend& backend_;
  const ProduceOptions& options_;
  std::size_t batch_bytes_;
  BatchBuilder builder_{BatchOptions{}, 64 << 10};
  Clock::time_point first_added_;
  std::uint64_t count_ = 0;
  std::uint64_t bytes_ = 0;
};

// Splits a byte stream at a separator; a last message without a separator still counts.
class Splitter {
 public:
  explicit Splitter(char separator) : separator_(separator) {}

  template <typename Emit>
  void feed(std::span<const std::byte> chunk, Emit&& emit) {
    const char* data = reinterpret_cast<const char*>(chunk.data());
    std::size_t size = chunk.size();
    std::size_t at = 0;
    while (at < size) {
      const void* hit = std::memchr(data + at, separator_, size - at);
      if (hit == nullptr) break;
      std::size_t end = static_cast<std::size_t>(static_cast<const char*>(hit) - data);
      if (pending_.empty()) {
        emit(chunk.subspan(at, end - at));
      } else {
        pending_.append(data + at, end - at);
        emit(as_bytes(pending_));
        pending_.clear();
      }
      at = end + 1;
    }
    pending_.append(data + at, size - at);
  }

  template <typename Emit>
  void finish(Emit&& emit) {
    if (!pending_.empty()) emit(as_bytes(pending_));
    pending_.clear();
  }

 private:
  char separator_;
  std::string pending_;
};

int open_input(const ProduceOptions& options) {
  if (options.file.empty() || options.file == "-") return STDIN_FILENO;
  int fd = ::open(options.file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail_with(error_from_errno(errno, "open " + options.file));
  return fd;
}

// Waits until `fd` is readable or the batch's linger expires; false on expiry.
bool wait_readable(int fd, const Batcher& batcher, std::chrono::microseconds linger) {
  if (!batcher.has_records()) return true;
  auto deadline = batcher.first_added() + linger;
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  if (left.count() <= 0) return false;
  pollfd pfd{fd, POLLIN, 0};
  int n = ::poll(&pfd, 1, static_cast<int>(left.count()));
  return n != 0;
}

void print_summary(const CommonOptions& common, const ProduceOptions& options,
                   const Batcher& batcher, const AppendTotals& totals, Clock::duration took) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(took);
  if (common.json) {
    std::printf(
        "{\"topic\":\"%s\",\"partition\":%d,\"count\":%llu,\"bytes\":%llu,"
        "\"first_offset\":%lld,\"last_offset\":%lld,\"batches\":%llu,\"elapsed_us\":%lld}\n",
        options.topic.c_str(), options.partition, static_cast<unsigned long long>(batcher.count()),
        static_cast<unsigned long long>(batcher.bytes()),
        static_cast<long long>(totals.first_offset), static_cast<long long>(totals.last_offset),
        static_cast<unsigned long long>(totals.batches), static_cast<long long>(us.count()));
    return;
  }
  if (batcher.count() == 0) {
    std::fprintf(stderr, "produced nothing: the input was empty\n");
    return;
  }
  std::fprintf(stderr, "produced %llu message%s (%s) to %s/%d, offsets %lld..%lld, in %s\n",
               static_cast<unsigned long long>(batcher.count()), batcher.count() == 1 ? "" : "s",
               format_size(batcher.bytes()).c_str(), options.topic.c_str(), options.partition,
               static_cast<long long>(totals.first_offset),
               static_cast<long long>(totals.last_offset), format_duration(us).c_str());
}

void run_produce(const CommonOptions& common, const ProduceOptions& options) {
  require_topic_name(options.topic);
  if (options.partition < 0) fail_usage("--partition must be 0 or more");
  if (options.key && options.key_separator) fail_usage("give --key or --key-separator, not both");
  if (options.key_separator && options.key_separator->empty())
    fail_usage("--key-separator must not be empty");
  auto batch_bytes = value_or_fail(parse_size(options.batch_size), "--batch-size");
  auto linger =
      value_or_fail(parse_duration(options.linger, DurationUnit::kMilliseconds), "--linger");
  if (batch_bytes < 1024) fail_usage("--batch-size must be at least 1KiB");

  int fd = open_input(options);
  struct stat st {};
  bool regular = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  auto backend = open_backend(common, Access::kWrite);
  auto start = Clock::now();
  Batcher batcher(*backend, options, static_cast<std::size_t>(batch_bytes));
  Splitter splitter(options.null_separated ? '\0' : '\n');
  Progress progress("producing", regular ? static_cast<std::uint64_t>(st.st_size) : 0,
                    regular && static_cast<std::uint64_t>(st.st_size) >= kProgressMinBytes);
  std::vector<std::byte> chunk(kReadChunkBytes);
  std::uint64_t line = 0;
  auto emit = [&](std::span<const std::byte> message) { batcher.add(message, ++line); };
  for (;;) {
    if (!regular && !wait_readable(fd, batcher, linger)) {
      batcher.flush();
      continue;
    }
    ssize_t n = ::read(fd, chunk.data(), chunk.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail_with(error_from_errno(errno, "read the input"));
    if (n == 0) break;
    splitter.feed(std::span(chunk).first(static_cast<std::size_t>(n)), emit);
    progress.add(static_cast<std::uint64_t>(n));
  }
  splitter.finish(emit);
  batcher.flush();
  progress.finish();
  if (fd != STDIN_FILENO) ::close(fd);
  auto totals = value_or_fail(backend->finish_appends(), "append to " + options.topic + "/" +
                                                             std::to_string(options.partition));
  check(backend->close(), "close");
  print_summary(common, options, batcher, totals, Clock::now() - start);
}

}  // namespace

void add_produce_command(CLI::App& app, CommonOptions& common) {
  auto options = std::make_shared<ProduceOptions>();
  CLI::App* cmd = app.add_subcommand(
      "produce", "append messages from standard input (one per line) or a file to a topic");
  cmd->add_option("topic", options->topic, "topic to append to (created if missing)")->required();
  cmd->add_option("-p,--partition", options->partition, "partition (default 0)");
  auto* key = cmd->add_option("--key", options->key, "the key of every message");
  cmd->add_option("--key-separator", options->key_separator,
                  "split each message at the first SEP into KEY SEP VALUE")
      ->excludes(key);
  cmd->add_option("-f,--file", options->file, "read messages from this file instead of stdin");
  cmd->add_flag("-0,--null", options->null_separated,
                "messages are separated by NUL bytes instead of newlines (binary-safe)");
  cmd->add_option("--batch-size", options->batch_size, "largest batch to send (default 1MiB)")
      ->check(size_validator());
  cmd->add_option("--linger", options->linger,
                  "longest wait for more input before sending a partial batch (default 5ms)")
      ->check(duration_validator());
  add_common_options(*cmd, common);
  set_example(*cmd,
              "  seq 1 1000 | ringlog produce events\n"
              "  ringlog produce events --file access.log --server 127.0.0.1:8123\n"
              "  printf 'user1=login\\nuser2=logout\\n' | ringlog produce events "
              "--key-separator =\n");
  cmd->callback([options, &common] {
    apply_log_level(common);
    run_produce(common, *options);
  });
}

}  // namespace ringlog::cli
