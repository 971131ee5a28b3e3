// The server-wide request budget: reservations, first-come-first-served waiters, no lost grant.
#include <doctest/doctest.h>

#include "protocol/request_budget.h"

namespace ringlog::protocol {
namespace {

TEST_CASE("request budget: reservations that fit are granted at once") {
  RequestBudget budget(100);
  CHECK(budget.reserve(1, 60));
  CHECK(budget.reserve(2, 40));
  CHECK(budget.used_bytes() == 100);
  CHECK(budget.waiting() == 0);
}

TEST_CASE("request budget: a reservation that does not fit waits until bytes come back") {
  RequestBudget budget(100);
  REQUIRE(budget.reserve(1, 60));
  CHECK_FALSE(budget.reserve(2, 50));
  CHECK(budget.grant().empty());  // nothing given back yet
  budget.release(60);
  const auto granted = budget.grant();
  REQUIRE(granted.size() == 1);
  CHECK(granted[0].id == 2);
  CHECK(granted[0].bytes == 50);
  CHECK(budget.used_bytes() == 50);
  CHECK(budget.waiting() == 0);
}

TEST_CASE("request budget: waiters are served in order, a large one is not starved") {
  RequestBudget budget(100);
  REQUIRE(budget.reserve(1, 90));
  CHECK_FALSE(budget.reserve(2, 100));  // waits for everything
  CHECK_FALSE(budget.reserve(3, 5));    // would fit, but 2 came first
  budget.release(90);
  const auto first = budget.grant();
  REQUIRE(first.size() == 1);
  CHECK(first[0].id == 2);
  budget.release(100);
  const auto second = budget.grant();
  REQUIRE(second.size() == 1);
  CHECK(second[0].id == 3);
}

TEST_CASE("request budget: a waiter that leaves no longer holds the others back") {
  RequestBudget budget(100);
  REQUIRE(budget.reserve(1, 50));
  CHECK_FALSE(budget.reserve(2, 80));
  CHECK_FALSE(budget.reserve(3, 40));
  budget.forget(2);
  const auto granted = budget.grant();
  REQUIRE(granted.size() == 1);
  CHECK(granted[0].id == 3);
  CHECK(budget.used_bytes() == 90);
}

}  // namespace
}  // namespace ringlog::protocol
