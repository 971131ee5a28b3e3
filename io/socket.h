// Small TCP socket helpers for the server and for clients and tests: parse "ADDR:PORT", listen,
// connect (blocking), TCP_NODELAY. Every descriptor is created SOCK_CLOEXEC.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>

#include <ringlog/error.h>

#include "io/unique_fd.h"

namespace ringlog {

// An IPv4 or IPv6 socket address.
struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;

  int family() const { return storage.ss_family; }
  std::uint16_t port() const;
  // "127.0.0.1:8123", "[::1]:8123".
  std::string to_string() const;
};

// Parses "127.0.0.1:8123", "[::1]:8123", "localhost:8123" (127.0.0.1) or ":8123" (every IPv4
// interface). Ports 0..65535; 0 asks the kernel for a free one when listening. No DNS lookups.
Result<SocketAddress> parse_address(std::string_view text);

// A listening TCP socket bound to `address` with SO_REUSEADDR (and O_NONBLOCK if asked).
Result<UniqueFd> listen_on(const SocketAddress& address, int backlog = 128,
                           bool nonblocking = false);

// A blocking TCP connection to `address`.
Result<UniqueFd> connect_to(const SocketAddress& address);

// The address a socket is bound to (the port the kernel chose for port 0).
Result<SocketAddress> local_address(int fd);

Status set_nodelay(int fd, bool on = true);

}  // namespace ringlog
