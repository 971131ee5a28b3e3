// The idempotent producer table: sequences per record, the last 5 batches, epochs.
#include <doctest/doctest.h>

#include <limits>

#include "protocol/kafka/api.h"
#include "protocol/kafka/producer_state.h"

namespace ringlog::kafka {
namespace {

using Verdict = ProducerStateTable::Verdict;

struct ProducerFixture {
  ProducerStateTable table;
  ProducerStateTable::Key key{1000, "orders", 0};
  std::int64_t next_offset = 0;
  std::int64_t now_ms = 0;

  // Checks and, when accepted, stores a batch of `count` records: returns the verdict.
  Verdict send(std::int16_t epoch, std::int32_t first_seq, std::int32_t count) {
    const ProducerStateTable::Batch b{epoch, first_seq,
                                      ProducerStateTable::last_sequence(first_seq, count)};
    const auto check = table.check(key, b, now_ms);
    if (check.verdict == Verdict::kAppend) {
      table.complete(key, b, next_offset);
      next_offset += count;
    }
    last_base_offset = check.base_offset;
    return check.verdict;
  }
  std::int64_t last_base_offset = -1;
};

TEST_CASE_FIXTURE(ProducerFixture, "idempotence: sequences count records, not batches") {
  CHECK(send(0, 0, 2) == Verdict::kAppend);
  CHECK(send(0, 2, 3) == Verdict::kAppend);
  CHECK(send(0, 5, 1) == Verdict::kAppend);
  CHECK(next_offset == 6);
}

TEST_CASE_FIXTURE(ProducerFixture, "idempotence: a retried batch is a duplicate at its offset") {
  REQUIRE(send(0, 0, 2) == Verdict::kAppend);
  REQUIRE(send(0, 2, 3) == Verdict::kAppend);
  CHECK(send(0, 0, 2) == Verdict::kDuplicate);
  CHECK(last_base_offset == 0);
  CHECK(send(0, 2, 3) == Verdict::kDuplicate);
  CHECK(last_base_offset == 2);
  CHECK(next_offset == 5);
}

TEST_CASE_FIXTURE(ProducerFixture, "idempotence: only the last 5 batches are remembered") {
  for (int i = 0; i < 6; ++i)
    REQUIRE(send(0, i, 1) == Verdict::kAppend);
  CHECK(send(0, 1, 1) == Verdict::kDuplicate);   // batches 1..5 remembered
  CHECK(send(0, 0, 1) == Verdict::kOutOfOrder);  // batch 0 forgotten
}

TEST_CASE_FIXTURE(ProducerFixture, "idempotence: a gap or an overlap is out of order") {
  REQUIRE(send(0, 0, 2) == Verdict::kAppend);
  CHECK(send(0, 3, 1) == Verdict::kOutOfOrder);  // expected 2
  CHECK(send(0, 1, 2) == Verdict::kOutOfOrder);  // overlaps, not a known batch
  CHECK(send(0, 2, 1) == Verdict::kAppend);
}

TEST_CASE_FIXTURE(ProducerFixture, "idempotence: an epoch bump restarts the sequence at 0") {
  REQUIRE(send(0, 0, 3) == Verdict::kAppend);
  CHECK(send(1, 5, 1) == Verdict::kOutOfOrder);  // a new epoch must start at 0
  CHECK(send(1, 0, 1) == Verdict::kAppend);
  CHECK(send(0, 3, 1) == Verdict::kFencedEpoch);  // the old epoch is fenced
  CHECK(send(1, 1, 1) == Verdict::kAppend);
}

TEST_CASE_FIXTURE(ProducerFixture, "idempotence: an unknown producer is accepted at any sequence") {
  CHECK(send(3, 17, 2) == Verdict::kAppend);  // e.g. after a broker restart
  CHECK(send(3, 19, 1) == Verdict::kAppend);
  ProducerStateTable::Key other{1000, "orders", 1};
  CHECK(table.check(other, {3, 40, 40}, now_ms).verdict == Verdict::kAppend);  // per partition
}

TEST_CASE_FIXTURE(ProducerFixture, "idempotence: sequences wrap at INT32_MAX") {
  const std::int32_t max = std::numeric_limits<std::int32_t>::max();
  CHECK(ProducerStateTable::last_sequence(max - 1, 3) == 0);
  CHECK(ProducerStateTable::next_sequence(max) == 0);
  REQUIRE(send(0, max - 1, 2) == Verdict::kAppend);
  CHECK(send(0, 0, 1) == Verdict::kAppend);
}

TEST_CASE_FIXTURE(ProducerFixture, "idempotence: pipelined batches are checked against pending") {
  const ProducerStateTable::Batch a{0, 0, 1};
  const ProducerStateTable::Batch b{0, 2, 2};
  REQUIRE(table.check(key, a, now_ms).verdict == Verdict::kAppend);
  REQUIRE(table.check(key, b, now_ms).verdict == Verdict::kAppend);  // a still pending
  SUBCASE("a retry of a pending batch waits for its outcome") {
    REQUIRE(table.check(key, a, now_ms).verdict == Verdict::kWaitDuplicate);
    std::int16_t code = -5;
    std::int64_t offset = -5;
    table.wait(key, a, [&](std::int16_t c, std::int64_t o) {
      code = c;
      offset = o;
    });
    table.complete(key, a, 100);
    CHECK(code == error::kNone);
    CHECK(offset == 100);
  }
  SUBCASE("a failed append is forgotten so that its retry is accepted") {
    table.abort(key, b, error::kKafkaStorageError);
    CHECK(table.check(key, b, now_ms).verdict == Verdict::kAppend);
  }
}

// Appends a one-record batch for `key` at sequence `seq` and completes it at offset `seq`.
Verdict write(ProducerStateTable& table, const ProducerStateTable::Key& key, std::int32_t seq,
              std::int64_t now_ms) {
  const ProducerStateTable::Batch b{0, seq, seq};
  const auto check = table.check(key, b, now_ms);
  if (check.verdict == Verdict::kAppend) table.complete(key, b, seq);
  return check.verdict;
}

TEST_CASE("idempotence: a producer idle for the expiration time is forgotten and new again") {
  ProducerStateTable table(/*expiration_ms=*/1000);
  const ProducerStateTable::Key key{7, "orders", 0};
  REQUIRE(write(table, key, 0, 0) == Verdict::kAppend);
  REQUIRE(write(table, key, 1, 500) == Verdict::kAppend);
  CHECK(table.expire(1499) == 0);
  CHECK(write(table, key, 1, 1499) == Verdict::kDuplicate);  // a duplicate is not a write
  CHECK(table.expire(1500) == 1);
  CHECK(table.producers() == 0);
  // As Kafka treats a producer whose state it no longer has: any sequence is accepted.
  CHECK(write(table, key, 40, 1600) == Verdict::kAppend);
  CHECK(write(table, key, 0, 1600) == Verdict::kOutOfOrder);
}

TEST_CASE("idempotence: a producer with a batch being appended does not expire") {
  ProducerStateTable table(/*expiration_ms=*/1000);
  const ProducerStateTable::Key key{7, "orders", 0};
  const ProducerStateTable::Batch b{0, 0, 0};
  REQUIRE(table.check(key, b, 0).verdict == Verdict::kAppend);
  CHECK(table.expire(5000) == 0);
  table.complete(key, b, 0);
  CHECK(table.expire(5000) == 1);
}

TEST_CASE("idempotence: beyond max_states the least recently written idle state goes first") {
  ProducerStateTable table(/*expiration_ms=*/1'000'000, /*max_states=*/2);
  const ProducerStateTable::Key a{1, "t", 0};
  const ProducerStateTable::Key b{2, "t", 0};
  const ProducerStateTable::Key c{3, "t", 0};
  REQUIRE(write(table, a, 0, 0) == Verdict::kAppend);
  REQUIRE(write(table, b, 0, 1) == Verdict::kAppend);
  REQUIRE(write(table, a, 1, 2) == Verdict::kAppend);  // a is now the most recent
  REQUIRE(write(table, c, 0, 3) == Verdict::kAppend);  // evicts b
  CHECK(table.producers() == 2);
  CHECK(write(table, a, 1, 4) == Verdict::kDuplicate);  // a kept its state
  CHECK(write(table, b, 9, 5) == Verdict::kAppend);     // b is new again (evicts a, older)
  CHECK(table.producers() == 2);
}

}  // namespace
}  // namespace ringlog::kafka
