#include "tests/support/raw_connection.h"

#include <poll.h>
#include <sys/socket.h>

#include <chrono>
#include <stdexcept>

#include "io/socket.h"

namespace ringlog::testing {

RawConnection::RawConnection(const std::string& address) {
  auto where = parse_address(address);
  if (!where) throw std::runtime_error("bad address " + address + ": " + where.error().to_string());
  auto fd = connect_to(*where);
  if (!fd) throw std::runtime_error("connect " + address + ": " + fd.error().to_string());
  fd_ = std::move(*fd);
}

bool RawConnection::send(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

std::size_t RawConnection::send_nonblocking(std::string_view bytes) {
  const ssize_t n = ::send(fd_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  return n > 0 ? static_cast<std::size_t>(n) : 0;
}

const char* RawConnection::fill(int timeout_ms) {
  pollfd pfd{fd_.get(), POLLIN, 0};
  if (::poll(&pfd, 1, timeout_ms) <= 0) return "<timeout>";
  char chunk[65536];
  const ssize_t n = ::recv(fd_.get(), chunk, sizeof(chunk), 0);
  if (n <= 0) return "<closed>";
  buffer_.append(chunk, static_cast<std::size_t>(n));
  return nullptr;
}

std::string RawConnection::line(int timeout_ms) {
  for (;;) {
    const std::size_t nl = buffer_.find('\n');
    if (nl != std::string::npos) {
      std::string text = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      if (!text.empty() && text.back() == '\r') text.pop_back();
      return text;
    }
    if (const char* status = fill(timeout_ms)) return status;
  }
}

std::string RawConnection::bytes(std::size_t n, int timeout_ms) {
  while (buffer_.size() < n) {
    if (fill(timeout_ms) != nullptr) break;
  }
  std::string out = buffer_.substr(0, n);
  buffer_.erase(0, out.size());
  return out;
}

bool RawConnection::closed_by_server(int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    buffer_.clear();
    const char* status = fill(50);
    if (status != nullptr && std::string_view(status) == "<closed>") return true;
  }
  return false;
}

void RawConnection::shutdown_write() {
  ::shutdown(fd_.get(), SHUT_WR);
}

}  // namespace ringlog::testing
