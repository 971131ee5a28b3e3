// Child processes for the end-to-end suites and drivers (tests/support/, no doctest): started
// without a shell, always stopped by their PID and reaped, bounded waits, polling with a
// deadline instead of fixed sleeps. Failures of this machinery (fork, a command that outlives
// its limit) throw std::runtime_error: doctest fails the test case with its message.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace ringlog::testing {

// Calls `done` every `poll` until it returns true or `limit` has passed; returns whether it did.
bool wait_until(std::chrono::milliseconds limit, const std::function<bool()>& done,
                std::chrono::milliseconds poll = std::chrono::milliseconds(50));

// Where a Child runs and where its standard streams go. Paths are opened before the child
// changes to `cwd`; an `err_path` equal to `out_path` is one log both streams append to in order.
struct ChildOptions {
  std::string cwd = {};  // "" runs it in this process's directory
  std::string in_path = "/dev/null";
  std::string out_path = "/dev/null";
  std::string err_path = "/dev/null";
  // NAME=value, added to (or replacing the same NAME in) this process's environment.
  std::vector<std::string> env = {};
};

// One child process: argv[0] is looked up on PATH unless it holds a '/'. It receives SIGTERM if
// the thread that started it dies first (PR_SET_PDEATHSIG), and the destructor stops it, so a
// failing test leaves nothing running. Exit codes are 128 + signal for a killed child, 126 when
// a redirect failed, 127 when exec failed. Not thread-safe; the constructor throws
// std::runtime_error when fork fails.
class Child {
 public:
  Child(const std::vector<std::string>& argv, const ChildOptions& options = {});
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }
  // Reaps the child if it has exited (never blocks); true once it has.
  bool exited();
  // The exit code once exited() is true (-1 before).
  int exit_code() const { return exit_code_; }
  // Waits up to `limit` for the child to exit by itself; SIGKILLs and reaps it after that and
  // returns std::nullopt.
  std::optional<int> wait(std::chrono::milliseconds limit);
  // Waits for the child to exit, however long it takes. Returns the exit code.
  int wait();
  // SIGTERM, then waits up to `grace`; SIGKILL after that. Returns the exit code.
  int stop(std::chrono::milliseconds grace = std::chrono::seconds(20));
  // SIGKILL now, and reaps. Returns the exit code.
  int kill();

 private:
  void reaped(int status);

  pid_t pid_ = -1;
  int exit_code_ = -1;
};

struct RunResult {
  int exit_code = -1;  // 128 + signal if killed
  std::string out;
  std::string err;
};

// Runs `argv` (no shell) in `cwd` ("" for here) with `input` on stdin and waits for it; throws
// std::runtime_error when it has not exited within `limit` (it is SIGKILLed first).
RunResult run_command(const std::vector<std::string>& argv, const std::string& cwd = {},
                      const std::string& input = {},
                      std::chrono::milliseconds limit = std::chrono::seconds(60));

struct ShellResult {
  int exit_code = -1;  // 128 + signal if killed
  std::string out;     // standard output only
};
// Runs `command` with /bin/sh and waits for it. Callers bound it with `timeout N ...`.
ShellResult shell(const std::string& command);

// Whether `name` is an executable on PATH.
bool have_command(const std::string& name);

// Quotes `text` for /bin/sh (single quotes).
std::string sh_quote(const std::string& text);

}  // namespace ringlog::testing
