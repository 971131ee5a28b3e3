#include "protocol/order_gate.h"

#include <doctest/doctest.h>

namespace ringlog::protocol {
namespace {

constexpr OrderClass kFree = OrderClass::kFree;
constexpr OrderClass kAppend = OrderClass::kAppend;
constexpr OrderClass kRead = OrderClass::kRead;
constexpr OrderClass kChange = OrderClass::kChange;

TEST_CASE("order_gate: an idle connection starts anything") {
  OrderGate gate;
  for (OrderClass c : {kFree, kAppend, kRead, kChange})
    CHECK(gate.may_start(c));
  CHECK(gate.idle());
}

TEST_CASE("order_gate: ping, version and quit never wait") {
  OrderGate gate;
  gate.start(kChange);
  CHECK(gate.may_start(kFree));
  gate.start(kFree);
  CHECK(gate.in_flight(kFree) == 0);
  gate.finish(kChange);
  CHECK(gate.idle());
}

TEST_CASE("order_gate: appends run alongside appends and reads, not after a change") {
  OrderGate gate;
  gate.start(kAppend);
  CHECK(gate.may_start(kAppend));
  gate.start(kAppend);
  CHECK(gate.in_flight(kAppend) == 2);
  gate.finish(kAppend);
  gate.finish(kAppend);
  gate.start(kRead);
  CHECK(gate.may_start(kAppend));
  gate.finish(kRead);
  gate.start(kChange);
  CHECK_FALSE(gate.may_start(kAppend));
  gate.finish(kChange);
  CHECK(gate.may_start(kAppend));
}

TEST_CASE("order_gate: a read waits for earlier appends and changes, not for reads") {
  OrderGate gate;
  gate.start(kRead);
  CHECK(gate.may_start(kRead));
  gate.finish(kRead);
  gate.start(kAppend);
  CHECK_FALSE(gate.may_start(kRead));
  gate.finish(kAppend);
  CHECK(gate.may_start(kRead));
  gate.start(kChange);
  CHECK_FALSE(gate.may_start(kRead));
  gate.finish(kChange);
  CHECK(gate.may_start(kRead));
}

TEST_CASE("order_gate: a change waits until everything earlier has finished") {
  for (OrderClass earlier : {kAppend, kRead, kChange}) {
    CAPTURE(static_cast<int>(earlier));
    OrderGate gate;
    gate.start(earlier);
    gate.start(kFree);
    CHECK_FALSE(gate.may_start(kChange));
    gate.finish(earlier);
    CHECK(gate.may_start(kChange));
  }
}

TEST_CASE("order_gate: every reader waits while the last of several appends is in flight") {
  OrderGate gate;
  gate.start(kAppend);
  gate.start(kAppend);
  gate.finish(kAppend);
  CHECK_FALSE(gate.may_start(kRead));
  CHECK_FALSE(gate.may_start(kChange));
  gate.finish(kAppend);
  CHECK(gate.may_start(kRead));
  CHECK(gate.may_start(kChange));
}

TEST_CASE("order_gate: line commands map to their classes") {
  CHECK(order_class(Command::kPing) == kFree);
  CHECK(order_class(Command::kVersion) == kFree);
  CHECK(order_class(Command::kQuit) == kFree);
  CHECK(order_class(Command::kPut) == kAppend);
  CHECK(order_class(Command::kPutb) == kAppend);
  for (Command c : {Command::kGet, Command::kFetch, Command::kOffsets, Command::kCommitted,
                    Command::kTopics, Command::kDescribe, Command::kStats}) {
    CHECK(order_class(c) == kRead);
  }
  for (Command c : {Command::kCommit, Command::kCreate, Command::kDelete})
    CHECK(order_class(c) == kChange);
}

TEST_CASE("order_gate: Kafka Produce runs pipelined, every other request alone") {
  CHECK(kafka_order_class(0) == kAppend);  // Produce
  for (std::int16_t key : {1, 3, 8, 9, 11, 18, 19, -1, 999})
    CHECK(kafka_order_class(key) == kChange);
}

}  // namespace
}  // namespace ringlog::protocol
