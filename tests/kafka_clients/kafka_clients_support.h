// Support for running real Kafka clients (kcat, librdkafka) against the `ringlog serve` binary:
// a server on free loopback ports that can be restarted on the same ports and data directory,
// commands bounded by `timeout`, and `ringlog offsets`/`dump` parsing. Child processes (always
// stopped by their PID), shell commands, files and polling with a deadline come from
// tests/support/.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/support/files.h"
#include "tests/support/process.h"
#include "tests/support/serve.h"

namespace ringlog::kafka_clients::test {

using testing::Child;
using testing::ChildOptions;
using testing::lines_of;
using testing::read_file;
using testing::sh_quote;
using testing::shell;
using testing::ShellResult;
using testing::TempDir;
using testing::wait_until;
using testing::write_file;

// The `ringlog` binary under test: $RINGLOG_BINARY (ctest sets it). Fails the test case when
// unset, and when the binary has no Kafka listener (`serve --kafka-listen`).
std::string ringlog_binary();

// `ringlog serve` on a data directory with the line protocol and the Kafka listener on free
// loopback ports (durability `always`, 4 MiB segments). start() waits until both ports accept
// connections; stop() sends SIGTERM to the PID and waits; start() after stop() reuses the same
// ports and data directory (a restart). The destructor stops a running server.
class KafkaServer {
 public:
  KafkaServer(const std::string& work_dir, std::vector<std::string> extra_args = {});
  ~KafkaServer();
  KafkaServer(const KafkaServer&) = delete;
  KafkaServer& operator=(const KafkaServer&) = delete;

  void start();
  int stop();  // the server's exit code (0 on a clean shutdown)
  bool running() const { return process_ != nullptr; }

  const std::string& data_dir() const { return data_dir_; }
  std::string line_address() const;  // 127.0.0.1:PORT, for `ringlog ... --server`
  std::string bootstrap() const;     // 127.0.0.1:KPORT, for Kafka clients
  // Everything the server wrote to stderr, over all its starts.
  std::string log() const;

 private:
  bool try_start();

  std::string work_dir_;
  std::string data_dir_;
  std::vector<std::string> extra_args_;
  std::uint16_t line_port_ = 0;
  std::uint16_t kafka_port_ = 0;
  int starts_ = 0;
  std::unique_ptr<testing::ServeProcess> process_;
};

// Parses the text output of `ringlog offsets TOPIC --group G`: per partition (in order), the
// high watermark and the committed offset (nullopt when "-"). Empty on unexpected output.
struct PartitionOffsets {
  std::int64_t high_watermark = -1;
  std::optional<std::int64_t> committed;
};
std::vector<PartitionOffsets> parse_offsets_table(const std::string& text);

// The batch header fields of one `ringlog dump --json --batches-only` line.
struct BatchSummary {
  int attributes = -1;  // low 3 bits: the codec (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd)
  int record_count = -1;
  std::int64_t base_offset = -1;
  std::int64_t producer_id = -2;
  int base_sequence = -2;
  bool crc_ok = false;
};

// Each test case gets a fresh work directory and a `ringlog serve` in it, and builds the
// commands it runs against that server (every one bounded by `timeout`).
class ServerFixture {
 public:
  ServerFixture();

  // `kcat -b BOOTSTRAP ARGS`, killed after `seconds`.
  std::string kcat(const std::string& args, int seconds = 30) const;
  // `ringlog ARGS` (add `--server` yourself where wanted; see server_flag()).
  std::string ringlog(const std::string& args) const;
  std::string server_flag() const { return " --server " + server->line_address(); }
  // The group's offsets of every partition of `topic`, read through the line protocol; empty
  // when the command fails.
  std::vector<PartitionOffsets> offsets(const std::string& topic, const std::string& group) const;
  // Waits (at most `limit`) until partition `partition` of `topic` has `high_watermark`.
  bool wait_for_high_watermark(const std::string& topic, int partition, std::int64_t high_watermark,
                               std::chrono::milliseconds limit = std::chrono::seconds(20)) const;
  // The batches of the first segment file of a partition, from `ringlog dump` (REQUIREs that
  // the dump succeeds).
  std::vector<BatchSummary> dump_batches(const std::string& topic, int partition) const;

  TempDir work;
  std::unique_ptr<KafkaServer> server;
};

// False (and a MESSAGE saying the test is skipped) when kcat is not installed.
bool kcat_installed();

}  // namespace ringlog::kafka_clients::test
