// `ringlog serve` as a child process for the end-to-end suites and the crash driver
// (tests/support/, no doctest), the binary under test, and loopback ports. Failures of this
// machinery throw std::runtime_error with the server's log in the message.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "tests/support/process.h"

namespace ringlog::testing {

// The `ringlog` binary under test: $RINGLOG_BINARY (ctest sets it). Throws std::runtime_error
// when it is not set.
std::string ringlog_binary();

// How to start `ringlog serve`. The server's stderr goes to `err_path`, where its start-up line
// ("ringlog serve: listening on ADDRESS, ...") is read; `out_path` may be the same file.
struct ServeOptions {
  std::string binary = {};             // "" for ringlog_binary()
  std::vector<std::string> args = {};  // after `serve`: --data, --listen, ...
  std::string cwd = {};                // "" runs it in this process's directory
  std::string out_path = "/dev/null";
  std::string err_path = {};          // required
  std::vector<std::string> env = {};  // NAME=value for the server's environment
  int listen_timeout_s = 20;          // how long the start (recovery included) may take
};

// One run of `ringlog serve`. The constructor empties the logs (a previous server's address is
// never read), starts the server and waits (at most listen_timeout_s) until it prints the address
// it listens on; it throws std::runtime_error, with the log, when the server exits first or stays
// silent (then it is killed). stop() sends SIGTERM to the PID and waits; the destructor stops a
// server still running. Not thread-safe.
class ServeProcess {
 public:
  explicit ServeProcess(const ServeOptions& options);
  ~ServeProcess();
  ServeProcess(const ServeProcess&) = delete;
  ServeProcess& operator=(const ServeProcess&) = delete;

  // The line protocol address it printed (127.0.0.1:PORT).
  const std::string& address() const { return address_; }
  pid_t pid() const { return child_.pid(); }
  // Reaps the server if it has exited; true while it runs.
  bool running() { return !child_.exited(); }
  // SIGTERM, then waits up to `grace` for a clean exit; after that SIGKILL (and a line on
  // stderr saying so). Returns the exit code: 0 for a clean shutdown, 128 + signal if killed.
  int stop(std::chrono::milliseconds grace = std::chrono::seconds(30));
  // SIGKILL now (a crash), and reaps. Returns the exit code.
  int kill() { return child_.kill(); }
  // What the server wrote to `err_path` so far.
  std::string log() const;

 private:
  std::string err_path_;
  Child child_;
  std::string address_;
};

// A TCP port that was free on 127.0.0.1 a moment ago (bound, then released). Another process
// may take it in between: users retry with a new one when their bind fails. Throws
// std::runtime_error when no port can be bound.
std::uint16_t free_port();

// Whether something accepts a TCP connection on 127.0.0.1:port.
bool accepts(std::uint16_t port);

}  // namespace ringlog::testing
