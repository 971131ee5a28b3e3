// Hostile load over real sockets (issue 7, item 5): thousands of connections, clients that send
// one byte per second, clients that never read. Each checks the server stays up, others are
// unaffected, and (for the subprocess) that the server's memory stays bounded.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "tests/reliability/reliability_support.h"

namespace ringlog::reliability {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Round-trip time of a put by a well-behaved client.
std::chrono::milliseconds put_latency(protocol::Client& client, int i) {
  const auto start = Clock::now();
  auto offset = client.put("fair", 0, bytes_of("fair-" + std::to_string(i)));
  REQUIRE_MESSAGE(offset, (offset ? "" : offset.error().to_string()));
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
}

// Sends an endless repetition of `unit` without blocking, never cutting a request: the next
// call continues where the kernel stopped taking bytes.
class Flood {
 public:
  Flood(RawConnection& conn, std::string unit, int repeat) : conn_(conn) {
    for (int i = 0; i < repeat; ++i)
      burst_ += unit;
  }
  // Bytes the kernel took now (0: the connection is full, the server is not reading).
  std::size_t push() {
    const std::size_t n = conn_.send_nonblocking(std::string_view(burst_).substr(at_));
    at_ = (at_ + n) % burst_.size();
    sent_ += n;
    return n;
  }
  std::uint64_t sent() const { return sent_; }

 private:
  RawConnection& conn_;
  std::string burst_;
  std::size_t at_ = 0;
  std::uint64_t sent_ = 0;
};

TEST_CASE("load: two thousand concurrent connections are all served") {
  constexpr int kConnections = 2000;
  REQUIRE(raise_fd_limit(3 * kConnections + 256) >= 2 * kConnections + 256);
  protocol::ServerOptions options;
  options.max_connections = kConnections + 16;
  InProcessServer server(options);
  Ledger ledger(server.address());
  ledger.produce(10);
  std::vector<RawConnection> connections;
  connections.reserve(kConnections);
  for (int i = 0; i < kConnections; ++i)
    connections.emplace_back(server.address());
  // Everyone asks at once, then everyone reads.
  for (auto& c : connections)
    REQUIRE(c.send("ping\r\n"));
  int pongs = 0;
  int timeouts = 0;  // after the first, wait less: the test must end if the server is stuck
  for (auto& c : connections)
    pongs += c.line(timeouts > 0 ? 10 : 5000) == "pong" ? 1 : (++timeouts, 0);
  CHECK(pongs == kConnections);
  CHECK(timeouts == 0);
  CHECK(server.server().stats().connections >= kConnections);
  ledger.produce(10);
  ledger.check();
}

TEST_CASE("load: connections above the limit get 503 and are closed, the others keep working") {
  protocol::ServerOptions options;
  options.max_connections = 64;
  InProcessServer server(options);
  std::vector<RawConnection> admitted;
  for (int i = 0; i < 64; ++i) {
    admitted.emplace_back(server.address());
    REQUIRE(admitted.back().send("ping\r\n"));
    REQUIRE(admitted.back().line() == "pong");
  }
  for (int i = 0; i < 20; ++i) {
    RawConnection extra(server.address());
    const std::string reply = extra.line();
    CAPTURE(reply);
    CHECK(reply.rfind("error 503 ", 0) == 0);
    CHECK(extra.closed_by_server());
  }
  for (auto& c : admitted) {
    REQUIRE(c.send("ping\r\n"));
    CHECK(c.line() == "pong");
  }
  // A slot freed is a slot available again.
  admitted.pop_back();
  std::this_thread::sleep_for(100ms);
  CHECK(server_answers(server.address()));
  CHECK(server.server().stats().connections_rejected >= 20);
}

TEST_CASE("load: a client sending one byte per second does not slow anyone else") {
  InProcessServer server;
  Ledger ledger(server.address());
  ledger.produce(5);
  // Many slow clients, each in the middle of a request line or body.
  std::vector<RawConnection> slow;
  for (int i = 0; i < 200; ++i) {
    slow.emplace_back(server.address());
    REQUIRE(slow.back().send(i % 2 ? "put fair 0 10\r\nhalf" : "pi"));
  }
  RawConnection trickle(server.address());
  std::thread trickler([&] {
    for (char c : std::string("ping\n")) {  // 5 bytes, one per second
      trickle.send(std::string(1, c));
      std::this_thread::sleep_for(1s);
    }
  });
  auto client = protocol::Client::connect({.address = server.address()});
  REQUIRE(client);
  std::chrono::milliseconds worst{0};
  int puts = 0;
  const auto until = Clock::now() + 4500ms;
  while (Clock::now() < until)
    worst = std::max(worst, put_latency(**client, puts++));
  trickler.join();
  CHECK(trickle.line() == "pong");
  MESSAGE(puts << " puts by a fair client meanwhile, worst latency " << worst.count() << " ms");
  CHECK(puts > 50);
  CHECK(worst < 1000ms);
  // The slow clients can finish their requests.
  for (std::size_t i = 0; i < slow.size(); ++i) {
    REQUIRE(slow[i].send(i % 2 ? "67890\r\n" : "ng\r\n"));
    const std::string reply = slow[i].line();
    CHECK((i % 2 ? reply.rfind("ok ", 0) == 0 : reply == "pong"));
  }
  ledger.check();
}

// The documented bound (docs/security.md): a connection holds at most max_buffered_bytes of
// unsent replies (16 MiB) plus its request buffer (a line plus the largest body, ~8 MiB); so N
// connections that never read cost the server at most N x 24 MiB, however much they send.
TEST_CASE("load: clients that never read their replies keep the server's memory bounded") {
  TempDir dir;
  ServerSubprocess server(dir.path() + "/data", {"--segment-size", "16MiB"});
  {
    auto client = protocol::Client::connect({.address = server.address()});
    REQUIRE(client);
    const std::string value(60000, 'r');
    for (int i = 0; i < 16; ++i)
      REQUIRE((*client)->put("big", 0, bytes_of(value)));
  }
  const std::uint64_t baseline_kib = server.rss_kib();
  constexpr int kReaders = 8;
  std::vector<RawConnection> hogs;
  for (int i = 0; i < kReaders; ++i)
    hogs.emplace_back(server.address());
  // Each asks for ~1 MiB of `get` replies per request, over and over, and never reads.
  std::vector<Flood> floods;
  for (auto& hog : hogs)
    floods.emplace_back(hog, "get big 0 1000000\r\n", 5000);
  const auto until = Clock::now() + 20s;
  std::uint64_t peak_kib = baseline_kib;
  bool all_blocked = false;
  while (Clock::now() < until && !all_blocked) {
    all_blocked = true;
    for (auto& flood : floods)
      all_blocked &= flood.push() == 0;
    peak_kib = std::max(peak_kib, server.rss_kib());
    if (all_blocked) {
      // Blocked now; make sure it stays blocked (the server stopped reading them).
      std::this_thread::sleep_for(500ms);
      for (auto& flood : floods)
        all_blocked &= flood.push() == 0;
    } else {
      std::this_thread::sleep_for(5ms);
    }
  }
  peak_kib = std::max(peak_kib, server.rss_kib());
  const std::uint64_t bound_kib = baseline_kib + kReaders * (24u << 10) + (32u << 10);
  MESSAGE("server RSS: baseline " << baseline_kib / 1024 << " MiB, peak " << peak_kib / 1024
                                  << " MiB with " << kReaders << " non-reading clients; bound "
                                  << bound_kib / 1024 << " MiB");
  for (const Flood& flood : floods)
    MESSAGE("a non-reading client got " << flood.sent() << " bytes in");
  CHECK(all_blocked);  // backpressure: the server stopped reading every hog
  CHECK(peak_kib <= bound_kib);
  REQUIRE(server.running());
  CHECK(server_answers(server.address()));
  hogs.clear();
  std::this_thread::sleep_for(200ms);
  CHECK(server_answers(server.address()));
  CHECK(server.stop() == 0);
}

TEST_CASE("load: a client pipelining puts without reading is throttled, others are not") {
  TempDir dir;
  ServerSubprocess server(dir.path() + "/data", {"--durability", "never"});
  const std::uint64_t baseline_kib = server.rss_kib();
  RawConnection hog(server.address());
  Flood flood(hog, "put flood 0 100\r\n" + std::string(100, 'f') + "\r\n", 500);
  const auto until = Clock::now() + 5s;
  while (Clock::now() < until) {
    if (flood.push() == 0) std::this_thread::sleep_for(10ms);
  }
  const std::uint64_t sent = flood.sent();
  const std::uint64_t peak_kib = server.rss_kib();
  MESSAGE("put flood: " << sent / 1024 << " KiB sent by a client that never reads; server RSS "
                        << baseline_kib / 1024 << " -> " << peak_kib / 1024 << " MiB");
  CHECK(peak_kib <= baseline_kib + (64u << 10));
  auto client = protocol::Client::connect({.address = server.address()});
  REQUIRE(client);
  CHECK(put_latency(**client, 0) < 1000ms);
  CHECK(server.stop() == 0);
}

}  // namespace
}  // namespace ringlog::reliability
