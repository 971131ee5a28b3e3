// Support for the reliability suite (issue 7): servers to attack (in-process over an Engine, or
// the real `ringlog serve` as a subprocess whose memory can be measured), raw connections that
// send anything, and a Ledger of acknowledged messages that must survive every attack.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <ringlog/engine.h>

#include "protocol/client.h"
#include "protocol/server.h"
#include "tests/support/files.h"
#include "tests/support/raw_connection.h"
#include "tests/support/serve.h"

namespace ringlog::reliability {

using testing::RawConnection;
using testing::ringlog_binary;
using testing::TempDir;

inline std::span<const std::byte> bytes_of(std::string_view text) {
  return std::as_bytes(std::span(text.data(), text.size()));
}

// An Engine and a Server in this process, on an ephemeral loopback port, over a temporary
// directory. `env` (optional, borrowed) is the engine's file seam: a FaultInjectionEnv to fill
// the disk. Small segments and no preallocation unless the options say otherwise.
class InProcessServer {
 public:
  explicit InProcessServer(protocol::ServerOptions options = {}, EngineOptions engine = {});
  ~InProcessServer();

  const std::string& address() const { return address_; }
  Engine& engine() { return *engine_; }
  protocol::Server& server() { return *server_; }
  const std::string& data_dir() const { return engine_options_.data_dir; }
  // Is the event loop still running (run() has not returned)?
  bool running() const;
  void stop();

 private:
  TempDir dir_;
  protocol::ServerOptions options_;
  EngineOptions engine_options_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<protocol::Server> server_;
  std::thread loop_;
  std::atomic<bool> finished_{false};
  std::string address_;
};

// `ringlog serve --data DATA --listen 127.0.0.1:0 --log-level warn EXTRA...` (RINGLOG_BINARY) as
// a child process, its stdout and stderr in DATA.serve.log; the memory-bound tests measure it.
class ServerSubprocess : public testing::ServeProcess {
 public:
  ServerSubprocess(const std::string& data_dir, const std::vector<std::string>& extra_args = {});
  // Resident set size now, from /proc/<pid>/status (VmRSS), in KiB.
  std::uint64_t rss_kib() const;
};

// Raises RLIMIT_NOFILE's soft limit to at least `wanted` (up to the hard limit); the new limit.
std::uint64_t raise_fd_limit(std::uint64_t wanted);

// Messages acknowledged by a well-behaved client, to check that an attack lost none of them.
class Ledger {
 public:
  explicit Ledger(std::string address, std::string topic = "ledger");
  // Puts `count` messages (one round trip each) and records each acknowledged offset.
  void produce(int count);
  // Fetches the topic from offset 0 and checks every acknowledged message is there, intact.
  void check() const;
  std::size_t size() const { return acked_.size(); }

 private:
  std::string address_;
  std::string topic_;
  std::map<std::int64_t, std::string> acked_;
  int next_ = 0;
};

// One round trip on a new connection: the server answers `ping` with `pong`.
bool server_answers(const std::string& address);

}  // namespace ringlog::reliability
