// Dispatch, metadata, coordinator and offset APIs. Produce, Fetch and ListOffsets are in
// broker_data.cc.
#include "protocol/kafka/broker.h"

#include <algorithm>
#include <memory>
#include <utility>

namespace ringlog::kafka {

Broker::Broker(Engine& engine, BrokerOptions options, BrokerHooks hooks)
    : engine_(engine),
      options_(std::move(options)),
      hooks_(std::move(hooks)),
      coordinator_(options_.coordinator),
      producers_(options_.producer_id_expiration_ms, options_.max_producer_states),
      next_producer_id_(options_.first_producer_id) {
  if (!hooks_.post) hooks_.post = [](BrokerHooks::Task t) { t(); };
  if (!hooks_.run_blocking) hooks_.run_blocking = [](BrokerHooks::Task t) { t(); };
}

void Broker::handle(std::span<const std::byte> frame, std::int64_t now_ms, ReplyFn reply) {
  now_ms_ = std::max(now_ms_, now_ms);
  Result<ParsedRequest> request = parse_request_header(frame);
  if (!request) return reply({Reply::Kind::kClose, {}, request.error().message()});
  const RequestHeader& h = request->header;
  if (h.api_key == static_cast<std::int16_t>(ApiKey::kApiVersions)) {
    return api_versions(*request, reply);
  }
  if (!is_supported(h.api_key, h.api_version)) {
    return reply({Reply::Kind::kClose,
                  {},
                  "unsupported api_key " + std::to_string(h.api_key) + " version " +
                      std::to_string(h.api_version)});
  }
  dispatch(*request, now_ms, reply);
}

namespace {

template <typename M>
bool decoded(Result<M>& m, ReplyFn& reply) {
  if (m) return true;
  reply({Reply::Kind::kClose, {}, m.error().message()});
  return false;
}

}  // namespace

void Broker::dispatch(const ParsedRequest& request, std::int64_t now_ms, ReplyFn& reply) {
  const RequestHeader& h = request.header;
  const std::int16_t v = h.api_version;
  switch (static_cast<ApiKey>(h.api_key)) {
    case ApiKey::kMetadata:
      if (auto m = decode<MetadataRequest>(request.body, v); decoded(m, reply)) {
        metadata(h, std::move(*m), reply);
      }
      return;
    case ApiKey::kProduce:
      if (auto m = decode<ProduceRequest>(request.body, v); decoded(m, reply)) {
        produce(h, std::move(*m), reply);
      }
      return;
    case ApiKey::kFetch:
      if (auto m = decode<FetchRequest>(request.body, v); decoded(m, reply)) {
        fetch(h, std::move(*m), now_ms, reply);
      }
      return;
    case ApiKey::kListOffsets:
      if (auto m = decode<ListOffsetsRequest>(request.body, v); decoded(m, reply)) {
        list_offsets(h, std::move(*m), reply);
      }
      return;
    case ApiKey::kFindCoordinator:
      if (auto m = decode<FindCoordinatorRequest>(request.body, v); decoded(m, reply)) {
        find_coordinator(h, *m, reply);
      }
      return;
    case ApiKey::kInitProducerId:
      if (auto m = decode<InitProducerIdRequest>(request.body, v); decoded(m, reply)) {
        init_producer_id(h, *m, reply);
      }
      return;
    case ApiKey::kOffsetCommit:
      if (auto m = decode<OffsetCommitRequest>(request.body, v); decoded(m, reply)) {
        offset_commit(h, std::move(*m), now_ms, reply);
      }
      return;
    case ApiKey::kOffsetFetch:
      if (auto m = decode<OffsetFetchRequest>(request.body, v); decoded(m, reply)) {
        offset_fetch(h, std::move(*m), reply);
      }
      return;
    default:
      return group_request(request, now_ms, reply);
  }
}

void Broker::api_versions(const ParsedRequest& request, ReplyFn& reply) {
  const RequestHeader& h = request.header;
  Writer w = begin_response(h.correlation_id, /*flexible_header=*/false);
  if (!is_supported(h.api_key, h.api_version)) {
    encode_api_versions_unsupported(w);  // KIP-511: the client retries with a version we know
    return reply({Reply::Kind::kFrame, finish_response(std::move(w)), {}});
  }
  auto m = decode<ApiVersionsRequest>(request.body, h.api_version);
  if (!decoded(m, reply)) return;
  ApiVersionsResponse response;
  for (const ApiRange& api : supported_apis()) {
    response.api_keys.push_back(
        {static_cast<std::int16_t>(api.key), api.min_version, api.max_version});
  }
  encode(w, response, h.api_version);
  reply({Reply::Kind::kFrame, finish_response(std::move(w)), {}});
}

void Broker::blocking_reply(ReplyFn reply, std::function<OutFrame()> work) {
  hooks_.run_blocking([this, reply = std::move(reply), work = std::move(work)]() mutable {
    auto frame = std::make_shared<OutFrame>(work());
    hooks_.post([reply = std::move(reply), frame]() mutable {
      reply({Reply::Kind::kFrame, std::move(*frame), {}});
    });
  });
}

// ---- Metadata --------------------------------------------------------------------------------

void Broker::metadata(const RequestHeader& header, MetadataRequest request, ReplyFn& reply) {
  blocking_reply(std::move(reply), [this, header, request = std::move(request)] {
    return make_response(header, build_metadata(request, header.api_version));
  });
}

MetadataResponse Broker::build_metadata(const MetadataRequest& request, std::int16_t version) {
  MetadataResponse response;
  response.brokers.push_back(
      {options_.node_id, options_.advertised_host, options_.advertised_port, std::nullopt});
  response.cluster_id = options_.cluster_id;
  response.controller_id = options_.node_id;
  // v0: an empty list means all topics; v1+: null means all, empty means none.
  const bool all = !request.topics || (version == 0 && request.topics->empty());
  const std::vector<std::string> names = all ? engine_.list_topics() : *request.topics;
  const bool create = !all && options_.auto_create_topics && request.allow_auto_topic_creation;
  for (const std::string& name : names)
    response.topics.push_back(describe_for_metadata(name, create));
  return response;
}

MetadataResponse::Topic Broker::describe_for_metadata(const std::string& name, bool create) {
  MetadataResponse::Topic topic;
  topic.name = name;
  if (!is_valid_topic_name(name)) {
    topic.error_code = error::kInvalidTopicException;
    return topic;
  }
  Result<TopicInfo> info = engine_.describe_topic(name);
  if (!info && info.error().code() == Errc::kNotFound && create) {
    // Created and described in one response (saves clients a LEADER_NOT_AVAILABLE round trip).
    // A creation that fails (a full disk, the open-file limit) answers with its own error, not
    // as if the topic simply did not exist.
    TopicConfig config;
    config.partitions = options_.default_partitions;
    Status created = engine_.create_topic(name, config);
    if (created || created.error().code() == Errc::kAlreadyExists) {
      info = engine_.describe_topic(name);
    } else {
      topic.error_code = error_code_for(created.error());
      return topic;
    }
  }
  if (!info) {
    topic.error_code = info.error().code() == Errc::kNotFound ? error::kUnknownTopicOrPartition
                                                              : error_code_for(info.error());
    return topic;
  }
  for (const PartitionInfo& p : info->partitions) {
    MetadataResponse::Partition part;
    part.error_code = p.corruption || p.write_failure ? error::kKafkaStorageError : error::kNone;
    part.partition_index = p.partition;
    part.leader_id = options_.node_id;
    part.replica_nodes = {options_.node_id};
    part.isr_nodes = {options_.node_id};
    topic.partitions.push_back(std::move(part));
  }
  return topic;
}

// ---- FindCoordinator, InitProducerId -----------------------------------------------------------

void Broker::find_coordinator(const RequestHeader& header, const FindCoordinatorRequest& request,
                              ReplyFn& reply) {
  FindCoordinatorResponse response;
  if (request.key_type != 0) {  // transaction coordinators: no transactions here
    response.error_code = error::kCoordinatorNotAvailable;
    response.error_message = "ringlog has no transaction coordinator";
    response.node_id = -1;
    response.port = -1;
  } else {
    response.node_id = options_.node_id;
    response.host = options_.advertised_host;
    response.port = options_.advertised_port;
  }
  reply({Reply::Kind::kFrame, make_response(header, response), {}});
}

void Broker::init_producer_id(const RequestHeader& header, const InitProducerIdRequest& request,
                              ReplyFn& reply) {
  InitProducerIdResponse response;
  if (request.transactional_id) {
    response.error_code = error::kInvalidRequest;  // transactions are not supported
  } else {
    response.producer_id = next_producer_id_++;
    response.producer_epoch = 0;
  }
  reply({Reply::Kind::kFrame, make_response(header, response), {}});
}

// ---- Groups ----------------------------------------------------------------------------------

void Broker::group_request(const ParsedRequest& request, std::int64_t now_ms, ReplyFn& reply) {
  const RequestHeader& h = request.header;
  const std::int16_t v = h.api_version;
  auto frame_reply = [reply, h](const auto& response) {
    reply({Reply::Kind::kFrame, make_response(h, response), {}});
  };
  // A group id outside the naming rule (is_valid_group_id: one rule for both protocols) is
  // INVALID_GROUP_ID before the coordinator sees it, so no group forms whose offsets could not
  // be committed or read by the line protocol.
  switch (static_cast<ApiKey>(h.api_key)) {
    case ApiKey::kJoinGroup:
      if (auto m = decode<JoinGroupRequest>(request.body, v); decoded(m, reply)) {
        if (!is_valid_group_id(m->group_id)) {
          JoinGroupResponse r;
          r.error_code = error::kInvalidGroupId;
          return frame_reply(r);
        }
        coordinator_.join(*m, h.client_id.value_or(""), now_ms,
                          [frame_reply](JoinGroupResponse r) { frame_reply(r); });
      }
      return;
    case ApiKey::kSyncGroup:
      if (auto m = decode<SyncGroupRequest>(request.body, v); decoded(m, reply)) {
        if (!is_valid_group_id(m->group_id))
          return frame_reply(SyncGroupResponse{0, error::kInvalidGroupId, {}});
        coordinator_.sync(*m, now_ms, [frame_reply](SyncGroupResponse r) { frame_reply(r); });
      }
      return;
    case ApiKey::kHeartbeat:
      if (auto m = decode<HeartbeatRequest>(request.body, v); decoded(m, reply)) {
        if (!is_valid_group_id(m->group_id))
          return frame_reply(HeartbeatResponse{0, error::kInvalidGroupId});
        frame_reply(HeartbeatResponse{0, coordinator_.heartbeat(*m, now_ms)});
      }
      return;
    case ApiKey::kLeaveGroup:
      if (auto m = decode<LeaveGroupRequest>(request.body, v); decoded(m, reply)) {
        if (!is_valid_group_id(m->group_id))
          return frame_reply(LeaveGroupResponse{0, error::kInvalidGroupId});
        frame_reply(LeaveGroupResponse{0, coordinator_.leave(*m, now_ms)});
      }
      return;
    default:
      return reply({Reply::Kind::kClose, {}, "unhandled api_key " + std::to_string(h.api_key)});
  }
}

// ---- OffsetCommit / OffsetFetch --------------------------------------------------------------

void Broker::offset_commit(const RequestHeader& header, OffsetCommitRequest request,
                           std::int64_t now_ms, ReplyFn& reply) {
  const std::int16_t group_error = coordinator_.validate_commit(
      request.group_id, request.generation_id, request.member_id, now_ms);
  blocking_reply(std::move(reply), [this, header, group_error, request = std::move(request)] {
    OffsetCommitResponse response;
    for (const OffsetCommitRequest::Topic& t : request.topics) {
      OffsetCommitResponse::Topic& out = response.topics.emplace_back();
      out.name = t.name;
      for (const OffsetCommitRequest::Partition& p : t.partitions) {
        std::int16_t code = group_error;
        const std::string metadata = p.committed_metadata.value_or("");
        if (code == error::kNone && metadata.size() > options_.max_offset_metadata_bytes) {
          code = error::kOffsetMetadataTooLarge;
        }
        if (code == error::kNone && !is_valid_group_id(request.group_id)) {
          code = error::kInvalidGroupId;
        }
        if (code == error::kNone) {
          Status s = engine_.commit_offset(request.group_id, t.name, p.partition_index,
                                           p.committed_offset, metadata);
          // The group id is valid here, so kInvalidArgument is a topic name no topic can have:
          // like kNotFound (no such topic or partition), UNKNOWN_TOPIC_OR_PARTITION.
          if (!s) {
            code = s.error().code() == Errc::kInvalidArgument ? error::kUnknownTopicOrPartition
                                                              : error_code_for(s.error());
          }
        }
        out.partitions.push_back({p.partition_index, code});
      }
    }
    return make_response(header, response);
  });
}

// OffsetFetch with topics = null: the group's offsets grouped by topic (the engine lists them
// sorted by topic, partition).
OffsetFetchResponse Broker::all_committed_offsets(const std::string& group) const {
  OffsetFetchResponse response;
  auto offsets = engine_.list_group_offsets(group);
  if (!offsets) {
    response.error_code = offsets.error().code() == Errc::kInvalidArgument
                              ? error::kInvalidGroupId
                              : error_code_for(offsets.error());
    return response;
  }
  for (GroupOffset& o : *offsets) {
    if (response.topics.empty() || response.topics.back().name != o.topic) {
      response.topics.push_back({o.topic, {}});
    }
    OffsetFetchResponse::Partition& p = response.topics.back().partitions.emplace_back();
    p.partition_index = o.partition;
    p.committed_offset = o.offset;
    p.metadata = std::move(o.metadata);
  }
  return response;
}

void Broker::offset_fetch(const RequestHeader& header, OffsetFetchRequest request, ReplyFn& reply) {
  blocking_reply(std::move(reply), [this, header, request = std::move(request)] {
    OffsetFetchResponse response;
    if (!request.topics) {  // v2+: every offset the group has committed
      response = all_committed_offsets(request.group_id);
      return make_response(header, response);
    }
    for (const OffsetFetchRequest::Topic& t : *request.topics) {
      OffsetFetchResponse::Topic& out = response.topics.emplace_back();
      out.name = t.name;
      for (std::int32_t index : t.partition_indexes) {
        OffsetFetchResponse::Partition& p = out.partitions.emplace_back();
        p.partition_index = index;
        p.metadata = "";
        auto committed = engine_.committed_offset(request.group_id, t.name, index);
        if (!committed) {
          p.error_code = committed.error().code() == Errc::kInvalidArgument
                             ? error::kInvalidGroupId
                             : error_code_for(committed.error());
        } else if (*committed) {
          p.committed_offset = (*committed)->offset;
          p.metadata = (*committed)->metadata;
        }
      }
    }
    return make_response(header, response);
  });
}

}  // namespace ringlog::kafka
