#include "tests/support/process.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stdexcept>
#include <system_error>
#include <thread>

#include "tests/support/files.h"

extern char** environ;

namespace ringlog::testing {

namespace {

using Clock = std::chrono::steady_clock;

int exit_code_of(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// This process's environment with each NAME=value of `overrides` added or replacing NAME.
std::vector<std::string> environment_with(const std::vector<std::string>& overrides) {
  std::vector<std::string> env;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string text = *entry;
    const std::string name = text.substr(0, text.find('=') + 1);
    bool replaced = false;
    for (const std::string& o : overrides)
      replaced |= !name.empty() && o.compare(0, name.size(), name) == 0;
    if (!replaced) env.push_back(text);
  }
  env.insert(env.end(), overrides.begin(), overrides.end());
  return env;
}

// A null-terminated array of pointers into `strings` (which must outlive it).
std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (std::string& s : strings)
    out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// In the forked child: only async-signal-safe calls (everything was allocated before fork).
[[noreturn]] void exec_child(pid_t parent, char* const* argv, char* const* envp,
                             const ChildOptions& o) {
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (::getppid() != parent) ::_exit(126);
  const int in = ::open(o.in_path.c_str(), O_RDONLY);
  const int out = ::open(o.out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  const int err = o.err_path == o.out_path
                      ? out
                      : ::open(o.err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (in < 0 || out < 0 || err < 0) ::_exit(126);
  if (!o.cwd.empty() && ::chdir(o.cwd.c_str()) != 0) ::_exit(126);
  ::dup2(in, 0);
  ::dup2(out, 1);
  ::dup2(err, 2);
  ::execvpe(argv[0], argv, envp);
  ::_exit(127);
}

std::string joined(const std::vector<std::string>& argv) {
  std::string out;
  for (const std::string& a : argv)
    out += (out.empty() ? "" : " ") + a;
  return out;
}

}  // namespace

bool wait_until(std::chrono::milliseconds limit, const std::function<bool()>& done,
                std::chrono::milliseconds poll) {
  const auto deadline = Clock::now() + limit;
  for (;;) {
    if (done()) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(poll);
  }
}

Child::Child(const std::vector<std::string>& argv, const ChildOptions& options) {
  if (argv.empty()) throw std::invalid_argument("Child: no program to run");
  std::vector<std::string> args = argv;
  std::vector<char*> arg_pointers = pointers(args);
  std::vector<std::string> env = environment_with(options.env);
  std::vector<char*> env_pointers = pointers(env);
  const pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ < 0) throw std::system_error(errno, std::generic_category(), "fork for " + argv[0]);
  if (pid_ == 0) exec_child(parent, arg_pointers.data(), env_pointers.data(), options);
}

Child::~Child() {
  if (pid_ > 0) (void)stop(std::chrono::seconds(10));
}

void Child::reaped(int status) {
  exit_code_ = exit_code_of(status);
  pid_ = -1;
}

bool Child::exited() {
  if (pid_ <= 0) return true;
  int status = 0;
  const pid_t reaped_pid = ::waitpid(pid_, &status, WNOHANG);
  if (reaped_pid == 0 || (reaped_pid < 0 && errno == EINTR)) return false;
  if (reaped_pid < 0) {  // ECHILD: reaped elsewhere (SIGCHLD ignored); the exit code is lost
    pid_ = -1;
    return true;
  }
  reaped(status);
  return true;
}

std::optional<int> Child::wait(std::chrono::milliseconds limit) {
  if (wait_until(
          limit, [&] { return exited(); }, std::chrono::milliseconds(5)))
    return exit_code_;
  (void)kill();
  return std::nullopt;
}

int Child::wait() {
  if (pid_ <= 0) return exit_code_;
  int status = 0;
  pid_t reaped_pid;
  while ((reaped_pid = ::waitpid(pid_, &status, 0)) < 0 && errno == EINTR) {
  }
  if (reaped_pid < 0) {  // ECHILD, as in exited()
    pid_ = -1;
    return exit_code_;
  }
  reaped(status);
  return exit_code_;
}

int Child::stop(std::chrono::milliseconds grace) {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    (void)wait(grace);
  }
  return exit_code_;
}

int Child::kill() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    return wait();
  }
  return exit_code_;
}

RunResult run_command(const std::vector<std::string>& argv, const std::string& cwd,
                      const std::string& input, std::chrono::milliseconds limit) {
  TempDir io;
  write_file(io / "in", input);
  Child child(argv,
              {.cwd = cwd, .in_path = io / "in", .out_path = io / "out", .err_path = io / "err"});
  const std::optional<int> code = child.wait(limit);
  RunResult result;
  result.out = read_file(io / "out");
  result.err = read_file(io / "err");
  if (!code) {
    throw std::runtime_error("`" + joined(argv) + "` did not exit within " +
                             std::to_string(limit.count() / 1000) + " s; its stderr:\n" +
                             result.err);
  }
  result.exit_code = *code;
  return result;
}

ShellResult shell(const std::string& command) {
  ShellResult result;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("popen failed for: " + command);
  char buffer[4096];
  while (std::size_t n = ::fread(buffer, 1, sizeof buffer, pipe))
    result.out.append(buffer, n);
  result.exit_code = exit_code_of(::pclose(pipe));
  return result;
}

bool have_command(const std::string& name) {
  return shell("command -v " + name + " >/dev/null 2>&1").exit_code == 0;
}

std::string sh_quote(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

}  // namespace ringlog::testing
