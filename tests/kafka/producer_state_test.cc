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

  // Checks and, when accepted, stores a batch of `count` records: returns the verdict.
  Verdict send(std::int16_t epoch, std::int32_t first_seq, std::int32_t count) {
    const ProducerStateTable::Batch b{epoch, first_seq,
                                      ProducerStateTable::last_sequence(first_seq, count)};
    const auto check = table.check(key, b);
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
  CHECK(table.check(other, {3, 40, 40}).verdict == Verdict::kAppend);  // per partition
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
  REQUIRE(table.check(key, a).verdict == Verdict::kAppend);
  REQUIRE(table.check(key, b).verdict == Verdict::kAppend);  // a still pending
  SUBCASE("a retry of a pending batch waits for its outcome") {
    REQUIRE(table.check(key, a).verdict == Verdict::kWaitDuplicate);
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
    CHECK(table.check(key, b).verdict == Verdict::kAppend);
  }
}

}  // namespace
}  // namespace ringlog::kafka
