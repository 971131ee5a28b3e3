// OrderGate: per-connection order. On one connection every request sees the effects of every
// request before it (a commit is applied before the next `committed` reads it, a `create` is
// visible to the next command), whatever runs concurrently on the worker pool or in the engine.
//
// Each request has an OrderClass. Before a request starts, the connection asks may_start(): if
// the answer is no, the connection stops parsing (it holds the request, and everything after it)
// until a completion re-checks the gate. The rules, by what is in flight before it:
//   kFree    never waits (ping, version, quit: they neither read nor change state).
//   kAppend  runs alongside earlier appends (the engine keeps partition order) and reads, but
//            waits for an earlier kChange.
//   kRead    runs alongside earlier reads, but waits for earlier appends and kChanges
//            (read-your-writes).
//   kChange  waits for everything earlier: appends, reads (parked long polls too), changes.
// The Kafka listener maps Produce to kAppend and every other request to kChange, so pipelined
// Produce requests run together and anything else runs alone, as a Kafka broker muting the
// channel until the response is sent does.
//
// start() counts a request in flight, finish() counts it out; each request that started is
// finished exactly once (its reply, an error or a delivery after a long poll). kFree is never
// counted. A connection that closes drops its gate with it; nothing is finished afterwards.
//
// Threading: one thread (the connection's event loop). Nothing here blocks or does I/O.
#pragma once

#include <array>
#include <cstdint>

#include "protocol/request.h"

namespace ringlog::protocol {

enum class OrderClass : std::uint8_t { kFree, kAppend, kRead, kChange };

// The class of a line-protocol command (docs/protocol.md, "Pipelining and order").
OrderClass order_class(Command command) noexcept;
// The class of a Kafka request by its api key (Produce is kAppend, anything else kChange).
OrderClass kafka_order_class(std::int16_t api_key) noexcept;

class OrderGate {
 public:
  // May a request of class `c` start now, given what is in flight?
  bool may_start(OrderClass c) const noexcept;
  // REQUIRES: may_start(c) (asserted).
  void start(OrderClass c) noexcept;
  // REQUIRES: a request of class `c` started and has not finished (asserted).
  void finish(OrderClass c) noexcept;

  unsigned in_flight(OrderClass c) const noexcept { return counts_[index(c)]; }
  bool idle() const noexcept;

 private:
  static std::size_t index(OrderClass c) noexcept { return static_cast<std::size_t>(c); }

  std::array<unsigned, 4> counts_{};  // kFree's stays 0
};

}  // namespace ringlog::protocol
