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
// An accepted batch is reserved before it is appended (so pipelined requests are checked against
// each other) and completed or aborted when the engine answers. A retry that arrives while the
// original is still being appended waits for the original's outcome (Waiter).
// Threading: not thread-safe; the Kafka broker uses it from the event loop thread only.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <tuple>
#include <vector>

namespace ringlog::kafka {

class ProducerStateTable {
 public:
  static constexpr std::size_t kRememberedBatches = 5;

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

  Check check(const Key& key, const Batch& batch);
  // The reserved batch was stored at base_offset.
  void complete(const Key& key, const Batch& batch, std::int64_t base_offset);
  // The reserved batch failed with error_code; it is forgotten, so a retry is accepted again.
  void abort(const Key& key, const Batch& batch, std::int16_t error_code);
  // REQUIRES: check() said kWaitDuplicate for this batch.
  void wait(const Key& key, const Batch& batch, Waiter waiter);
  // A batch found in the log at base_offset (recovery; batches in log order): remembered as if
  // it had been appended and completed. A batch of an older epoch than the state's is ignored.
  void restore(const Key& key, const Batch& batch, std::int64_t base_offset);

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
  struct State {
    std::int16_t epoch = 0;
    std::deque<Entry> batches;  // oldest first, at most kRememberedBatches
  };

  Entry* find(State& state, const Batch& batch);

  std::map<Key, State> entries_;
};

}  // namespace ringlog::kafka
