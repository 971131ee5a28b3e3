#include "tests/support/serve.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <stdexcept>

#include "tests/support/files.h"

namespace ringlog::testing {

namespace {

// Truncates the logs of a previous server so that its address is never read; returns err_path.
const std::string& fresh_logs(const ServeOptions& o) {
  if (o.err_path.empty()) throw std::invalid_argument("ServeOptions: no err_path");
  std::ofstream(o.out_path, std::ios::trunc);
  std::ofstream(o.err_path, std::ios::trunc);
  return o.err_path;
}

std::vector<std::string> serve_argv(const ServeOptions& o) {
  std::vector<std::string> argv{o.binary.empty() ? ringlog_binary() : o.binary, "serve"};
  argv.insert(argv.end(), o.args.begin(), o.args.end());
  return argv;
}

// The address in "ringlog serve: listening on ADDRESS, ..." ("" until the line is complete).
std::string listen_address(const std::string& log) {
  const std::string marker = "ringlog serve: listening on ";
  const auto at = log.find(marker);
  if (at == std::string::npos) return "";
  const auto from = at + marker.size();
  const auto end = log.find_first_of(", \n", from);
  return end == std::string::npos ? "" : log.substr(from, end - from);
}

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

}  // namespace

std::string ringlog_binary() {
  const char* path = std::getenv("RINGLOG_BINARY");
  if (path == nullptr || *path == '\0')
    throw std::runtime_error("RINGLOG_BINARY is not set (run the suite through ctest)");
  return path;
}

ServeProcess::ServeProcess(const ServeOptions& options)
    : err_path_(fresh_logs(options)),
      child_(serve_argv(options), {.cwd = options.cwd,
                                   .out_path = options.out_path,
                                   .err_path = options.err_path,
                                   .env = options.env}) {
  const auto limit = std::chrono::seconds(options.listen_timeout_s);
  wait_until(
      limit,
      [&] {
        address_ = listen_address(log());
        return !address_.empty() || child_.exited();
      },
      std::chrono::milliseconds(5));
  if (!address_.empty()) return;
  if (child_.exited()) {
    throw std::runtime_error("ringlog serve exited (code " + std::to_string(child_.exit_code()) +
                             ") before listening: " + log());
  }
  (void)child_.kill();
  throw std::runtime_error("ringlog serve did not listen within " +
                           std::to_string(options.listen_timeout_s) + " s: " + log());
}

ServeProcess::~ServeProcess() {
  if (running()) (void)stop();
}

int ServeProcess::stop(std::chrono::milliseconds grace) {
  if (child_.exited()) return child_.exit_code();
  const pid_t pid = child_.pid();
  ::kill(pid, SIGTERM);
  if (!child_.wait(grace)) {
    std::fprintf(stderr, "ringlog serve (pid %d) did not exit within %lld s of SIGTERM: killed\n",
                 static_cast<int>(pid), static_cast<long long>(grace.count() / 1000));
  }
  return child_.exit_code();
}

std::string ServeProcess::log() const {
  return read_file(err_path_);
}

std::uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("free_port: no socket");
  sockaddr_in address = loopback(0);
  socklen_t length = sizeof address;
  const bool bound = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
                     ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0;
  ::close(fd);
  if (!bound) throw std::runtime_error("free_port: cannot bind a loopback port");
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

}  // namespace ringlog::testing
