// Support for running real Kafka clients (kcat, librdkafka) against the `ringlog serve` binary:
// child processes that are always stopped by their PID, a server on free loopback ports that can
// be restarted on the same ports and data directory, shell commands, and polling with a
// deadline instead of fixed sleeps.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ringlog::kafka_clients::test {

// Calls `done` every 50 ms until it returns true or `limit` has passed; returns whether it did.
bool wait_until(std::chrono::milliseconds limit, const std::function<bool()>& done);

struct ShellResult {
  int exit_code = -1;  // 128 + signal if killed
  std::string out;     // standard output only
};
// Runs `command` with /bin/sh and waits for it. Callers bound it with `timeout N ...`.
ShellResult shell(const std::string& command);

// Whether `name` is an executable on PATH.
bool have_command(const std::string& name);

// The bytes of a file ("" if it cannot be read), and a whole-file write.
std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& bytes);

// A fresh directory under $TMPDIR (or /tmp), removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A TCP port that was free on 127.0.0.1 a moment ago (bound, then released). Another process
// may take it in between: users retry with a new one when their bind fails.
std::uint16_t free_port();

// Whether something accepts a TCP connection on 127.0.0.1:port.
bool accepts(std::uint16_t port);

// One child process (no shell) with stdin, stdout and stderr redirected to files. It receives
// SIGTERM if this test process dies first (PR_SET_PDEATHSIG), and the destructor stops it, so a
// failing test leaves nothing running. Not thread-safe.
class Child {
 public:
  Child(const std::vector<std::string>& argv, const std::string& out_path,
        const std::string& err_path, const std::string& in_path = "/dev/null");
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }
  // Reaps the child if it has exited (never blocks); true once it has.
  bool exited();
  // The exit code (128 + signal) once exited() is true.
  int exit_code() const { return exit_code_; }
  // SIGTERM, then waits up to `grace`; SIGKILL after that. Returns the exit code.
  int stop(std::chrono::milliseconds grace = std::chrono::seconds(20));
  // Waits up to `limit` for the child to exit by itself; SIGKILLs it after that and returns
  // std::nullopt.
  std::optional<int> wait(std::chrono::milliseconds limit);

 private:
  pid_t pid_ = -1;
  int exit_code_ = -1;
};

// The `ringlog` binary under test: $RINGLOG_BINARY (ctest sets it). Fails the test case when
// unset, and when the binary has no Kafka listener (`serve --kafka-listen`).
std::string ringlog_binary();

// `ringlog serve` on a data directory with the line protocol and the Kafka listener on free
// loopback ports (durability `always`, 4 MiB segments). start() waits until both ports accept
// connections; stop() sends SIGTERM to the PID and waits; start() after stop() reuses the same
// ports and data directory (a restart). The destructor stops a running server.
class ServeProcess {
 public:
  ServeProcess(const std::string& work_dir, std::vector<std::string> extra_args = {});
  ~ServeProcess();
  ServeProcess(const ServeProcess&) = delete;
  ServeProcess& operator=(const ServeProcess&) = delete;

  void start();
  int stop();  // the server's exit code (0 on a clean shutdown)
  bool running() const { return child_ != nullptr; }

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
  std::unique_ptr<Child> child_;
};

// Quotes `text` for /bin/sh (single quotes).
std::string sh_quote(const std::string& text);

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
  std::unique_ptr<ServeProcess> server;
};

// False (and a MESSAGE saying the test is skipped) when kcat is not installed.
bool kcat_installed();

}  // namespace ringlog::kafka_clients::test
