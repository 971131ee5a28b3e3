// Helpers shared by the Ring suites: a Ring maker that skips where io_uring is refused, a
// Completion that counts its callbacks, a loopback TCP pair and a blocking reader.
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <memory>
#include <span>
#include <string>
#include <thread>

#include <doctest/doctest.h>

#include "io/ring.h"
#include "io/socket.h"
#include "io/unique_fd.h"

namespace ringlog::test {

using namespace std::chrono_literals;

inline std::unique_ptr<Ring> make_ring(unsigned entries = 64) {
  Result<std::unique_ptr<Ring>> ring = Ring::create(entries);
  if (!ring) MESSAGE("skipped: " << ring.error().to_string());
  return ring ? std::move(*ring) : nullptr;
}

// A Completion that records that its callback ran.
struct Op {
  Completion c;
  int calls = 0;

  Op() {
    c.callback = [](Ring&, Completion& done) { ++static_cast<Op*>(done.context)->calls; };
    c.context = this;
  }
};

// Runs the loop until `op` has completed.
inline void run_until(Ring& ring, const Op& op) {
  while (op.calls == 0)
    REQUIRE(ring.run_once().has_value());
}

inline std::span<const std::byte> bytes_of(const std::string& s) {
  return std::as_bytes(std::span(s));
}

// A connected TCP pair over loopback: `server` (accepted) and `client`.
struct TcpPair {
  UniqueFd server;
  UniqueFd client;

  TcpPair() {
    UniqueFd listener = listen_on(parse_address("127.0.0.1:0").value()).value();
    SocketAddress address = local_address(listener.get()).value();
    client = connect_to(address).value();
    server = UniqueFd(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    REQUIRE(server.valid());
    timeval limit{5, 0};  // a reader gives up rather than hang a failing test
    REQUIRE(::setsockopt(client.get(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit)) == 0);
  }
};

// Reads exactly `n` bytes from a blocking socket, slowly if asked (to keep the sender's buffer
// full, which is what makes its sends come back short).
inline std::string read_exactly(int fd, std::size_t n, bool slowly = false) {
  std::string out;
  char buf[16384];
  while (out.size() < n) {
    if (slowly) std::this_thread::sleep_for(1ms);
    ssize_t got = ::read(fd, buf, std::min(sizeof(buf), n - out.size()));
    if (got <= 0) break;
    out.append(buf, static_cast<std::size_t>(got));
  }
  return out;
}

inline void shrink_send_buffer(int fd) {
  int bytes = 4096;
  REQUIRE(::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes)) == 0);
}

}  // namespace ringlog::test
