// End-to-end test support: runs the built `ringlog` binary (RINGLOG_BINARY) as a subprocess in
// a temporary directory, starts and stops `ringlog serve`, and checks JSON output.
#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace ringlog::cli::test {

// A fresh directory under $TMPDIR, removed with everything in it on destruction.
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

struct RunResult {
  int exit_code = -1;  // 128 + signal if killed
  std::string out;
  std::string err;
};

// The path of the binary under test; fails the test case when RINGLOG_BINARY is not set.
std::string ringlog_binary();

// Runs `ringlog args...` in `cwd` with `input` on stdin; waits for it (at most 60 s).
RunResult run_ringlog(const std::string& cwd, const std::vector<std::string>& args,
                      const std::string& input = {});

void write_file(const std::string& path, const std::string& bytes);
std::string read_file(const std::string& path);

// `ringlog serve --data DATA --listen 127.0.0.1:0` in the background; the constructor waits
// until it listens (address() is then known), stop() sends SIGTERM and returns the exit code.
class ServerProcess {
 public:
  ServerProcess(const std::string& cwd, const std::string& data_dir,
                const std::vector<std::string>& extra_args = {});
  ~ServerProcess();
  const std::string& address() const { return address_; }
  bool running() const { return pid_ > 0; }
  int stop();
  std::string log() const;

 private:
  pid_t pid_ = -1;
  std::string log_path_;
  std::string address_;
};

// A small JSON value and parser for checking --json output's structure.
struct Json {
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject } type = Type::kNull;
  bool boolean = false;
  double number = 0;
  std::string string;
  std::vector<Json> array;
  std::map<std::string, Json> object;

  bool has(const std::string& key) const { return object.count(key) > 0; }
  const Json& operator[](const std::string& key) const { return object.at(key); }
};
// Parses exactly one JSON value (surrounding whitespace allowed); throws std::runtime_error.
Json parse_json(const std::string& text);
// Splits output into lines (without the newlines), dropping a final empty line.
std::vector<std::string> lines_of(const std::string& text);

}  // namespace ringlog::cli::test
