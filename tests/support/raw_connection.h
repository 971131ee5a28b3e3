// A raw TCP connection for the suites that talk to a server the way a person does with nc, or the
// way an attacker would (tests/support/, no doctest): any bytes in, lines or bytes out, every read
// bounded by a timeout. Failures to connect throw std::runtime_error.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "io/unique_fd.h"

namespace ringlog::testing {

class RawConnection {
 public:
  // Connects to "host:port"; throws std::runtime_error when it cannot.
  explicit RawConnection(const std::string& address);
  RawConnection(RawConnection&&) noexcept = default;
  RawConnection& operator=(RawConnection&&) noexcept = default;

  // Sends every byte (blocking); false if the connection broke.
  bool send(std::string_view bytes);
  // Sends what the kernel takes without blocking; returns the byte count (0 when full).
  std::size_t send_nonblocking(std::string_view bytes);
  // The next line without its "\r\n"; "<closed>" at end of stream, "<timeout>" on timeout.
  std::string line(int timeout_ms = 5000);
  // Exactly n bytes, or fewer at end of stream or timeout.
  std::string bytes(std::size_t n, int timeout_ms = 5000);
  // True when the server closes the connection within the timeout; what it sent before is dropped.
  bool closed_by_server(int timeout_ms = 5000);
  // Half-close: the server reads end of stream, replies can still arrive.
  void shutdown_write();
  void close() { fd_.reset(); }
  int fd() const { return fd_.get(); }

 private:
  // Appends what arrives within the timeout; nullptr, or "<timeout>" / "<closed>".
  const char* fill(int timeout_ms);

  UniqueFd fd_;
  std::string buffer_;
};

}  // namespace ringlog::testing
