// The server-wide budget for buffered request bytes (ServerOptions::max_request_bytes): the
// bytes of large requests being received, plus those handed on until they are answered, across
// every connection. It is what bounds the memory that clients can make the server hold for
// requests, whatever their number: a connection whose next request does not fit waits, unread,
// until earlier requests are answered or their connections close.
//
//   if (!budget.reserve(conn.id, frame_bytes)) return;   // not read until granted
//   ...
//   budget.release(frame_bytes);                           // answered
//   for (const auto& [id, bytes] : budget.grant()) resume(id, bytes);
//
// Waiters are granted in arrival order, and a waiter that does not fit holds back those behind
// it, so a large request is not starved by a stream of smaller ones. Every reservation is at most
// limit_bytes (REQUIRES), so the first waiter is granted once the budget drains: a waiter can
// only be held up by reservations that their requests' answers or closes give back, never by
// other waiters.
// Threading: not thread-safe; the server's event loop owns it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <utility>
#include <vector>

namespace ringlog::protocol {

class RequestBudget {
 public:
  struct Grant {
    std::uint64_t id;
    std::size_t bytes;
  };

  explicit RequestBudget(std::size_t limit_bytes) : limit_bytes_(limit_bytes) {}

  // Reserves `bytes` for `id` if they fit and nobody waits; else queues `id` and returns false.
  // REQUIRES: 0 < bytes <= limit_bytes(), and `id` is not waiting already.
  bool reserve(std::uint64_t id, std::size_t bytes);
  // Gives back bytes of a reservation (its request was answered, or its connection closed).
  void release(std::size_t bytes) noexcept;
  // Reserves for the waiters that now fit, in order, and returns them: each must be resumed.
  std::vector<Grant> grant();
  // `id` no longer waits (its connection closed). No-op if it does not.
  void forget(std::uint64_t id);

  std::size_t used_bytes() const noexcept { return used_bytes_; }
  std::size_t limit_bytes() const noexcept { return limit_bytes_; }
  std::size_t waiting() const noexcept { return waiting_.size(); }

 private:
  std::size_t limit_bytes_;
  std::size_t used_bytes_ = 0;
  std::deque<Grant> waiting_;
};

}  // namespace ringlog::protocol
