// A single-node Kafka group coordinator (the classic JoinGroup/SyncGroup protocol), driven by
// explicit time so tests are deterministic.
//
// Per group, Kafka's state machine:
//   Empty --join--> PreparingRebalance --window closed / all rejoined--> CompletingRebalance
//     --leader's SyncGroup--> Stable --join, leave or expiry--> PreparingRebalance ...
// * The first JoinGroup of a member (member_id "") assigns its id ("<client_id>-<n>-<start>");
//   MEMBER_ID_REQUIRED is never used.
// * A group formed from Empty waits initial_join_delay_ms for more members (Kafka's
//   group.initial.rebalance.delay.ms). A rebalance of a live group completes as soon as every
//   member has rejoined, or at the largest rebalance timeout, dropping members that did not.
// * Completing a join bumps the generation, keeps the leader if it rejoined (else the first
//   member), picks the leader's first protocol that every member supports, and answers every
//   pending JoinGroup; only the leader's response carries the member list.
// * SyncGroup from followers is held until the leader's arrives with the assignments.
// * Heartbeat: 25 UNKNOWN_MEMBER_ID, then 22 ILLEGAL_GENERATION, then 27 REBALANCE_IN_PROGRESS
//   while a rebalance is being prepared, else 0 (and the session is renewed).
// * LeaveGroup and session expiry (session_timeout_ms without a heartbeat, join or sync) remove
//   the member and start a rebalance. A member waiting in JoinGroup does not expire.
//
// * A group that has been Empty for empty_group_expiration_ms is forgotten (Kafka's Dead state:
//   Kafka removes an Empty group once it has no offsets, and a group's offsets live in the
//   engine, not here); a later JoinGroup creates it afresh at generation 0. So groups that
//   clients abandon cost memory for at most their members' session timeout plus that time.
//
// Delayed responses: join() and sync() take a callback that is invoked exactly once, possibly
// during a later join(), sync(), leave() or tick() call (the server drops the response if the
// connection has gone). Callbacks run after the coordinator's state is updated and must not call
// back into the coordinator. The server calls tick(now) at next_deadline_ms().
// Threading: not thread-safe; one event loop thread owns it.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/kafka/messages.h"

namespace ringlog::kafka {

struct CoordinatorOptions {
  std::int32_t initial_join_delay_ms = 1000;
  std::int32_t min_session_timeout_ms = 1000;     // Kafka: group.min.session.timeout.ms 6000
  std::int32_t max_session_timeout_ms = 1800000;  // Kafka: group.max.session.timeout.ms
  std::int64_t start_ms = 0;                      // makes member ids unique across restarts
  // An Empty group's in-memory state is dropped after this (10 min: Kafka looks for Empty
  // groups to remove every offsets.retention.check.interval.ms, 10 min by default).
  std::int64_t empty_group_expiration_ms = 600'000;
};

enum class GroupState : std::uint8_t { kEmpty, kPreparingRebalance, kCompletingRebalance, kStable };
std::string_view group_state_name(GroupState state) noexcept;

class GroupCoordinator {
 public:
  using JoinCallback = std::function<void(JoinGroupResponse)>;
  using SyncCallback = std::function<void(SyncGroupResponse)>;

  explicit GroupCoordinator(CoordinatorOptions options = {}) : options_(options) {}

  void join(const JoinGroupRequest& request, std::string_view client_id, std::int64_t now_ms,
            JoinCallback done);
  void sync(const SyncGroupRequest& request, std::int64_t now_ms, SyncCallback done);
  std::int16_t heartbeat(const HeartbeatRequest& request, std::int64_t now_ms);
  std::int16_t leave(const LeaveGroupRequest& request, std::int64_t now_ms);
  // May this (generation, member) commit offsets for the group now? A commit with generation -1
  // and no member id (a consumer that does not use group management) is accepted while the
  // group has no members. So is a commit from a member id this server handed out before it
  // restarted (its start tag is older than start_ms) while the group has not completed a
  // rebalance since: Kafka keeps group membership across a coordinator restart, ringlog does
  // not, and refusing those commits would make the new owner of a partition consume again what
  // the old one had consumed and was committing. Returns a Kafka error code.
  std::int16_t validate_commit(std::string_view group_id, std::int32_t generation_id,
                               std::string_view member_id, std::int64_t now_ms);

  // Closes join windows, expires sessions whose time has come and forgets groups that have been
  // Empty for empty_group_expiration_ms.
  void tick(std::int64_t now_ms);
  // When tick() next has something to do (nullopt: nothing pending).
  std::optional<std::int64_t> next_deadline_ms() const;

  // For tests, DescribeGroups-style introspection.
  struct GroupView {
    GroupState state;
    std::int32_t generation;
    std::string protocol;
    std::string leader;
    std::vector<std::string> members;  // in join order
  };
  std::optional<GroupView> describe(std::string_view group_id) const;
  // The ids of the groups that have members now (sorted).
  std::vector<std::string> groups_with_members() const;
  // Groups held in memory (with members or not yet expired).
  std::size_t groups() const noexcept { return groups_.size(); }

 private:
  struct Member {
    std::string id;
    std::optional<std::string> group_instance_id;
    std::int32_t session_timeout_ms = 0;
    std::int32_t rebalance_timeout_ms = 0;
    std::vector<JoinGroupRequest::Protocol> protocols;
    std::int64_t last_seen_ms = 0;
    JoinCallback pending_join;
    SyncCallback pending_sync;
    Bytes assignment;
  };
  struct Group {
    GroupState state = GroupState::kEmpty;
    std::int32_t generation = 0;
    std::string protocol_type;
    std::string protocol;
    std::string leader;
    std::vector<Member> members;  // join order
    std::int64_t join_deadline_ms = 0;
    bool initial_window = false;      // formed from Empty: wait the whole window
    std::int64_t empty_since_ms = 0;  // while Empty
  };
  // Responses to deliver once the state is consistent.
  using Deferred = std::vector<std::function<void()>>;

  static Member* find_member(Group& group, std::string_view id);
  bool protocols_compatible(const Group& group, const JoinGroupRequest& request) const;
  void prepare_rebalance(Group& group, std::int64_t now_ms, Deferred& out);
  void maybe_complete_join(Group& group, std::int64_t now_ms, Deferred& out);
  void complete_join(Group& group, std::int64_t now_ms, Deferred& out);
  std::string select_protocol(const Group& group) const;
  void remove_member(Group& group, std::string_view id, std::int64_t now_ms, Deferred& out);
  void expire_members(Group& group, std::int64_t now_ms, Deferred& out);
  std::string new_member_id(std::string_view client_id);
  // Is `member_id` one that a coordinator started before this one issued ("<client>-<n>-<start>"
  // with start < options_.start_ms)?
  bool issued_before_start(std::string_view member_id) const;

  CoordinatorOptions options_;
  std::map<std::string, Group, std::less<>> groups_;
  std::uint64_t member_counter_ = 0;
};

}  // namespace ringlog::kafka
