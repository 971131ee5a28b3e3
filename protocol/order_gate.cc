#include "protocol/order_gate.h"

#include "io/assert.h"
#include "protocol/kafka/api.h"

namespace ringlog::protocol {

OrderClass order_class(Command command) noexcept {
  switch (command) {
    case Command::kPing:
    case Command::kVersion:
    case Command::kQuit:
      return OrderClass::kFree;
    case Command::kPut:
    case Command::kPutb:
      return OrderClass::kAppend;
    case Command::kCommit:
    case Command::kCreate:
    case Command::kDelete:
      return OrderClass::kChange;
    case Command::kGet:
    case Command::kFetch:
    case Command::kOffsets:
    case Command::kCommitted:
    case Command::kTopics:
    case Command::kDescribe:
    case Command::kStats:
      return OrderClass::kRead;
  }
  return OrderClass::kChange;  // unreachable: the strictest class
}

OrderClass kafka_order_class(std::int16_t api_key) noexcept {
  return api_key == static_cast<std::int16_t>(kafka::ApiKey::kProduce) ? OrderClass::kAppend
                                                                       : OrderClass::kChange;
}

bool OrderGate::may_start(OrderClass c) const noexcept {
  const unsigned appends = in_flight(OrderClass::kAppend);
  const unsigned changes = in_flight(OrderClass::kChange);
  switch (c) {
    case OrderClass::kFree:
      return true;
    case OrderClass::kAppend:
      return changes == 0;
    case OrderClass::kRead:
      return changes == 0 && appends == 0;
    case OrderClass::kChange:
      return idle();
  }
  return false;
}

void OrderGate::start(OrderClass c) noexcept {
  RINGLOG_ASSERT(may_start(c));
  if (c != OrderClass::kFree) ++counts_[index(c)];
}

void OrderGate::finish(OrderClass c) noexcept {
  if (c == OrderClass::kFree) return;
  RINGLOG_ASSERT(counts_[index(c)] > 0);
  --counts_[index(c)];
}

bool OrderGate::idle() const noexcept {
  return counts_[index(OrderClass::kAppend)] == 0 && counts_[index(OrderClass::kRead)] == 0 &&
         counts_[index(OrderClass::kChange)] == 0;
}

}  // namespace ringlog::protocol
