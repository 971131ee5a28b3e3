#include "kafka_clients_support.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <doctest/doctest.h>

namespace ringlog::kafka_clients::test {

using Clock = std::chrono::steady_clock;

bool wait_until(std::chrono::milliseconds limit, const std::function<bool()>& done) {
  const auto deadline = Clock::now() + limit;
  for (;;) {
    if (done()) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

ShellResult shell(const std::string& command) {
  ShellResult result;
  FILE* pipe = ::popen(command.c_str(), "r");
  REQUIRE_MESSAGE(pipe != nullptr, "popen failed for: " << command);
  char buffer[4096];
  while (std::size_t n = ::fread(buffer, 1, sizeof buffer, pipe))
    result.out.append(buffer, n);
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

bool have_command(const std::string& name) {
  return shell("command -v " + name + " >/dev/null 2>&1").exit_code == 0;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
  REQUIRE_MESSAGE(out.good(), "cannot write " << path);
}

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base && *base ? base : "/tmp") + "/ringlog-kclients-XXXXXX";
  REQUIRE(::mkdtemp(pattern.data()) != nullptr);
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

namespace {

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

}  // namespace

std::uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in address = loopback(0);
  socklen_t length = sizeof address;
  const bool bound = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
                     ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0;
  ::close(fd);
  REQUIRE(bound);
  return ntohs(address.sin_port);
}

bool accepts(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in address = loopback(port);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  ::close(fd);
  return ok;
}

Child::Child(const std::vector<std::string>& argv, const std::string& out_path,
             const std::string& err_path, const std::string& in_path) {
  REQUIRE(!argv.empty());
  std::vector<std::string> copies = argv;
  std::vector<char*> args;
  for (std::string& a : copies)
    args.push_back(a.data());
  args.push_back(nullptr);
  const pid_t parent = ::getpid();
  pid_ = ::fork();
  REQUIRE(pid_ >= 0);
  if (pid_ == 0) {
    // Only async-signal-safe calls from here on.
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(126);
    const int in = ::open(in_path.c_str(), O_RDONLY);
    const int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (in < 0 || out < 0 || err < 0) ::_exit(126);
    ::dup2(in, 0);
    ::dup2(out, 1);
    ::dup2(err, 2);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
}

Child::~Child() {
  if (pid_ > 0) (void)stop(std::chrono::seconds(10));
}

bool Child::exited() {
  if (pid_ <= 0) return true;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) != pid_) return false;
  exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  pid_ = -1;
  return true;
}

std::optional<int> Child::wait(std::chrono::milliseconds limit) {
  if (wait_until(limit, [&] { return exited(); })) return exit_code_;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  exit_code_ = 128 + SIGKILL;
  pid_ = -1;
  return std::nullopt;
}

int Child::stop(std::chrono::milliseconds grace) {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    (void)wait(grace);
  }
  return exit_code_;
}

std::string ringlog_binary() {
  static const std::string checked = [] {
    const char* path = std::getenv("RINGLOG_BINARY");
    if (path == nullptr || *path == '\0') return std::string();
    ShellResult help = shell(sh_quote(path) + " serve --help 2>&1");
    if (help.out.find("--kafka-listen") == std::string::npos)
      return "no-kafka:" + std::string(path);
    return std::string(path);
  }();
  REQUIRE_MESSAGE(!checked.empty(), "RINGLOG_BINARY is not set (run the suite through ctest)");
  REQUIRE_MESSAGE(checked.rfind("no-kafka:", 0) != 0,
                  checked.substr(9) << " has no `serve --kafka-listen`: this binary predates the "
                                       "Kafka listener (issue 8)");
  return checked;
}

ServeProcess::ServeProcess(const std::string& work_dir, std::vector<std::string> extra_args)
    : work_dir_(work_dir), data_dir_(work_dir + "/data"), extra_args_(std::move(extra_args)) {
  start();
}

ServeProcess::~ServeProcess() {
  if (child_) (void)stop();
}

std::string ServeProcess::line_address() const {
  return "127.0.0.1:" + std::to_string(line_port_);
}

std::string ServeProcess::bootstrap() const {
  return "127.0.0.1:" + std::to_string(kafka_port_);
}

std::string ServeProcess::log() const {
  std::string out;
  for (int i = 1; i <= starts_; ++i)
    out += read_file(work_dir_ + "/serve-" + std::to_string(i) + ".err");
  return out;
}

bool ServeProcess::try_start() {
  ++starts_;
  std::vector<std::string> argv{ringlog_binary(), "serve",        "--data",         data_dir_,
                                "--listen",       line_address(), "--kafka-listen", bootstrap(),
                                "--segment-size", "4MiB",         "--log-level",    "info"};
  argv.insert(argv.end(), extra_args_.begin(), extra_args_.end());
  const std::string stem = work_dir_ + "/serve-" + std::to_string(starts_);
  child_ = std::make_unique<Child>(argv, stem + ".out", stem + ".err");
  const bool up = wait_until(std::chrono::seconds(20), [&] {
    return child_->exited() || (accepts(line_port_) && accepts(kafka_port_));
  });
  if (up && !child_->exited()) return true;
  (void)child_->stop();
  child_.reset();
  return false;
}

void ServeProcess::start() {
  REQUIRE(!child_);
  const bool restart = line_port_ != 0;
  for (int attempt = 0; attempt < (restart ? 1 : 3); ++attempt) {
    if (!restart) {
      line_port_ = free_port();
      do {
        kafka_port_ = free_port();
      } while (kafka_port_ == line_port_);
    }
    if (try_start()) return;
  }
  FAIL("ringlog serve did not come up on " << line_address() << " and " << bootstrap() << ":\n"
                                           << log());
}

int ServeProcess::stop() {
  if (!child_) return -1;
  const int code = child_->stop(std::chrono::seconds(30));
  child_.reset();
  return code;
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

std::vector<PartitionOffsets> parse_offsets_table(const std::string& text) {
  // partition  log_start  high_watermark  committed  lag   (header line first)
  std::vector<PartitionOffsets> rows;
  std::istringstream in(text);
  std::string line;
  if (!std::getline(in, line) || line.rfind("partition", 0) != 0) return {};
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string partition, log_start, high_watermark, committed;
    if (!(fields >> partition >> log_start >> high_watermark >> committed)) return {};
    PartitionOffsets row;
    row.high_watermark = std::stoll(high_watermark);
    if (committed != "-") row.committed = std::stoll(committed);
    rows.push_back(row);
  }
  return rows;
}

bool kcat_installed() {
  if (have_command("kcat")) return true;
  MESSAGE("kcat is not installed (scripts/setup installs it): skipped");
  return false;
}

ServerFixture::ServerFixture() : server(std::make_unique<ServeProcess>(work.path())) {}

std::string ServerFixture::kcat(const std::string& args, int seconds) const {
  return "timeout " + std::to_string(seconds) + " kcat -b " + server->bootstrap() + " " + args;
}

std::string ServerFixture::ringlog(const std::string& args) const {
  return "timeout 60 " + sh_quote(ringlog_binary()) + " " + args;
}

std::vector<PartitionOffsets> ServerFixture::offsets(const std::string& topic,
                                                     const std::string& group) const {
  ShellResult r = shell(ringlog("offsets " + topic + " --group " + group + server_flag()));
  if (r.exit_code != 0) return {};
  return parse_offsets_table(r.out);
}

bool ServerFixture::wait_for_high_watermark(const std::string& topic, int partition,
                                            std::int64_t high_watermark,
                                            std::chrono::milliseconds limit) const {
  return wait_until(limit, [&] {
    auto rows = offsets(topic, "probe");
    return static_cast<int>(rows.size()) > partition &&
           rows[static_cast<std::size_t>(partition)].high_watermark == high_watermark;
  });
}

namespace {

// The integer after "key": in one line of JSON (no nesting needed for dump's batch lines).
std::int64_t json_int(const std::string& line, const std::string& key) {
  const std::string needle = "\"" + key + "\":";
  const auto at = line.find(needle);
  REQUIRE_MESSAGE(at != std::string::npos, "no " << key << " in " << line);
  return std::strtoll(line.c_str() + at + needle.size(), nullptr, 10);
}

}  // namespace

std::vector<BatchSummary> ServerFixture::dump_batches(const std::string& topic,
                                                      int partition) const {
  const std::string segment = server->data_dir() + "/" + topic + "/" + std::to_string(partition) +
                              "/00000000000000000000.log";
  ShellResult r = shell(ringlog("dump --json --batches-only " + sh_quote(segment) + " 2>&1"));
  INFO("ringlog dump ", segment, ":\n", r.out);
  REQUIRE(r.exit_code == 0);
  std::vector<BatchSummary> batches;
  std::istringstream in(r.out);
  std::string line;
  while (std::getline(in, line)) {
    if (line.find("\"base_offset\"") == std::string::npos) continue;
    BatchSummary b;
    b.attributes = static_cast<int>(json_int(line, "attributes"));
    b.record_count = static_cast<int>(json_int(line, "record_count"));
    b.base_offset = json_int(line, "base_offset");
    b.producer_id = json_int(line, "producer_id");
    b.base_sequence = static_cast<int>(json_int(line, "base_sequence"));
    b.crc_ok = line.find("\"crc_ok\":true") != std::string::npos;
    batches.push_back(b);
  }
  return batches;
}

}  // namespace ringlog::kafka_clients::test
