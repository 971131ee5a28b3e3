// Request and response bodies of the Kafka APIs ringlog serves, at every advertised version
// (api.h), with fields exactly as in apache/kafka@3.8.0 clients/src/main/resources/common/
// message/*.json. A field that a version lacks keeps its default when decoding and is not
// written when encoding (the JSON "versions" of each field are noted beside it).
//
//   Result<ProduceRequest> req = decode<ProduceRequest>(body, version);
//   Writer w = begin_response(correlation_id, flexible);
//   encode(w, response, version);
//   OutFrame frame = finish_response(std::move(w));
//
// Both directions of every message come from one field list (messages.cc), so the request
// encoders and response decoders (used by tests and a future client) cannot drift from the
// server's decoders and encoders. decode() fails with kInvalidArgument on truncation, a negative
// length or count other than null, or a version outside the advertised range; trailing bytes are
// ignored (as Kafka does). Bytes fields are copied out of the frame.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <ringlog/engine.h>
#include <ringlog/error.h>

#include "protocol/kafka/api.h"
#include "protocol/kafka/wire.h"

namespace ringlog::kafka {

// ---- ApiVersions (18) ------------------------------------------------------------------------
struct ApiVersionsRequest {
  static constexpr ApiKey kApiKey = ApiKey::kApiVersions;
  std::string client_software_name;     // 3+ (compact)
  std::string client_software_version;  // 3+ (compact)
  bool operator==(const ApiVersionsRequest&) const = default;
};
struct ApiVersionsResponse {
  static constexpr ApiKey kApiKey = ApiKey::kApiVersions;
  struct Api {
    std::int16_t api_key = 0;
    std::int16_t min_version = 0;
    std::int16_t max_version = 0;
    bool operator==(const Api&) const = default;
  };
  std::int16_t error_code = 0;
  std::vector<Api> api_keys;
  std::int32_t throttle_time_ms = 0;  // 1+
  bool operator==(const ApiVersionsResponse&) const = default;
};

// ---- Metadata (3) ----------------------------------------------------------------------------
struct MetadataRequest {
  static constexpr ApiKey kApiKey = ApiKey::kMetadata;
  // null (1+) = all topics; v0: an empty array means all topics.
  std::optional<std::vector<std::string>> topics;
  bool allow_auto_topic_creation = true;  // 4+ (before 4: always allowed)
  bool operator==(const MetadataRequest&) const = default;
};
struct MetadataResponse {
  static constexpr ApiKey kApiKey = ApiKey::kMetadata;
  struct Broker {
    std::int32_t node_id = 0;
    std::string host;
    std::int32_t port = 0;
    std::optional<std::string> rack;  // 1+
    bool operator==(const Broker&) const = default;
  };
  struct Partition {
    std::int16_t error_code = 0;
    std::int32_t partition_index = 0;
    std::int32_t leader_id = 0;
    std::vector<std::int32_t> replica_nodes;
    std::vector<std::int32_t> isr_nodes;
    bool operator==(const Partition&) const = default;
  };
  struct Topic {
    std::int16_t error_code = 0;
    std::string name;
    bool is_internal = false;  // 1+
    std::vector<Partition> partitions;
    bool operator==(const Topic&) const = default;
  };
  std::int32_t throttle_time_ms = 0;  // 3+
  std::vector<Broker> brokers;
  std::optional<std::string> cluster_id;  // 2+
  std::int32_t controller_id = -1;        // 1+
  std::vector<Topic> topics;
  bool operator==(const MetadataResponse&) const = default;
};

// ---- Produce (0) -----------------------------------------------------------------------------
struct ProduceRequest {
  static constexpr ApiKey kApiKey = ApiKey::kProduce;
  struct Partition {
    std::int32_t index = 0;
    std::optional<Bytes> records;
    bool operator==(const Partition&) const = default;
  };
  struct Topic {
    std::string name;
    std::vector<Partition> partitions;
    bool operator==(const Topic&) const = default;
  };
  std::optional<std::string> transactional_id;  // 3+
  std::int16_t acks = -1;
  std::int32_t timeout_ms = 0;
  std::vector<Topic> topics;
  bool operator==(const ProduceRequest&) const = default;
};
struct ProduceResponse {
  static constexpr ApiKey kApiKey = ApiKey::kProduce;
  struct Partition {
    std::int32_t index = 0;
    std::int16_t error_code = 0;
    std::int64_t base_offset = -1;
    std::int64_t log_append_time_ms = -1;  // 2+
    std::int64_t log_start_offset = -1;    // 5+
    bool operator==(const Partition&) const = default;
  };
  struct Topic {
    std::string name;
    std::vector<Partition> partitions;
    bool operator==(const Topic&) const = default;
  };
  std::vector<Topic> responses;
  std::int32_t throttle_time_ms = 0;  // 1+, at the END of the body
  bool operator==(const ProduceResponse&) const = default;
};

// ---- Fetch (1) -------------------------------------------------------------------------------
struct FetchRequest {
  static constexpr ApiKey kApiKey = ApiKey::kFetch;
  struct Partition {
    std::int32_t partition = 0;
    std::int32_t current_leader_epoch = -1;  // 9+
    std::int64_t fetch_offset = 0;
    std::int64_t log_start_offset = -1;  // 5+
    std::int32_t partition_max_bytes = 0;
    bool operator==(const Partition&) const = default;
  };
  struct Topic {
    std::string topic;
    std::vector<Partition> partitions;
    bool operator==(const Topic&) const = default;
  };
  struct ForgottenTopic {
    std::string topic;
    std::vector<std::int32_t> partitions;
    bool operator==(const ForgottenTopic&) const = default;
  };
  std::int32_t replica_id = -1;
  std::int32_t max_wait_ms = 0;
  std::int32_t min_bytes = 0;
  std::int32_t max_bytes = std::numeric_limits<std::int32_t>::max();  // 3+
  std::int8_t isolation_level = 0;                                    // 4+
  std::int32_t session_id = 0;                                        // 7+
  std::int32_t session_epoch = -1;                                    // 7+
  std::vector<Topic> topics;
  std::vector<ForgottenTopic> forgotten_topics_data;  // 7+
  std::string rack_id;                                // 11+
  bool operator==(const FetchRequest&) const = default;
};
// A partition's record set: a zero-copy file range (what the broker sends) or bytes in memory
// (what a decoder yields, and the copying path). The slice wins when its length is non-zero.
// Empty is encoded as length 0, never -1 (librdkafka rejects a negative MessageSetSize).
struct Records {
  Bytes bytes;
  FileSlice slice;
  std::size_t size() const noexcept { return slice.length > 0 ? slice.length : bytes.size(); }
  bool operator==(const Records& o) const {
    return bytes == o.bytes && slice.fd == o.slice.fd && slice.position == o.slice.position &&
           slice.length == o.slice.length;
  }
};
struct FetchResponse {
  static constexpr ApiKey kApiKey = ApiKey::kFetch;
  struct AbortedTransaction {
    std::int64_t producer_id = 0;
    std::int64_t first_offset = 0;
    bool operator==(const AbortedTransaction&) const = default;
  };
  struct Partition {
    std::int32_t partition_index = 0;
    std::int16_t error_code = 0;
    std::int64_t high_watermark = -1;
    std::int64_t last_stable_offset = -1;                                 // 4+
    std::int64_t log_start_offset = -1;                                   // 5+
    std::optional<std::vector<AbortedTransaction>> aborted_transactions;  // 4+
    std::int32_t preferred_read_replica = -1;                             // 11+
    Records records;
    bool operator==(const Partition&) const = default;
  };
  struct Topic {
    std::string topic;
    std::vector<Partition> partitions;
    bool operator==(const Topic&) const = default;
  };
  std::int32_t throttle_time_ms = 0;  // 1+
  std::int16_t error_code = 0;        // 7+
  std::int32_t session_id = 0;        // 7+
  std::vector<Topic> responses;
  bool operator==(const FetchResponse&) const = default;
};

// ---- ListOffsets (2) -------------------------------------------------------------------------
inline constexpr std::int64_t kEarliestTimestamp = -2;
inline constexpr std::int64_t kLatestTimestamp = -1;
struct ListOffsetsRequest {
  static constexpr ApiKey kApiKey = ApiKey::kListOffsets;
  struct Partition {
    std::int32_t partition_index = 0;
    std::int64_t timestamp = kLatestTimestamp;
    std::int32_t max_num_offsets = 1;  // v0 only
    bool operator==(const Partition&) const = default;
  };
  struct Topic {
    std::string name;
    std::vector<Partition> partitions;
    bool operator==(const Topic&) const = default;
  };
  std::int32_t replica_id = -1;
  std::int8_t isolation_level = 0;  // 2+
  std::vector<Topic> topics;
  bool operator==(const ListOffsetsRequest&) const = default;
};
struct ListOffsetsResponse {
  static constexpr ApiKey kApiKey = ApiKey::kListOffsets;
  struct Partition {
    std::int32_t partition_index = 0;
    std::int16_t error_code = 0;
    std::vector<std::int64_t> old_style_offsets;  // v0 only
    std::int64_t timestamp = -1;                  // 1+
    std::int64_t offset = -1;                     // 1+
    bool operator==(const Partition&) const = default;
  };
  struct Topic {
    std::string name;
    std::vector<Partition> partitions;
    bool operator==(const Topic&) const = default;
  };
  std::int32_t throttle_time_ms = 0;  // 2+
  std::vector<Topic> topics;
  bool operator==(const ListOffsetsResponse&) const = default;
};

// ---- FindCoordinator (10) --------------------------------------------------------------------
struct FindCoordinatorRequest {
  static constexpr ApiKey kApiKey = ApiKey::kFindCoordinator;
  std::string key;
  std::int8_t key_type = 0;  // 1+ (0 group, 1 transaction)
  bool operator==(const FindCoordinatorRequest&) const = default;
};
struct FindCoordinatorResponse {
  static constexpr ApiKey kApiKey = ApiKey::kFindCoordinator;
  std::int32_t throttle_time_ms = 0;  // 1+
  std::int16_t error_code = 0;
  std::optional<std::string> error_message;  // 1+
  std::int32_t node_id = 0;
  std::string host;
  std::int32_t port = 0;
  bool operator==(const FindCoordinatorResponse&) const = default;
};

// ---- JoinGroup (11) --------------------------------------------------------------------------
struct JoinGroupRequest {
  static constexpr ApiKey kApiKey = ApiKey::kJoinGroup;
  struct Protocol {
    std::string name;
    Bytes metadata;
    bool operator==(const Protocol&) const = default;
  };
  std::string group_id;
  std::int32_t session_timeout_ms = 0;
  std::int32_t rebalance_timeout_ms = -1;  // 1+ (v0: decoded as session_timeout_ms)
  std::string member_id;
  std::optional<std::string> group_instance_id;  // 5+
  std::string protocol_type;
  std::vector<Protocol> protocols;
  bool operator==(const JoinGroupRequest&) const = default;
};
struct JoinGroupResponse {
  static constexpr ApiKey kApiKey = ApiKey::kJoinGroup;
  struct Member {
    std::string member_id;
    std::optional<std::string> group_instance_id;  // 5+
    Bytes metadata;
    bool operator==(const Member&) const = default;
  };
  std::int32_t throttle_time_ms = 0;  // 2+
  std::int16_t error_code = 0;
  std::int32_t generation_id = -1;
  std::string protocol_name;
  std::string leader;
  std::string member_id;
  std::vector<Member> members;
  bool operator==(const JoinGroupResponse&) const = default;
};

// ---- SyncGroup (14) --------------------------------------------------------------------------
struct SyncGroupRequest {
  static constexpr ApiKey kApiKey = ApiKey::kSyncGroup;
  struct Assignment {
    std::string member_id;
    Bytes assignment;
    bool operator==(const Assignment&) const = default;
  };
  std::string group_id;
  std::int32_t generation_id = 0;
  std::string member_id;
  std::optional<std::string> group_instance_id;  // 3+
  std::vector<Assignment> assignments;
  bool operator==(const SyncGroupRequest&) const = default;
};
struct SyncGroupResponse {
  static constexpr ApiKey kApiKey = ApiKey::kSyncGroup;
  std::int32_t throttle_time_ms = 0;  // 1+
  std::int16_t error_code = 0;
  Bytes assignment;
  bool operator==(const SyncGroupResponse&) const = default;
};

// ---- Heartbeat (12) --------------------------------------------------------------------------
struct HeartbeatRequest {
  static constexpr ApiKey kApiKey = ApiKey::kHeartbeat;
  std::string group_id;
  std::int32_t generation_id = 0;
  std::string member_id;
  std::optional<std::string> group_instance_id;  // 3+
  bool operator==(const HeartbeatRequest&) const = default;
};
struct HeartbeatResponse {
  static constexpr ApiKey kApiKey = ApiKey::kHeartbeat;
  std::int32_t throttle_time_ms = 0;  // 1+
  std::int16_t error_code = 0;
  bool operator==(const HeartbeatResponse&) const = default;
};

// ---- LeaveGroup (13) -------------------------------------------------------------------------
struct LeaveGroupRequest {
  static constexpr ApiKey kApiKey = ApiKey::kLeaveGroup;
  std::string group_id;
  std::string member_id;  // 0-2
  bool operator==(const LeaveGroupRequest&) const = default;
};
struct LeaveGroupResponse {
  static constexpr ApiKey kApiKey = ApiKey::kLeaveGroup;
  std::int32_t throttle_time_ms = 0;  // 1+
  std::int16_t error_code = 0;
  bool operator==(const LeaveGroupResponse&) const = default;
};

// ---- OffsetCommit (8) ------------------------------------------------------------------------
struct OffsetCommitRequest {
  static constexpr ApiKey kApiKey = ApiKey::kOffsetCommit;
  struct Partition {
    std::int32_t partition_index = 0;
    std::int64_t committed_offset = 0;
    std::int32_t committed_leader_epoch = -1;  // 6+
    std::int64_t commit_timestamp = -1;        // v1 only
    std::optional<std::string> committed_metadata;
    bool operator==(const Partition&) const = default;
  };
  struct Topic {
    std::string name;
    std::vector<Partition> partitions;
    bool operator==(const Topic&) const = default;
  };
  std::string group_id;
  std::int32_t generation_id = -1;               // 1+
  std::string member_id;                         // 1+
  std::optional<std::string> group_instance_id;  // 7+
  std::int64_t retention_time_ms = -1;           // 2-4
  std::vector<Topic> topics;
  bool operator==(const OffsetCommitRequest&) const = default;
};
struct OffsetCommitResponse {
  static constexpr ApiKey kApiKey = ApiKey::kOffsetCommit;
  struct Partition {
    std::int32_t partition_index = 0;
    std::int16_t error_code = 0;
    bool operator==(const Partition&) const = default;
  };
  struct Topic {
    std::string name;
    std::vector<Partition> partitions;
    bool operator==(const Topic&) const = default;
  };
  std::int32_t throttle_time_ms = 0;  // 3+
  std::vector<Topic> topics;
  bool operator==(const OffsetCommitResponse&) const = default;
};

// ---- OffsetFetch (9) -------------------------------------------------------------------------
struct OffsetFetchRequest {
  static constexpr ApiKey kApiKey = ApiKey::kOffsetFetch;
  struct Topic {
    std::string name;
    std::vector<std::int32_t> partition_indexes;
    bool operator==(const Topic&) const = default;
  };
  std::string group_id;
  std::optional<std::vector<Topic>> topics;  // null (2+) = all committed offsets of the group
  bool operator==(const OffsetFetchRequest&) const = default;
};
struct OffsetFetchResponse {
  static constexpr ApiKey kApiKey = ApiKey::kOffsetFetch;
  struct Partition {
    std::int32_t partition_index = 0;
    std::int64_t committed_offset = -1;
    std::int32_t committed_leader_epoch = -1;  // 5+
    std::optional<std::string> metadata;
    std::int16_t error_code = 0;
    bool operator==(const Partition&) const = default;
  };
  struct Topic {
    std::string name;
    std::vector<Partition> partitions;
    bool operator==(const Topic&) const = default;
  };
  std::int32_t throttle_time_ms = 0;  // 3+
  std::vector<Topic> topics;
  std::int16_t error_code = 0;  // 2+
  bool operator==(const OffsetFetchResponse&) const = default;
};

// ---- InitProducerId (22) ---------------------------------------------------------------------
struct InitProducerIdRequest {
  static constexpr ApiKey kApiKey = ApiKey::kInitProducerId;
  std::optional<std::string> transactional_id;
  std::int32_t transaction_timeout_ms = 0;
  bool operator==(const InitProducerIdRequest&) const = default;
};
struct InitProducerIdResponse {
  static constexpr ApiKey kApiKey = ApiKey::kInitProducerId;
  std::int32_t throttle_time_ms = 0;
  std::int16_t error_code = 0;
  std::int64_t producer_id = -1;
  std::int16_t producer_epoch = -1;
  bool operator==(const InitProducerIdResponse&) const = default;
};

// ---------------------------------------------------------------------------------------------
// Codecs. Defined (explicitly instantiated) for every struct above.

template <typename Message>
Result<Message> decode(std::span<const std::byte> body, std::int16_t version);
template <typename Message>
void encode(Writer& writer, const Message& message, std::int16_t version);

// The ApiVersions v0 body Kafka sends for an ApiVersions request of an unknown version
// (KIP-511): error 35 and ApiVersions' own range, so the client retries with a version it knows.
void encode_api_versions_unsupported(Writer& writer);

}  // namespace ringlog::kafka
