// The group coordinator's state machine with explicit time.
#include <doctest/doctest.h>

#include <optional>

#include "kafka_test_support.h"
#include "protocol/kafka/api.h"
#include "protocol/kafka/group_coordinator.h"

namespace ringlog::kafka {
namespace {

using test::bytes_of;

struct GroupFixture {
  GroupCoordinator coordinator{{.initial_join_delay_ms = 100,
                                .min_session_timeout_ms = 1000,
                                .max_session_timeout_ms = 600000,
                                .start_ms = 1}};
  std::int64_t now_ms = 1000;

  struct PendingJoin {
    std::optional<JoinGroupResponse> response;
  };
  struct PendingSync {
    std::optional<SyncGroupResponse> response;
  };

  std::shared_ptr<PendingJoin> join(const std::string& member_id, const std::string& client,
                                    std::vector<std::string> protocols = {"range"},
                                    std::int32_t session_ms = 10000) {
    JoinGroupRequest r;
    r.group_id = "grp";
    r.session_timeout_ms = session_ms;
    r.rebalance_timeout_ms = 30000;
    r.member_id = member_id;
    r.protocol_type = "consumer";
    for (const std::string& p : protocols) {
      r.protocols.push_back({p, bytes_of({static_cast<int>(client[0])})});
    }
    auto pending = std::make_shared<PendingJoin>();
    coordinator.join(r, client, now_ms, [pending](JoinGroupResponse resp) {
      REQUIRE_FALSE(pending->response.has_value());  // exactly once
      pending->response = std::move(resp);
    });
    return pending;
  }

  std::shared_ptr<PendingSync> sync(const std::string& member_id, std::int32_t generation,
                                    std::vector<SyncGroupRequest::Assignment> assignments = {}) {
    SyncGroupRequest r{"grp", generation, member_id, std::nullopt, std::move(assignments)};
    auto pending = std::make_shared<PendingSync>();
    coordinator.sync(r, now_ms, [pending](SyncGroupResponse resp) {
      REQUIRE_FALSE(pending->response.has_value());
      pending->response = std::move(resp);
    });
    return pending;
  }

  std::int16_t heartbeat(const std::string& member_id, std::int32_t generation) {
    return coordinator.heartbeat({"grp", generation, member_id, std::nullopt}, now_ms);
  }

  void advance(std::int64_t ms) {
    now_ms += ms;
    coordinator.tick(now_ms);
  }

  GroupState state() const { return coordinator.describe("grp")->state; }

  // A alone, joined and synced with assignment {p0,p1}: returns A's member id.
  std::string stable_with_one_member() {
    auto a = join("", "A");
    CHECK_FALSE(a->response.has_value());  // the join window is open
    advance(100);
    REQUIRE(a->response.has_value());
    const JoinGroupResponse& r = *a->response;
    REQUIRE(r.error_code == 0);
    CHECK(r.generation_id == 1);
    CHECK(r.leader == r.member_id);
    CHECK(r.protocol_name == "range");
    CHECK(r.members.size() == 1);
    auto s = sync(r.member_id, 1, {{r.member_id, bytes_of({0, 1})}});
    REQUIRE(s->response.has_value());
    CHECK(s->response->assignment == bytes_of({0, 1}));
    CHECK(state() == GroupState::kStable);
    return r.member_id;
  }
};

TEST_CASE_FIXTURE(GroupFixture, "group: a first member gets an id, waits the window, leads") {
  const std::string a = stable_with_one_member();
  CHECK(a.rfind("A-", 0) == 0);
  CHECK(heartbeat(a, 1) == error::kNone);
}

TEST_CASE_FIXTURE(GroupFixture,
                  "group: a second member rebalances {A: p0,p1} into {A: p0, B: p1}") {
  const std::string a = stable_with_one_member();
  auto b_join = join("", "B");
  CHECK_FALSE(b_join->response.has_value());  // waits for A to rejoin
  CHECK(state() == GroupState::kPreparingRebalance);
  CHECK(heartbeat(a, 1) == error::kRebalanceInProgress);

  auto a_join = join(a, "A");
  REQUIRE(a_join->response.has_value());
  REQUIRE(b_join->response.has_value());
  const JoinGroupResponse& ra = *a_join->response;
  const JoinGroupResponse& rb = *b_join->response;
  CHECK(ra.generation_id == 2);
  CHECK(rb.generation_id == 2);
  CHECK(ra.leader == a);  // the leader is kept
  CHECK(rb.leader == a);
  CHECK(ra.members.size() == 2);  // only the leader gets the member list
  CHECK(rb.members.empty());
  const std::string b = rb.member_id;

  auto b_sync = sync(b, 2);
  CHECK_FALSE(b_sync->response.has_value());  // held until the leader's assignment
  CHECK(heartbeat(b, 2) == error::kNone);
  auto a_sync = sync(a, 2, {{a, bytes_of({0})}, {b, bytes_of({1})}});
  REQUIRE(a_sync->response.has_value());
  REQUIRE(b_sync->response.has_value());
  CHECK(a_sync->response->assignment == bytes_of({0}));
  CHECK(b_sync->response->assignment == bytes_of({1}));
  CHECK(state() == GroupState::kStable);
  CHECK(heartbeat(a, 1) == error::kIllegalGeneration);  // stale generation
  CHECK(heartbeat("nobody", 2) == error::kUnknownMemberId);
}

TEST_CASE_FIXTURE(GroupFixture, "group: a member that stops heartbeating expires") {
  const std::string a = stable_with_one_member();
  auto b_join = join("", "B");
  REQUIRE(join(a, "A")->response.has_value());
  const std::string b = b_join->response->member_id;
  sync(b, 2);
  sync(a, 2, {{a, bytes_of({0})}, {b, bytes_of({1})}});
  REQUIRE(state() == GroupState::kStable);

  for (int i = 0; i < 3; ++i) {
    advance(3000);
    CHECK(heartbeat(a, 2) == error::kNone);  // only A keeps its session alive
  }
  CHECK(state() == GroupState::kStable);
  advance(3000);
  // B's 10 s session has passed: it is gone and A is told to rejoin.
  CHECK(state() == GroupState::kPreparingRebalance);
  CHECK(heartbeat(b, 2) == error::kUnknownMemberId);
  CHECK(heartbeat(a, 2) == error::kRebalanceInProgress);
  auto again = join(a, "A");
  REQUIRE(again->response.has_value());
  CHECK(again->response->generation_id == 3);
  CHECK(again->response->members.size() == 1);
}

TEST_CASE_FIXTURE(GroupFixture, "group: members that do not rejoin in time are dropped") {
  const std::string a = stable_with_one_member();
  auto b_join = join("", "B");
  CHECK_FALSE(b_join->response.has_value());
  REQUIRE(coordinator.next_deadline_ms().has_value());
  advance(30000);  // A's rebalance timeout
  REQUIRE(b_join->response.has_value());
  CHECK(b_join->response->leader == b_join->response->member_id);  // A is gone: B leads
  CHECK(heartbeat(a, 1) == error::kUnknownMemberId);
}

TEST_CASE_FIXTURE(GroupFixture, "group: leaving triggers a rebalance, the last leaver empties it") {
  const std::string a = stable_with_one_member();
  auto b_join = join("", "B");
  REQUIRE(join(a, "A")->response.has_value());
  const std::string b = b_join->response->member_id;
  sync(a, 2, {{a, bytes_of({0})}, {b, bytes_of({1})}});
  REQUIRE(state() == GroupState::kStable);

  CHECK(coordinator.leave({"grp", b}, now_ms) == error::kNone);
  CHECK(state() == GroupState::kPreparingRebalance);
  auto rejoin = join(a, "A");
  REQUIRE(rejoin->response.has_value());  // everyone left has rejoined
  CHECK(rejoin->response->generation_id == 3);
  CHECK(coordinator.leave({"grp", b}, now_ms) == error::kUnknownMemberId);
  CHECK(coordinator.leave({"grp", a}, now_ms) == error::kNone);
  CHECK(state() == GroupState::kEmpty);
}

TEST_CASE_FIXTURE(GroupFixture, "group: an abandoned group is forgotten once Empty long enough") {
  const std::string a = stable_with_one_member();
  advance(10000);  // A never heartbeats: its session expires and the group is Empty
  REQUIRE(state() == GroupState::kEmpty);
  advance(CoordinatorOptions{}.empty_group_expiration_ms - 1);
  CHECK(coordinator.groups() == 1);
  advance(1);
  CHECK(coordinator.groups() == 0);
  CHECK_FALSE(coordinator.describe("grp").has_value());
  CHECK(heartbeat(a, 1) == error::kUnknownMemberId);
  auto again = join("", "B");
  advance(100);
  REQUIRE(again->response.has_value());
  CHECK(again->response->generation_id == 1);  // created afresh, as Kafka does after Dead
}

TEST_CASE_FIXTURE(GroupFixture, "group: a group with members never expires") {
  const std::string a = stable_with_one_member();
  for (int i = 0; i < 70; ++i) {
    advance(9000);
    REQUIRE(heartbeat(a, 1) == error::kNone);
  }
  CHECK(coordinator.groups() == 1);
  CHECK(state() == GroupState::kStable);
}

TEST_CASE_FIXTURE(GroupFixture, "group: a SyncGroup held for the leader learns of a rebalance") {
  const std::string a = stable_with_one_member();
  auto b_join = join("", "B");
  REQUIRE(join(a, "A")->response.has_value());
  const std::string b = b_join->response->member_id;
  auto b_sync = sync(b, 2);
  REQUIRE_FALSE(b_sync->response.has_value());
  auto c_join = join("", "C");  // a third member arrives before the leader syncs
  REQUIRE(b_sync->response.has_value());
  CHECK(b_sync->response->error_code == error::kRebalanceInProgress);
  CHECK_FALSE(c_join->response.has_value());
}

TEST_CASE_FIXTURE(GroupFixture, "group: protocols are chosen by the leader among common ones") {
  auto a = join("", "A", {"roundrobin", "range"});
  auto b = join("", "B", {"range"});
  advance(100);
  REQUIRE(a->response.has_value());
  REQUIRE(b->response.has_value());
  CHECK(a->response->protocol_name == "range");
  auto c = join("", "C", {"sticky"});  // nothing in common
  REQUIRE(c->response.has_value());
  CHECK(c->response->error_code == error::kInconsistentGroupProtocol);
}

TEST_CASE_FIXTURE(GroupFixture, "group: unknown members and bad session timeouts are refused") {
  auto unknown = join("ghost", "A");
  REQUIRE(unknown->response.has_value());
  CHECK(unknown->response->error_code == error::kUnknownMemberId);
  auto tiny = join("", "A", {"range"}, 10);
  REQUIRE(tiny->response.has_value());
  CHECK(tiny->response->error_code == error::kInvalidSessionTimeout);
  auto s = sync("ghost", 1);
  REQUIRE(s->response.has_value());
  CHECK(s->response->error_code == error::kUnknownMemberId);
}

TEST_CASE_FIXTURE(GroupFixture, "group: commits are checked against generation and member") {
  CHECK(coordinator.validate_commit("solo", -1, "", now_ms) == error::kNone);
  const std::string a = stable_with_one_member();
  CHECK(coordinator.validate_commit("grp", 1, a, now_ms) == error::kNone);
  CHECK(coordinator.validate_commit("grp", 0, a, now_ms) == error::kIllegalGeneration);
  CHECK(coordinator.validate_commit("grp", 1, "ghost", now_ms) == error::kUnknownMemberId);
}

TEST_CASE_FIXTURE(GroupFixture,
                  "group: commits of members from before a restart are accepted until the group "
                  "rebalances") {
  GroupCoordinator restarted{{.initial_join_delay_ms = 100,
                              .min_session_timeout_ms = 1000,
                              .max_session_timeout_ms = 600000,
                              .start_ms = 5000}};
  CHECK(restarted.validate_commit("grp", 3, "rdkafka-2-4000", now_ms) == error::kNone);
  CHECK(restarted.validate_commit("grp", 3, "rdkafka-2-6000", now_ms) ==
        error::kIllegalGeneration);  // not issued before this start
  CHECK(restarted.validate_commit("grp", 3, "ghost", now_ms) == error::kIllegalGeneration);
  CHECK(restarted.validate_commit("grp", 3, "x-y-4000", now_ms) == error::kIllegalGeneration);
  // The fixture's coordinator (start 1) after a completed rebalance: old ids are fenced again.
  const std::string a = stable_with_one_member();
  CHECK(coordinator.validate_commit("grp", 3, "rdkafka-2-0", now_ms) == error::kUnknownMemberId);
  CHECK(coordinator.validate_commit("grp", 1, a, now_ms) == error::kNone);
}

}  // namespace
}  // namespace ringlog::kafka
