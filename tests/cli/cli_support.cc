#include "cli/cli_support.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <doctest/doctest.h>

namespace ringlog::cli::test {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base && *base ? base : "/tmp") + "/ringlog-cli-XXXXXX";
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  REQUIRE(::mkdtemp(buf.data()) != nullptr);
  path_ = buf.data();
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string ringlog_binary() {
  const char* path = std::getenv("RINGLOG_BINARY");
  REQUIRE_MESSAGE(path != nullptr, "RINGLOG_BINARY is not set (run the suite through ctest)");
  return path;
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

namespace {

// Forks and execs `ringlog args...` in `cwd` with stdin/stdout/stderr from/to files.
pid_t spawn(const std::string& cwd, const std::vector<std::string>& args, const std::string& in,
            const std::string& out, const std::string& err) {
  std::string binary = ringlog_binary();
  std::vector<char*> argv;
  argv.push_back(binary.data());
  std::vector<std::string> copies = args;
  for (std::string& a : copies)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    int fd_in = ::open(in.c_str(), O_RDONLY);
    int fd_out = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int fd_err = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd_in < 0 || fd_out < 0 || fd_err < 0 || ::chdir(cwd.c_str()) != 0) ::_exit(127);
    ::dup2(fd_in, 0);
    ::dup2(fd_out, 1);
    ::dup2(fd_err, 2);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

int wait_exit(pid_t pid, std::chrono::seconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      FAIL("ringlog did not exit within " << limit.count() << " s");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

RunResult run_ringlog(const std::string& cwd, const std::vector<std::string>& args,
                      const std::string& input) {
  TempDir io;
  write_file(io / "in", input);
  pid_t pid = spawn(cwd, args, io / "in", io / "out", io / "err");
  RunResult r;
  r.exit_code = wait_exit(pid, std::chrono::seconds(60));
  r.out = read_file(io / "out");
  r.err = read_file(io / "err");
  return r;
}

ServerProcess::ServerProcess(const std::string& cwd, const std::string& data_dir,
                             const std::vector<std::string>& extra_args) {
  log_path_ = cwd + "/serve.log";
  std::vector<std::string> args{"serve", "--data", data_dir, "--listen", "127.0.0.1:0"};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  pid_ = spawn(cwd, args, "/dev/null", cwd + "/serve.out", log_path_);
  const std::string marker = "ringlog serve: listening on ";
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    std::string text = log();
    auto at = text.find(marker);
    if (at != std::string::npos && text.find(',', at) != std::string::npos) {
      at += marker.size();
      address_ = text.substr(at, text.find(',', at) - at);
      return;
    }
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      FAIL("ringlog serve exited before listening: " << text);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  FAIL("ringlog serve did not listen within 20 s: " << log());
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) (void)stop();
}

int ServerProcess::stop() {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  int code = wait_exit(pid_, std::chrono::seconds(30));
  pid_ = -1;
  return code;
}

std::string ServerProcess::log() const {
  return read_file(log_path_);
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::string line;
  std::istringstream in(text);
  while (std::getline(in, line))
    lines.push_back(line);
  return lines;
}

namespace {

class JsonParser {
 public:
  explicit JsonParser(const std::string& text) : s_(text) {}

  Json parse_document() {
    Json v = value();
    space();
    if (at_ != s_.size()) error("trailing characters");
    return v;
  }

 private:
  [[noreturn]] void error(const std::string& what) {
    throw std::runtime_error("JSON: " + what + " at " + std::to_string(at_) + " in: " + s_);
  }
  void space() {
    while (at_ < s_.size() &&
           (s_[at_] == ' ' || s_[at_] == '\n' || s_[at_] == '\t' || s_[at_] == '\r'))
      ++at_;
  }
  bool literal(const char* word) {
    std::string w(word);
    if (s_.compare(at_, w.size(), w) != 0) return false;
    at_ += w.size();
    return true;
  }
  Json value() {
    space();
    if (at_ >= s_.size()) error("unexpected end");
    Json v;
    char c = s_[at_];
    if (c == '{') return object();
    if (c == '[') return array();
    if (c == '"') {
      v.type = Json::Type::kString;
      v.string = string();
    } else if (literal("null")) {
      v.type = Json::Type::kNull;
    } else if (literal("true") || literal("false")) {
      v.type = Json::Type::kBool;
      v.boolean = s_[at_ - 1] == 'e' && s_[at_ - 2] == 'u';
    } else {
      std::size_t used = 0;
      try {
        v.number = std::stod(s_.substr(at_), &used);
      } catch (...) {
        error("bad value");
      }
      if (used == 0) error("bad number");
      at_ += used;
      v.type = Json::Type::kNumber;
    }
    return v;
  }
  std::string string() {
    ++at_;  // "
    std::string out;
    while (at_ < s_.size() && s_[at_] != '"') {
      char c = s_[at_++];
      if (static_cast<unsigned char>(c) < 0x20) error("raw control character in string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (at_ >= s_.size()) error("bad escape");
      char e = s_[at_++];
      switch (e) {
        case 'n':
          out += '\n';
          break;
        case 't':
          out += '\t';
          break;
        case 'r':
          out += '\r';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case '/':
          out += '/';
          break;
        case '\\':
          out += '\\';
          break;
        case '"':
          out += '"';
          break;
        case 'u': {
          if (at_ + 4 > s_.size()) error("bad \\u escape");
          unsigned code = static_cast<unsigned>(std::stoul(s_.substr(at_, 4), nullptr, 16));
          at_ += 4;
          if (code >= 0x80) error("test parser handles \\u escapes below 0x80 only");
          out += static_cast<char>(code);
          break;
        }
        default:
          error("bad escape");
      }
    }
    if (at_ >= s_.size()) error("unterminated string");
    ++at_;
    return out;
  }
  Json array() {
    Json v;
    v.type = Json::Type::kArray;
    ++at_;
    space();
    if (at_ < s_.size() && s_[at_] == ']') {
      ++at_;
      return v;
    }
    for (;;) {
      v.array.push_back(value());
      space();
      if (at_ < s_.size() && s_[at_] == ',') {
        ++at_;
        continue;
      }
      if (at_ < s_.size() && s_[at_] == ']') {
        ++at_;
        return v;
      }
      error("expected , or ]");
    }
  }
  Json object() {
    Json v;
    v.type = Json::Type::kObject;
    ++at_;
    space();
    if (at_ < s_.size() && s_[at_] == '}') {
      ++at_;
      return v;
    }
    for (;;) {
      space();
      if (at_ >= s_.size() || s_[at_] != '"') error("expected a key");
      std::string key = string();
      space();
      if (at_ >= s_.size() || s_[at_] != ':') error("expected :");
      ++at_;
      if (v.object.count(key)) error("duplicate key " + key);
      v.object[key] = value();
      space();
      if (at_ < s_.size() && s_[at_] == ',') {
        ++at_;
        continue;
      }
      if (at_ < s_.size() && s_[at_] == '}') {
        ++at_;
        return v;
      }
      error("expected , or }");
    }
  }

  const std::string& s_;
  std::size_t at_ = 0;
};

}  // namespace

Json parse_json(const std::string& text) {
  return JsonParser(text).parse_document();
}

}  // namespace ringlog::cli::test
