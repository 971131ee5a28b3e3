#include "protocol/kafka/group_coordinator.h"

#include <algorithm>

namespace ringlog::kafka {
namespace {

JoinGroupResponse join_error(std::int16_t code, std::string member_id = {}) {
  JoinGroupResponse r;
  r.error_code = code;
  r.member_id = std::move(member_id);
  return r;
}

SyncGroupResponse sync_error(std::int16_t code) {
  SyncGroupResponse r;
  r.error_code = code;
  return r;
}

void run(GroupCoordinator::JoinCallback& cb, std::vector<std::function<void()>>& out,
         JoinGroupResponse response) {
  if (!cb) return;
  out.push_back(
      [cb = std::move(cb), response = std::move(response)]() mutable { cb(std::move(response)); });
  cb = nullptr;
}

void run(GroupCoordinator::SyncCallback& cb, std::vector<std::function<void()>>& out,
         SyncGroupResponse response) {
  if (!cb) return;
  out.push_back(
      [cb = std::move(cb), response = std::move(response)]() mutable { cb(std::move(response)); });
  cb = nullptr;
}

void deliver(std::vector<std::function<void()>>& out) {
  for (auto& f : out)
    f();
}

bool supports(const std::vector<JoinGroupRequest::Protocol>& protocols, std::string_view name) {
  return std::any_of(protocols.begin(), protocols.end(),
                     [&](const JoinGroupRequest::Protocol& p) { return p.name == name; });
}

}  // namespace

std::string_view group_state_name(GroupState state) noexcept {
  switch (state) {
    case GroupState::kEmpty:
      return "Empty";
    case GroupState::kPreparingRebalance:
      return "PreparingRebalance";
    case GroupState::kCompletingRebalance:
      return "CompletingRebalance";
    case GroupState::kStable:
      return "Stable";
  }
  return "?";
}

GroupCoordinator::Member* GroupCoordinator::find_member(Group& group, std::string_view id) {
  for (Member& m : group.members) {
    if (m.id == id) return &m;
  }
  return nullptr;
}

std::string GroupCoordinator::new_member_id(std::string_view client_id) {
  std::string id(client_id.empty() ? std::string_view("member") : client_id);
  id += '-';
  id += std::to_string(++member_counter_);
  id += '-';
  id += std::to_string(options_.start_ms);
  return id;
}

namespace {

// The value of a non-empty run of decimal digits (at most 18), or -1.
std::int64_t digits_value(std::string_view text) {
  if (text.empty() || text.size() > 18) return -1;
  std::int64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return -1;
    value = value * 10 + (c - '0');
  }
  return value;
}

}  // namespace

bool GroupCoordinator::issued_before_start(std::string_view member_id) const {
  const std::size_t last = member_id.rfind('-');
  if (last == std::string_view::npos || last == 0) return false;
  const std::size_t middle = member_id.rfind('-', last - 1);
  if (middle == std::string_view::npos) return false;
  const std::int64_t start = digits_value(member_id.substr(last + 1));
  const std::int64_t counter = digits_value(member_id.substr(middle + 1, last - middle - 1));
  return counter > 0 && start >= 0 && start < options_.start_ms;
}

// The joining member must share the protocol type and at least one protocol with everyone else.
bool GroupCoordinator::protocols_compatible(const Group& group,
                                            const JoinGroupRequest& request) const {
  if (request.protocols.empty() || request.protocol_type.empty()) return false;
  if (group.members.empty()) return true;
  if (request.protocol_type != group.protocol_type) return false;
  for (const JoinGroupRequest::Protocol& candidate : request.protocols) {
    bool everyone = true;
    for (const Member& m : group.members) {
      if (m.id != request.member_id && !supports(m.protocols, candidate.name)) everyone = false;
    }
    if (everyone) return true;
  }
  return false;
}

void GroupCoordinator::join(const JoinGroupRequest& request, std::string_view client_id,
                            std::int64_t now_ms, JoinCallback done) {
  if (request.group_id.empty()) return done(join_error(error::kInvalidGroupId));
  if (request.session_timeout_ms < options_.min_session_timeout_ms ||
      request.session_timeout_ms > options_.max_session_timeout_ms) {
    return done(join_error(error::kInvalidSessionTimeout, request.member_id));
  }
  auto [found, fresh] = groups_.try_emplace(request.group_id);
  Group& group = found->second;
  if (fresh) group.empty_since_ms = now_ms;
  if (!request.member_id.empty() && find_member(group, request.member_id) == nullptr) {
    return done(join_error(error::kUnknownMemberId, request.member_id));
  }
  if (!protocols_compatible(group, request)) {
    return done(join_error(error::kInconsistentGroupProtocol, request.member_id));
  }
  Deferred out;
  Member* member = find_member(group, request.member_id);
  if (member == nullptr) {
    member = &group.members.emplace_back();
    member->id = new_member_id(client_id);
  }
  if (group.members.size() == 1) group.protocol_type = request.protocol_type;
  member->group_instance_id = request.group_instance_id;
  member->session_timeout_ms = request.session_timeout_ms;
  member->rebalance_timeout_ms = std::max(request.rebalance_timeout_ms, request.session_timeout_ms);
  member->protocols = request.protocols;
  member->last_seen_ms = now_ms;
  run(member->pending_join, out, join_error(error::kRebalanceInProgress, member->id));
  member->pending_join = std::move(done);

  if (group.state == GroupState::kEmpty) {
    group.state = GroupState::kPreparingRebalance;
    group.initial_window = true;
    group.join_deadline_ms = now_ms + options_.initial_join_delay_ms;
  } else if (group.state != GroupState::kPreparingRebalance) {
    prepare_rebalance(group, now_ms, out);
  }
  maybe_complete_join(group, now_ms, out);
  deliver(out);
}

void GroupCoordinator::prepare_rebalance(Group& group, std::int64_t now_ms, Deferred& out) {
  std::int32_t timeout_ms = 0;
  for (Member& m : group.members) {
    timeout_ms = std::max(timeout_ms, m.rebalance_timeout_ms);
    run(m.pending_sync, out, sync_error(error::kRebalanceInProgress));
  }
  group.state = GroupState::kPreparingRebalance;
  group.initial_window = false;
  group.join_deadline_ms = now_ms + timeout_ms;
}

void GroupCoordinator::maybe_complete_join(Group& group, std::int64_t now_ms, Deferred& out) {
  if (group.state != GroupState::kPreparingRebalance) return;
  const bool all_joined = std::all_of(group.members.begin(), group.members.end(),
                                      [](const Member& m) { return bool(m.pending_join); });
  if ((all_joined && !group.initial_window) || now_ms >= group.join_deadline_ms) {
    complete_join(group, now_ms, out);
  }
}

std::string GroupCoordinator::select_protocol(const Group& group) const {
  const Member* leader = nullptr;
  for (const Member& m : group.members) {
    if (m.id == group.leader) leader = &m;
  }
  for (const JoinGroupRequest::Protocol& p : leader->protocols) {
    if (std::all_of(group.members.begin(), group.members.end(),
                    [&](const Member& m) { return supports(m.protocols, p.name); })) {
      return p.name;
    }
  }
  return leader->protocols.front().name;  // unreachable: joins are checked for a common one
}

void GroupCoordinator::complete_join(Group& group, std::int64_t now_ms, Deferred& out) {
  // Members that did not rejoin in time are dropped.
  std::erase_if(group.members, [](const Member& m) { return !m.pending_join; });
  group.generation++;
  group.initial_window = false;
  if (group.members.empty()) {
    group.state = GroupState::kEmpty;
    group.empty_since_ms = now_ms;
    group.leader.clear();
    group.protocol.clear();
    return;
  }
  if (find_member(group, group.leader) == nullptr) group.leader = group.members.front().id;
  group.protocol = select_protocol(group);
  group.state = GroupState::kCompletingRebalance;
  for (Member& m : group.members) {
    JoinGroupResponse r;
    r.generation_id = group.generation;
    r.protocol_name = group.protocol;
    r.leader = group.leader;
    r.member_id = m.id;
    if (m.id == group.leader) {
      for (const Member& each : group.members) {
        const auto it = std::find_if(
            each.protocols.begin(), each.protocols.end(),
            [&](const JoinGroupRequest::Protocol& p) { return p.name == group.protocol; });
        r.members.push_back({each.id, each.group_instance_id, it->metadata});
      }
    }
    m.last_seen_ms = now_ms;
    m.assignment.clear();
    run(m.pending_join, out, std::move(r));
  }
}

void GroupCoordinator::sync(const SyncGroupRequest& request, std::int64_t now_ms,
                            SyncCallback done) {
  auto it = groups_.find(request.group_id);
  Member* member = it == groups_.end() ? nullptr : find_member(it->second, request.member_id);
  if (member == nullptr) return done(sync_error(error::kUnknownMemberId));
  Group& group = it->second;
  if (request.generation_id != group.generation) return done(sync_error(error::kIllegalGeneration));
  if (group.state == GroupState::kPreparingRebalance) {
    return done(sync_error(error::kRebalanceInProgress));
  }
  member->last_seen_ms = now_ms;
  if (group.state == GroupState::kStable) {
    SyncGroupResponse r;
    r.assignment = member->assignment;
    return done(std::move(r));
  }
  // CompletingRebalance: hold until the leader's assignments arrive.
  Deferred out;
  run(member->pending_sync, out, sync_error(error::kRebalanceInProgress));
  member->pending_sync = std::move(done);
  if (member->id == group.leader) {
    for (Member& m : group.members) {
      m.assignment.clear();
      for (const SyncGroupRequest::Assignment& a : request.assignments) {
        if (a.member_id == m.id) m.assignment = a.assignment;
      }
    }
    group.state = GroupState::kStable;
    for (Member& m : group.members) {
      SyncGroupResponse r;
      r.assignment = m.assignment;
      run(m.pending_sync, out, std::move(r));
    }
  }
  deliver(out);
}

std::int16_t GroupCoordinator::heartbeat(const HeartbeatRequest& request, std::int64_t now_ms) {
  auto it = groups_.find(request.group_id);
  Member* member = it == groups_.end() ? nullptr : find_member(it->second, request.member_id);
  if (member == nullptr) return error::kUnknownMemberId;
  if (request.generation_id != it->second.generation) return error::kIllegalGeneration;
  member->last_seen_ms = now_ms;
  if (it->second.state == GroupState::kPreparingRebalance) return error::kRebalanceInProgress;
  return error::kNone;
}

std::int16_t GroupCoordinator::leave(const LeaveGroupRequest& request, std::int64_t now_ms) {
  auto it = groups_.find(request.group_id);
  if (it == groups_.end() || find_member(it->second, request.member_id) == nullptr) {
    return error::kUnknownMemberId;
  }
  Deferred out;
  remove_member(it->second, request.member_id, now_ms, out);
  deliver(out);
  return error::kNone;
}

void GroupCoordinator::remove_member(Group& group, std::string_view id, std::int64_t now_ms,
                                     Deferred& out) {
  auto it = std::find_if(group.members.begin(), group.members.end(),
                         [&](const Member& m) { return m.id == id; });
  run(it->pending_join, out, join_error(error::kUnknownMemberId, it->id));
  run(it->pending_sync, out, sync_error(error::kUnknownMemberId));
  group.members.erase(it);
  if (group.state == GroupState::kStable || group.state == GroupState::kCompletingRebalance) {
    prepare_rebalance(group, now_ms, out);
  }
  if (group.members.empty() && group.state == GroupState::kPreparingRebalance) {
    complete_join(group, now_ms, out);  // nobody left: the group becomes Empty
    return;
  }
  maybe_complete_join(group, now_ms, out);
}

std::int16_t GroupCoordinator::validate_commit(std::string_view group_id,
                                               std::int32_t generation_id,
                                               std::string_view member_id, std::int64_t now_ms) {
  auto it = groups_.find(group_id);
  const bool no_rebalance_yet = it == groups_.end() || it->second.generation == 0;
  if (no_rebalance_yet && generation_id >= 0 && issued_before_start(member_id)) {
    return error::kNone;  // membership from before a restart (see the header)
  }
  if (it == groups_.end() || it->second.members.empty()) {
    // Offsets-only use of a group: Kafka accepts generation -1 without a member.
    return generation_id < 0 && member_id.empty() ? error::kNone : error::kIllegalGeneration;
  }
  Group& group = it->second;
  Member* member = find_member(group, member_id);
  if (member == nullptr) return error::kUnknownMemberId;
  if (generation_id != group.generation) return error::kIllegalGeneration;
  if (group.state == GroupState::kCompletingRebalance) return error::kRebalanceInProgress;
  member->last_seen_ms = now_ms;
  return error::kNone;
}

void GroupCoordinator::expire_members(Group& group, std::int64_t now_ms, Deferred& out) {
  std::vector<std::string> expired;
  for (const Member& m : group.members) {
    if (m.pending_join) continue;  // waiting for the rebalance: not expected to heartbeat
    if (now_ms - m.last_seen_ms >= m.session_timeout_ms) expired.push_back(m.id);
  }
  for (const std::string& id : expired)
    remove_member(group, id, now_ms, out);
}

void GroupCoordinator::tick(std::int64_t now_ms) {
  Deferred out;
  for (auto& [name, group] : groups_) {
    expire_members(group, now_ms, out);
    maybe_complete_join(group, now_ms, out);
  }
  std::erase_if(groups_, [&](const auto& entry) {
    const Group& group = entry.second;
    return group.state == GroupState::kEmpty && group.members.empty() &&
           now_ms - group.empty_since_ms >= options_.empty_group_expiration_ms;
  });
  deliver(out);
}

std::optional<std::int64_t> GroupCoordinator::next_deadline_ms() const {
  std::optional<std::int64_t> next;
  auto consider = [&](std::int64_t t) { next = next ? std::min(*next, t) : t; };
  for (const auto& [name, group] : groups_) {
    if (group.state == GroupState::kPreparingRebalance) consider(group.join_deadline_ms);
    for (const Member& m : group.members) {
      if (!m.pending_join) consider(m.last_seen_ms + m.session_timeout_ms);
    }
  }
  return next;
}

std::optional<GroupCoordinator::GroupView> GroupCoordinator::describe(
    std::string_view group_id) const {
  auto it = groups_.find(group_id);
  if (it == groups_.end()) return std::nullopt;
  GroupView view{
      it->second.state, it->second.generation, it->second.protocol, it->second.leader, {}};
  for (const Member& m : it->second.members)
    view.members.push_back(m.id);
  return view;
}

std::vector<std::string> GroupCoordinator::groups_with_members() const {
  std::vector<std::string> out;
  for (const auto& [name, group] : groups_) {
    if (!group.members.empty()) out.push_back(name);
  }
  return out;
}

}  // namespace ringlog::kafka
