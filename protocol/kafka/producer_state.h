// Idempotent producer bookkeeping (KIP-98), per (producer id, topic, partition), as Kafka's
// ProducerStateManager does it for one node:
//   * sequences count records: a batch [first_seq, last_seq] is accepted when first_seq is the
//     last accepted last_seq + 1 (wrapping at INT32_MAX to 0);
//   * the last 5 accepted batches are remembered (librdkafka keeps up to 5 requests in flight):
//     a retry of one of them is a duplicate, answered NO_ERROR with the original base offset;
//   * a gap or an overlap is OUT_OF_ORDER_SEQUENCE_NUMBER (45);
//   * a higher epoch (the idempotent producer bumps its own) is accepted when its sequence
//     restarts at 0 and resets the state; a lower epoch is INVALID_PRODUCER_EPOCH (47);
//   * a producer with no state on this partition is accepted at any sequence. After a restart
//     the Broker restores the state from the batches at the tail of the log (restore(), fed by
//     producer_recovery.h) before the partition's first idempotent Produce; a producer whose
//     batches are all older than that tail is new again.
//
// Expiry (Kafka's producer.id.expiration.ms): the state of a producer on a partition is forgotten
// once its last write there (accepted or restored) is expiration_ms old, unless a batch of it is
// still being appended; the producer is then new again on that partition (accepted at any
// sequence, as Kafka does for a producer whose state it no longer has). At most max_states states
// are kept: a new one beyond that evicts the least recently written idle state first, so the
// table's memory is bounded (about 800 bytes a state) even before expiry.
//
// An accepted batch is reserved before it is appended (so pipelined requests are checked against
// each other) and completed or aborted when the engine answers. A retry that arrives while the
// original is still being appended waits for the original's outcome (Waiter).
// Threading: not thread-safe; the Kafka broker uses it from the event loop thread only.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <string>
#include <tuple>
#include <vector>

namespace ringlog::kafka {

class ProducerStateTable {
 public:
  static constexpr std::size_t kRememberedBatches = 5;
  static constexpr std::int64_t kDefaultExpirationMs = 86'400'000;  // Kafka's default: 1 day
  static constexpr std::size_t kDefaultMaxStates = 100'000;

  struct Key {
    std::int64_t producer_id;
    std::string topic;
    std::int32_t partition;
    auto operator<=>(const Key&) const = default;
  };
  struct Batch {
    std::int16_t epoch;
    std::int32_t first_seq;
    std::int32_t last_seq;
  };

  enum class Verdict : std::uint8_t {
    kAppend,         // reserved: append it, then complete() or abort()
    kDuplicate,      // already stored at base_offset: answer NO_ERROR with it
    kWaitDuplicate,  // a retry of a batch still being appended: wait() for its outcome
    kOutOfOrder,     // error 45
    kFencedEpoch,    // error 47
  };
  struct Check {
    Verdict verdict;
    std::int64_t base_offset = -1;  // kDuplicate
  };
  // error_code 0 with the batch's base offset, or the append's Kafka error code.
  using Waiter = std::function<void(std::int16_t error_code, std::int64_t base_offset)>;

  explicit ProducerStateTable(std::int64_t expiration_ms = kDefaultExpirationMs,
                              std::size_t max_states = kDefaultMaxStates)
      : expiration_ms_(expiration_ms), max_states_(max_states) {}
  ProducerStateTable(const ProducerStateTable&) = delete;
  ProducerStateTable& operator=(const ProducerStateTable&) = delete;

  // `now_ms`: a clock that never goes back (the state's last write, for expiry).
  Check check(const Key& key, const Batch& batch, std::int64_t now_ms);
  // The reserved batch was stored at base_offset.
  void complete(const Key& key, const Batch& batch, std::int64_t base_offset);
  // The reserved batch failed with error_code; it is forgotten, so a retry is accepted again.
  void abort(const Key& key, const Batch& batch, std::int16_t error_code);
  // REQUIRES: check() said kWaitDuplicate for this batch.
  void wait(const Key& key, const Batch& batch, Waiter waiter);
  // A batch found in the log at base_offset (recovery; batches in log order): remembered as if
  // it had been appended and completed. A batch of an older epoch than the state's is ignored.
  void restore(const Key& key, const Batch& batch, std::int64_t base_offset, std::int64_t now_ms);
  // Forgets the idle states whose last write is expiration_ms old at now_ms; returns how many.
  std::size_t expire(std::int64_t now_ms);

  // States, one per (producer id, topic, partition).
  std::size_t producers() const noexcept { return entries_.size(); }

  // Next sequence after `seq` (Kafka wraps at INT32_MAX).
  static std::int32_t next_sequence(std::int32_t seq) noexcept;
  // The last sequence of a batch of `record_count` records starting at `first_seq`.
  static std::int32_t last_sequence(std::int32_t first_seq, std::int32_t record_count) noexcept;

 private:
  struct Entry {
    std::int64_t base_offset = -1;  // -1 while pending
    std::int32_t first_seq = 0;
    std::int32_t last_seq = 0;
    std::vector<Waiter> waiters;
  };
  struct State;
  using Entries = std::map<Key, State>;
  struct State {
    std::int16_t epoch = 0;
    std::deque<Entry> batches;  // oldest first, at most kRememberedBatches
    std::int64_t last_write_ms = 0;
    std::list<Entries::iterator>::iterator age;  // its place in by_age_
  };

  Entry* find(State& state, const Batch& batch);
  static bool appending(const State& state) noexcept;
  // The state of `key`, created if need be; its last write is now.
  Entries::iterator touch(const Key& key, std::int64_t now_ms);
  void forget(Entries::iterator it);
  void evict_beyond_max();

  std::int64_t expiration_ms_;
  std::size_t max_states_;
  Entries entries_;
  std::list<Entries::iterator> by_age_;  // least recently written first
};

}  // namespace ringlog::kafka
