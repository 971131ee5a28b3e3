// The server: one io_uring event loop for the network in front of an Engine, speaking the line
// protocol (docs/protocol.md) on `listen` and, when `kafka_listen` is set, Kafka's wire protocol
// (docs/kafka.md, protocol/kafka/) on a second listener. Both share the loop, the worker pool
// and the Engine: what one protocol writes the other reads, and a long poll of either wakes on
// appends from both.
//
//   auto server = Server::create(*engine, {.listen = "127.0.0.1:8123"});   // binds and listens
//   std::thread loop([&] { (void)(*server)->run(); });
//   ...
//   (*server)->stop();   // from a signal handler path or another thread
//   loop.join();
//   engine->close();     // syncs and writes the clean-shutdown marker
//
// No thread blocks on the disk in the network path: appends go through Engine::append_async,
// whose callbacks (on the engine's writer thread) hand completions back to the loop through a
// mailbox and Ring::wake(); engine calls that may touch the disk or fsync (fetch, get, commit,
// create, delete, describe, stats) run on a small pool of worker threads and come back the same
// way. `fetch` bytes go from the segment file to the socket with io_uring splice (file -> pipe ->
// socket), never through user space (unless zero_copy is off, for comparison).
//
// Replies leave each connection in request order (ReplyQueue). A connection whose unsent replies
// exceed max_buffered_bytes, or which has max_pending_requests outstanding, is not read until
// they drain (backpressure); this holds for both protocols, and max_connections counts both.
// Requests larger than a receive chunk (Kafka frames, line bodies) also take their declared size
// from a server-wide budget (max_request_bytes); a connection whose request does not fit is not
// read until it does (docs/security.md states the memory bound).
// Bad input gets an error line; where framing is lost the connection is closed after the error.
// A bad Kafka frame (negative size, above kafka_max_frame_bytes, malformed, unknown API or
// version) closes its connection once the replies before it are sent, as Kafka does. Other
// connections are never affected.
//
// Lifetime: the Engine must outlive the Server. run() may be called once.
// Threading: run() on one thread; stop() and stats() from any thread (stop() is
// async-signal-safe).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include <ringlog/engine.h>
#include <ringlog/error.h>

#include "protocol/request.h"

namespace ringlog::protocol {

struct ServerOptions {
  std::string listen = "127.0.0.1:8123";  // "ADDR:PORT"; port 0 picks a free one
  ParserLimits limits;                    // line, message, batch sizes and the wait_ms cap
  std::size_t max_connections = 1024;
  std::size_t max_buffered_bytes = 16 << 20;  // unsent reply bytes per connection
  std::size_t max_pending_requests = 4096;    // outstanding requests per connection
  std::uint32_t idle_timeout_ms = 300'000;    // 0: never
  bool auto_create_topics = true;             // false: put/putb to an unknown topic -> 404
  bool zero_copy = true;                      // false: fetch reads into memory, then sends
  unsigned worker_threads = 2;                // for engine calls that may block
  unsigned ring_entries = 1024;
  std::uint32_t shutdown_grace_ms = 10'000;  // stop(): time allowed to finish in-flight work

  // Kafka. "" (the default here; `ringlog serve` listens on 127.0.0.1:9092): no Kafka listener.
  std::string kafka_listen;
  // What Metadata and FindCoordinator tell clients to connect to: "HOST:PORT" or "HOST" (the
  // bound port). "": the bound address, or the machine's hostname when bound to 0.0.0.0 / ::.
  std::string kafka_advertise;
  std::size_t kafka_max_frame_bytes = std::size_t{100} << 20;  // Kafka's socket.request.max.bytes
  // The server-wide budget for requests larger than one receive chunk (64 KiB), across all
  // connections of both protocols (like Kafka's queued.max.request.bytes): a Kafka frame holds
  // its share from its size prefix until it is answered, a line request with a body from its
  // command line until it is parsed. A connection whose next request does not fit is not read
  // until earlier ones give their share back (request_budget.h). At least the largest request
  // of either listener (kafka_max_frame_bytes + 4; the line, the larger body and "\r\n").
  std::size_t max_request_bytes = std::size_t{256} << 20;
  std::int32_t default_partitions = 1;  // of topics created by Kafka Metadata requests
  std::uint32_t kafka_group_initial_delay_ms = 1000;  // group.initial.rebalance.delay.ms
  // An Empty consumer group's in-memory state is dropped after this (group_coordinator.h).
  std::int64_t kafka_empty_group_expiration_ms = 600'000;
  // Kafka's producer.id.expiration.ms, and a cap on producer states (producer_state.h).
  std::int64_t kafka_producer_id_expiration_ms = 86'400'000;
  std::size_t kafka_max_producer_states = 100'000;
};

// Counters since the server started (a consistent-enough snapshot, for `stats` and tests).
struct ServerStats {
  std::uint64_t connections = 0;  // open now
  std::uint64_t connections_total = 0;
  std::uint64_t connections_rejected = 0;  // above max_connections
  std::uint64_t requests = 0;
  std::uint64_t errors = 0;  // error replies
  std::uint64_t puts = 0;
  std::uint64_t putbs = 0;
  std::uint64_t gets = 0;
  std::uint64_t fetches = 0;
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  std::uint64_t long_polls = 0;  // requests parked waiting for data
  std::uint64_t idle_closed = 0;
  std::uint64_t kafka_connections_total = 0;  // included in connections_total
  std::uint64_t kafka_requests = 0;           // included in requests
  std::uint64_t kafka_closed = 0;             // connections closed for a bad Kafka frame
  std::uint64_t kafka_parked_fetches = 0;     // Kafka long polls waiting for data now
  std::uint64_t request_bytes = 0;            // of max_request_bytes, reserved now
  std::uint64_t request_waits = 0;  // connections not read now because the budget is spent
  std::uint64_t timer_ticks = 0;    // the loop's timer wakeups (a waiting long poll must not spin)
};

class Server {
 public:
  // Binds and listens (so the port is known when this returns) and sets up the ring.
  static Result<std::unique_ptr<Server>> create(Engine& engine, ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The bound address, "127.0.0.1:41234".
  const std::string& address() const noexcept;
  std::uint16_t port() const noexcept;
  // The Kafka listener's bound address and port ("" and 0 without one), and what is advertised.
  const std::string& kafka_address() const noexcept;
  std::uint16_t kafka_port() const noexcept;
  const std::string& kafka_advertised() const noexcept;

  // Serves until stop(): then stops accepting, stops reading, lets in-flight appends complete
  // and their replies go out (up to shutdown_grace_ms), closes every connection and returns.
  // The Engine is left open: its owner closes it.
  Status run();
  void stop() noexcept;

  ServerStats stats() const;

  class Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ringlog::protocol
