// End-to-end test support: runs the built `ringlog` binary (RINGLOG_BINARY) as a subprocess in
// a temporary directory, starts and stops `ringlog serve`, and checks JSON output. The processes,
// files and the server come from tests/support/.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "tests/support/files.h"
#include "tests/support/process.h"
#include "tests/support/serve.h"

namespace ringlog::cli::test {

using testing::lines_of;
using testing::read_file;
using testing::ringlog_binary;
using testing::RunResult;
using testing::TempDir;
using testing::write_file;

// Runs `ringlog args...` in `cwd` with `input` on stdin; waits for it (at most 60 s, then the
// test case fails with its stderr).
RunResult run_ringlog(const std::string& cwd, const std::vector<std::string>& args,
                      const std::string& input = {});

// `ringlog serve --data DATA --listen 127.0.0.1:0 EXTRA...` in `cwd` (stderr in cwd/serve.log,
// stdout in cwd/serve.out); the constructor waits until it listens (address() is then known).
class ServerProcess : public testing::ServeProcess {
 public:
  ServerProcess(const std::string& cwd, const std::string& data_dir,
                const std::vector<std::string>& extra_args = {});
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

}  // namespace ringlog::cli::test
