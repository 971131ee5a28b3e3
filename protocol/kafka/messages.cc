// One field list per message (serde), walked by a Decoder or an Encoder. The Encoder only reads
// the message; serde takes it by non-const reference so that one list serves both directions.
#include "protocol/kafka/messages.h"

#include <string>

namespace ringlog::kafka {
namespace {

class Decoder {
 public:
  static constexpr bool kDecoding = true;
  explicit Decoder(Reader& r) : r_(r) {}
  void i8(std::int8_t& v) { v = r_.i8(); }
  void i16(std::int16_t& v) { v = r_.i16(); }
  void i32(std::int32_t& v) { v = r_.i32(); }
  void i64(std::int64_t& v) { v = r_.i64(); }
  void boolean(bool& v) { v = r_.boolean(); }
  void str(std::string& v) { v = r_.string(); }
  void nstr(std::optional<std::string>& v) { v = r_.nullable_string(); }
  void cstr(std::string& v) { v = r_.compact_string(); }
  void bytes(Bytes& v) { v = r_.bytes(); }
  void nbytes(std::optional<Bytes>& v) { v = r_.nullable_bytes(); }
  void tags() { r_.skip_tagged_fields(); }
  void records(Records& v) { v.bytes = r_.nullable_bytes().value_or(Bytes()); }

  template <typename T, typename F>
  void array(std::vector<T>& v, F&& each) {
    fill(v, r_.array_count(), each);
  }
  template <typename T, typename F>
  void compact_array(std::vector<T>& v, F&& each) {
    fill(v, r_.compact_array_count(), each);
  }
  template <typename T, typename F>
  void nullable_array(std::optional<std::vector<T>>& v, F&& each) {
    const std::int32_t n = r_.array_count();
    if (n == -1) {
      v.reset();
      return;
    }
    v.emplace();
    fill(*v, n, each);
  }
  void i32_array(std::vector<std::int32_t>& v) {
    array(v, [this](std::int32_t& x) { i32(x); });
  }
  void i64_array(std::vector<std::int64_t>& v) {
    array(v, [this](std::int64_t& x) { i64(x); });
  }

 private:
  template <typename T, typename F>
  void fill(std::vector<T>& v, std::int32_t n, F& each) {
    v.clear();
    if (n < 0) {
      r_.fail();  // null where the schema does not allow it
      return;
    }
    for (std::int32_t i = 0; i < n && r_.ok(); ++i)
      each(v.emplace_back());
  }
  Reader& r_;
};

class Encoder {
 public:
  static constexpr bool kDecoding = false;
  explicit Encoder(Writer& w) : w_(w) {}
  void i8(std::int8_t v) { w_.i8(v); }
  void i16(std::int16_t v) { w_.i16(v); }
  void i32(std::int32_t v) { w_.i32(v); }
  void i64(std::int64_t v) { w_.i64(v); }
  void boolean(bool v) { w_.boolean(v); }
  void str(const std::string& v) { w_.string(v); }
  void nstr(const std::optional<std::string>& v) { w_.nullable_string(v); }
  void cstr(const std::string& v) { w_.compact_string(v); }
  void bytes(const Bytes& v) { w_.bytes(v); }
  void nbytes(const std::optional<Bytes>& v) { w_.nullable_bytes(v); }
  void tags() { w_.empty_tagged_fields(); }
  void records(const Records& v) {
    if (v.slice.length > 0) {
      w_.i32(static_cast<std::int32_t>(v.slice.length));
      w_.splice(v.slice);
    } else {
      w_.bytes(v.bytes);
    }
  }

  template <typename T, typename F>
  void array(std::vector<T>& v, F&& each) {
    w_.array_count(v.size());
    for (T& x : v)
      each(x);
  }
  template <typename T, typename F>
  void compact_array(std::vector<T>& v, F&& each) {
    w_.compact_array_count(v.size());
    for (T& x : v)
      each(x);
  }
  template <typename T, typename F>
  void nullable_array(std::optional<std::vector<T>>& v, F&& each) {
    if (!v) return w_.null_array();
    array(*v, each);
  }
  void i32_array(std::vector<std::int32_t>& v) {
    array(v, [this](std::int32_t& x) { i32(x); });
  }
  void i64_array(std::vector<std::int64_t>& v) {
    array(v, [this](std::int64_t& x) { i64(x); });
  }

 private:
  Writer& w_;
};

// An optional array in a version whose schema has no null: null is written as empty, and an
// array is always decoded.
template <typename C, typename T, typename F>
void array_without_null(C& c, std::optional<std::vector<T>>& v, F&& each) {
  if constexpr (C::kDecoding) {
    c.array(v.emplace(), each);
  } else {
    std::vector<T> none;
    c.array(v ? *v : none, each);
  }
}

// ---- ApiVersions -----------------------------------------------------------------------------

template <typename C>
void serde(C& c, ApiVersionsRequest& m, std::int16_t v) {
  if (v < 3) return;
  c.cstr(m.client_software_name);
  c.cstr(m.client_software_version);
  c.tags();
}

template <typename C>
void serde(C& c, ApiVersionsResponse& m, std::int16_t v) {
  c.i16(m.error_code);
  auto api = [&](ApiVersionsResponse::Api& a) {
    c.i16(a.api_key);
    c.i16(a.min_version);
    c.i16(a.max_version);
    if (v >= 3) c.tags();
  };
  if (v >= 3) {
    c.compact_array(m.api_keys, api);
  } else {
    c.array(m.api_keys, api);
  }
  if (v >= 1) c.i32(m.throttle_time_ms);
  if (v >= 3) c.tags();  // SupportedFeatures etc. are tagged fields: none sent, all skipped
}

// ---- Metadata --------------------------------------------------------------------------------

template <typename C>
void serde(C& c, MetadataRequest& m, std::int16_t v) {
  auto name = [&](std::string& s) { c.str(s); };
  if (v >= 1) {
    c.nullable_array(m.topics, name);
  } else {
    array_without_null(c, m.topics, name);  // v0: an empty array means all topics
  }
  if (v >= 4) c.boolean(m.allow_auto_topic_creation);
}

template <typename C>
void serde(C& c, MetadataResponse& m, std::int16_t v) {
  if (v >= 3) c.i32(m.throttle_time_ms);
  c.array(m.brokers, [&](MetadataResponse::Broker& b) {
    c.i32(b.node_id);
    c.str(b.host);
    c.i32(b.port);
    if (v >= 1) c.nstr(b.rack);
  });
  if (v >= 2) c.nstr(m.cluster_id);
  if (v >= 1) c.i32(m.controller_id);
  c.array(m.topics, [&](MetadataResponse::Topic& t) {
    c.i16(t.error_code);
    c.str(t.name);
    if (v >= 1) c.boolean(t.is_internal);
    c.array(t.partitions, [&](MetadataResponse::Partition& p) {
      c.i16(p.error_code);
      c.i32(p.partition_index);
      c.i32(p.leader_id);
      c.i32_array(p.replica_nodes);
      c.i32_array(p.isr_nodes);
    });
  });
}

// ---- Produce ---------------------------------------------------------------------------------

template <typename C>
void serde(C& c, ProduceRequest& m, std::int16_t v) {
  if (v >= 3) c.nstr(m.transactional_id);
  c.i16(m.acks);
  c.i32(m.timeout_ms);
  c.array(m.topics, [&](ProduceRequest::Topic& t) {
    c.str(t.name);
    c.array(t.partitions, [&](ProduceRequest::Partition& p) {
      c.i32(p.index);
      c.nbytes(p.records);
    });
  });
}

template <typename C>
void serde(C& c, ProduceResponse& m, std::int16_t v) {
  c.array(m.responses, [&](ProduceResponse::Topic& t) {
    c.str(t.name);
    c.array(t.partitions, [&](ProduceResponse::Partition& p) {
      c.i32(p.index);
      c.i16(p.error_code);
      c.i64(p.base_offset);
      if (v >= 2) c.i64(p.log_append_time_ms);
      if (v >= 5) c.i64(p.log_start_offset);
    });
  });
  if (v >= 1) c.i32(m.throttle_time_ms);
}

// ---- Fetch -----------------------------------------------------------------------------------

template <typename C>
void serde(C& c, FetchRequest& m, std::int16_t v) {
  c.i32(m.replica_id);
  c.i32(m.max_wait_ms);
  c.i32(m.min_bytes);
  if (v >= 3) c.i32(m.max_bytes);
  if (v >= 4) c.i8(m.isolation_level);
  if (v >= 7) {
    c.i32(m.session_id);
    c.i32(m.session_epoch);
  }
  c.array(m.topics, [&](FetchRequest::Topic& t) {
    c.str(t.topic);
    c.array(t.partitions, [&](FetchRequest::Partition& p) {
      c.i32(p.partition);
      if (v >= 9) c.i32(p.current_leader_epoch);
      c.i64(p.fetch_offset);
      if (v >= 5) c.i64(p.log_start_offset);
      c.i32(p.partition_max_bytes);
    });
  });
  if (v >= 7) {
    c.array(m.forgotten_topics_data, [&](FetchRequest::ForgottenTopic& t) {
      c.str(t.topic);
      c.i32_array(t.partitions);
    });
  }
  if (v >= 11) c.str(m.rack_id);
}

template <typename C>
void serde(C& c, FetchResponse& m, std::int16_t v) {
  if (v >= 1) c.i32(m.throttle_time_ms);
  if (v >= 7) {
    c.i16(m.error_code);
    c.i32(m.session_id);
  }
  c.array(m.responses, [&](FetchResponse::Topic& t) {
    c.str(t.topic);
    c.array(t.partitions, [&](FetchResponse::Partition& p) {
      c.i32(p.partition_index);
      c.i16(p.error_code);
      c.i64(p.high_watermark);
      if (v >= 4) c.i64(p.last_stable_offset);
      if (v >= 5) c.i64(p.log_start_offset);
      if (v >= 4) {
        c.nullable_array(p.aborted_transactions, [&](FetchResponse::AbortedTransaction& a) {
          c.i64(a.producer_id);
          c.i64(a.first_offset);
        });
      }
      if (v >= 11) c.i32(p.preferred_read_replica);
      c.records(p.records);
    });
  });
}

// ---- ListOffsets -----------------------------------------------------------------------------

template <typename C>
void serde(C& c, ListOffsetsRequest& m, std::int16_t v) {
  c.i32(m.replica_id);
  if (v >= 2) c.i8(m.isolation_level);
  c.array(m.topics, [&](ListOffsetsRequest::Topic& t) {
    c.str(t.name);
    c.array(t.partitions, [&](ListOffsetsRequest::Partition& p) {
      c.i32(p.partition_index);
      c.i64(p.timestamp);
      if (v == 0) c.i32(p.max_num_offsets);
    });
  });
}

template <typename C>
void serde(C& c, ListOffsetsResponse& m, std::int16_t v) {
  if (v >= 2) c.i32(m.throttle_time_ms);
  c.array(m.topics, [&](ListOffsetsResponse::Topic& t) {
    c.str(t.name);
    c.array(t.partitions, [&](ListOffsetsResponse::Partition& p) {
      c.i32(p.partition_index);
      c.i16(p.error_code);
      if (v == 0) c.i64_array(p.old_style_offsets);
      if (v >= 1) {
        c.i64(p.timestamp);
        c.i64(p.offset);
      }
    });
  });
}

// ---- FindCoordinator -------------------------------------------------------------------------

template <typename C>
void serde(C& c, FindCoordinatorRequest& m, std::int16_t v) {
  c.str(m.key);
  if (v >= 1) c.i8(m.key_type);
}

template <typename C>
void serde(C& c, FindCoordinatorResponse& m, std::int16_t v) {
  if (v >= 1) c.i32(m.throttle_time_ms);
  c.i16(m.error_code);
  if (v >= 1) c.nstr(m.error_message);
  c.i32(m.node_id);
  c.str(m.host);
  c.i32(m.port);
}

// ---- JoinGroup / SyncGroup / Heartbeat / LeaveGroup --------------------------------------------

template <typename C>
void serde(C& c, JoinGroupRequest& m, std::int16_t v) {
  c.str(m.group_id);
  c.i32(m.session_timeout_ms);
  if (v >= 1) c.i32(m.rebalance_timeout_ms);
  c.str(m.member_id);
  if (v >= 5) c.nstr(m.group_instance_id);
  c.str(m.protocol_type);
  c.array(m.protocols, [&](JoinGroupRequest::Protocol& p) {
    c.str(p.name);
    c.bytes(p.metadata);
  });
}

template <typename C>
void serde(C& c, JoinGroupResponse& m, std::int16_t v) {
  if (v >= 2) c.i32(m.throttle_time_ms);
  c.i16(m.error_code);
  c.i32(m.generation_id);
  c.str(m.protocol_name);
  c.str(m.leader);
  c.str(m.member_id);
  c.array(m.members, [&](JoinGroupResponse::Member& mm) {
    c.str(mm.member_id);
    if (v >= 5) c.nstr(mm.group_instance_id);
    c.bytes(mm.metadata);
  });
}

template <typename C>
void serde(C& c, SyncGroupRequest& m, std::int16_t v) {
  c.str(m.group_id);
  c.i32(m.generation_id);
  c.str(m.member_id);
  if (v >= 3) c.nstr(m.group_instance_id);
  c.array(m.assignments, [&](SyncGroupRequest::Assignment& a) {
    c.str(a.member_id);
    c.bytes(a.assignment);
  });
}

template <typename C>
void serde(C& c, SyncGroupResponse& m, std::int16_t v) {
  if (v >= 1) c.i32(m.throttle_time_ms);
  c.i16(m.error_code);
  c.bytes(m.assignment);
}

template <typename C>
void serde(C& c, HeartbeatRequest& m, std::int16_t v) {
  c.str(m.group_id);
  c.i32(m.generation_id);
  c.str(m.member_id);
  if (v >= 3) c.nstr(m.group_instance_id);
}

template <typename C>
void serde(C& c, HeartbeatResponse& m, std::int16_t v) {
  if (v >= 1) c.i32(m.throttle_time_ms);
  c.i16(m.error_code);
}

template <typename C>
void serde(C& c, LeaveGroupRequest& m, std::int16_t /*v*/) {
  c.str(m.group_id);
  c.str(m.member_id);
}

template <typename C>
void serde(C& c, LeaveGroupResponse& m, std::int16_t v) {
  if (v >= 1) c.i32(m.throttle_time_ms);
  c.i16(m.error_code);
}

// ---- OffsetCommit / OffsetFetch --------------------------------------------------------------

template <typename C>
void serde(C& c, OffsetCommitRequest& m, std::int16_t v) {
  c.str(m.group_id);
  if (v >= 1) {
    c.i32(m.generation_id);
    c.str(m.member_id);
  }
  if (v >= 7) c.nstr(m.group_instance_id);
  if (v >= 2 && v <= 4) c.i64(m.retention_time_ms);
  c.array(m.topics, [&](OffsetCommitRequest::Topic& t) {
    c.str(t.name);
    c.array(t.partitions, [&](OffsetCommitRequest::Partition& p) {
      c.i32(p.partition_index);
      c.i64(p.committed_offset);
      if (v >= 6) c.i32(p.committed_leader_epoch);
      if (v == 1) c.i64(p.commit_timestamp);
      c.nstr(p.committed_metadata);
    });
  });
}

template <typename C>
void serde(C& c, OffsetCommitResponse& m, std::int16_t v) {
  if (v >= 3) c.i32(m.throttle_time_ms);
  c.array(m.topics, [&](OffsetCommitResponse::Topic& t) {
    c.str(t.name);
    c.array(t.partitions, [&](OffsetCommitResponse::Partition& p) {
      c.i32(p.partition_index);
      c.i16(p.error_code);
    });
  });
}

template <typename C>
void serde(C& c, OffsetFetchRequest& m, std::int16_t v) {
  c.str(m.group_id);
  auto topic = [&](OffsetFetchRequest::Topic& t) {
    c.str(t.name);
    c.i32_array(t.partition_indexes);
  };
  if (v >= 2) {
    c.nullable_array(m.topics, topic);
  } else {
    array_without_null(c, m.topics, topic);
  }
}

template <typename C>
void serde(C& c, OffsetFetchResponse& m, std::int16_t v) {
  if (v >= 3) c.i32(m.throttle_time_ms);
  c.array(m.topics, [&](OffsetFetchResponse::Topic& t) {
    c.str(t.name);
    c.array(t.partitions, [&](OffsetFetchResponse::Partition& p) {
      c.i32(p.partition_index);
      c.i64(p.committed_offset);
      if (v >= 5) c.i32(p.committed_leader_epoch);
      c.nstr(p.metadata);
      c.i16(p.error_code);
    });
  });
  if (v >= 2) c.i16(m.error_code);
}

// ---- InitProducerId --------------------------------------------------------------------------

template <typename C>
void serde(C& c, InitProducerIdRequest& m, std::int16_t /*v*/) {
  c.nstr(m.transactional_id);
  c.i32(m.transaction_timeout_ms);
}

template <typename C>
void serde(C& c, InitProducerIdResponse& m, std::int16_t /*v*/) {
  c.i32(m.throttle_time_ms);
  c.i16(m.error_code);
  c.i64(m.producer_id);
  c.i16(m.producer_epoch);
}

// v0 of JoinGroup has no rebalance timeout: Kafka uses the session timeout.
void after_decode(JoinGroupRequest& m, std::int16_t v) {
  if (v == 0) m.rebalance_timeout_ms = m.session_timeout_ms;
}
template <typename M>
void after_decode(M&, std::int16_t) {}

}  // namespace

template <typename Message>
Result<Message> decode(std::span<const std::byte> body, std::int16_t version) {
  const ApiRange* api = find_api(static_cast<std::int16_t>(Message::kApiKey));
  if (api == nullptr || version < api->min_version || version > api->max_version) {
    return fail(Errc::kInvalidArgument, std::string(api ? api->name : "unknown API") + " v" +
                                            std::to_string(version) + " is not supported");
  }
  Reader r(body);
  Decoder d(r);
  Message m;
  serde(d, m, version);
  if (!r.ok()) {
    return fail(Errc::kInvalidArgument,
                "malformed " + std::string(api->name) + " v" + std::to_string(version) + " body");
  }
  after_decode(m, version);
  return m;
}

template <typename Message>
void encode(Writer& writer, const Message& message, std::int16_t version) {
  Encoder e(writer);
  serde(e, const_cast<Message&>(message), version);  // Encoder only reads
}

void encode_api_versions_unsupported(Writer& writer) {
  ApiVersionsResponse response;
  response.error_code = error::kUnsupportedVersion;
  const ApiRange* api = find_api(static_cast<std::int16_t>(ApiKey::kApiVersions));
  response.api_keys.push_back(
      {static_cast<std::int16_t>(ApiKey::kApiVersions), api->min_version, api->max_version});
  encode(writer, response, 0);
}

#define RINGLOG_KAFKA_MESSAGE(M)                                          \
  template Result<M> decode<M>(std::span<const std::byte>, std::int16_t); \
  template void encode<M>(Writer&, const M&, std::int16_t);
RINGLOG_KAFKA_MESSAGE(ApiVersionsRequest)
RINGLOG_KAFKA_MESSAGE(ApiVersionsResponse)
RINGLOG_KAFKA_MESSAGE(MetadataRequest)
RINGLOG_KAFKA_MESSAGE(MetadataResponse)
RINGLOG_KAFKA_MESSAGE(ProduceRequest)
RINGLOG_KAFKA_MESSAGE(ProduceResponse)
RINGLOG_KAFKA_MESSAGE(FetchRequest)
RINGLOG_KAFKA_MESSAGE(FetchResponse)
RINGLOG_KAFKA_MESSAGE(ListOffsetsRequest)
RINGLOG_KAFKA_MESSAGE(ListOffsetsResponse)
RINGLOG_KAFKA_MESSAGE(FindCoordinatorRequest)
RINGLOG_KAFKA_MESSAGE(FindCoordinatorResponse)
RINGLOG_KAFKA_MESSAGE(JoinGroupRequest)
RINGLOG_KAFKA_MESSAGE(JoinGroupResponse)
RINGLOG_KAFKA_MESSAGE(SyncGroupRequest)
RINGLOG_KAFKA_MESSAGE(SyncGroupResponse)
RINGLOG_KAFKA_MESSAGE(HeartbeatRequest)
RINGLOG_KAFKA_MESSAGE(HeartbeatResponse)
RINGLOG_KAFKA_MESSAGE(LeaveGroupRequest)
RINGLOG_KAFKA_MESSAGE(LeaveGroupResponse)
RINGLOG_KAFKA_MESSAGE(OffsetCommitRequest)
RINGLOG_KAFKA_MESSAGE(OffsetCommitResponse)
RINGLOG_KAFKA_MESSAGE(OffsetFetchRequest)
RINGLOG_KAFKA_MESSAGE(OffsetFetchResponse)
RINGLOG_KAFKA_MESSAGE(InitProducerIdRequest)
RINGLOG_KAFKA_MESSAGE(InitProducerIdResponse)
#undef RINGLOG_KAFKA_MESSAGE

}  // namespace ringlog::kafka
