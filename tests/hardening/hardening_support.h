// Support for the hardening suite (issue 15): the real `ringlog serve` binary with both
// listeners on loopback ports over a data directory the test owns (so that it can damage files
// between runs), line-protocol round trips on fresh connections, and the server's memory.
// Kafka requests go through tests/kafka/kafka_server_support.h's KafkaConnection.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tests/support/files.h"
#include "tests/support/raw_connection.h"
#include "tests/support/serve.h"

namespace ringlog::hardening {

using testing::RawConnection;
using testing::TempDir;

// `ringlog serve --data DATA --listen 127.0.0.1:0 --kafka-listen 127.0.0.1:PORT --log-level
// warn EXTRA...` as a child process; its log in DATA.serve.log (kept across restarts of the same
// directory: each start truncates it). The constructor retries with another Kafka port when the
// one picked was taken meanwhile. The destructor stops it (SIGTERM) if it still runs.
class Served {
 public:
  // `binary`: what to run instead of the binary under test (a wrapper script that execs it).
  // `listen_timeout_s`: how long a start (its recovery) may take.
  explicit Served(std::string data_dir, std::vector<std::string> extra_args = {},
                  std::string binary = {}, int listen_timeout_s = 20);
  ~Served();
  Served(const Served&) = delete;
  Served& operator=(const Served&) = delete;

  const std::string& line_address() const { return process_->address(); }
  const std::string& kafka_address() const { return kafka_address_; }
  pid_t pid() const { return process_->pid(); }
  bool running() { return process_->running(); }
  // SIGTERM and wait: the exit code (0 = clean).
  int stop() { return process_->stop(); }
  // SIGKILL: a crash.
  int kill() { return process_->kill(); }
  std::string log() const { return process_->log(); }
  // Resident set size now (VmRSS), in KiB.
  std::uint64_t rss_kib() const;

 private:
  std::string data_dir_;
  std::unique_ptr<testing::ServeProcess> process_;
  std::string kafka_address_;
};

// Sends `command` (a line, "\r\n" appended) on a new connection and returns the first reply
// line ("<timeout>" / "<closed>" as RawConnection::line does).
std::string line_reply(const std::string& address, std::string_view command);

// The text of a reply made of lines up to "end" (topics, describe, stats), "\n"-separated.
std::string line_listing(const std::string& address, std::string_view command);

// `ringlog verify --data DIR` (RINGLOG_BINARY): its exit code, and its output in `output`.
int run_verify(const std::string& data_dir, std::string* output = nullptr);

}  // namespace ringlog::hardening
