// The Kafka broker logic of ringlog: turns request frames into response frames against an
// Engine, without sockets. The server (protocol/server.cc) owns the connections and feeds every
// Kafka request frame to handle(); everything else here is testable with a real Engine and fake
// hooks (tests/kafka/broker_test.cc).
//
// One node is everything: the only broker in Metadata, the leader and ISR of every partition,
// the group coordinator (GroupCoordinator) and the producer-id authority (ProducerStateTable).
//
// Threads (what the server must provide, through BrokerHooks):
//   * handle(), on_visible(), tick() run on the event loop thread, which owns the coordinator,
//     the idempotence table and the parked long polls. They never block on the disk.
//   * Engine calls that may block (fetch, offsets, commit, topic creation and description) run
//     inside hooks.run_blocking (a worker pool); their results come back through hooks.post
//     (the loop's mailbox), as do append_async completions from the engine's writer thread.
//   * `reply` is invoked exactly once per request, always on the loop thread (from handle()
//     itself or from a posted task), possibly out of request order: the server keeps replies in
//     request order (its ReplyQueue) and drops those of closed connections.
//   * wants_visibility() may be called from any thread (the engine's visibility listener).
// Lifetime: the Broker must outlive every task it gave to the hooks; the server keeps running
// its loop until pending_appends() is 0, since append completions come back through hooks.post.
//
// Produce: each partition's batches are validated record by record (validate_batches,
// ringlog/validation.h; compressed ones are inflated on a worker) before anything is appended;
// a partition's appends reach the engine in the order their requests arrived, whatever runs on
// the workers meanwhile (PartitionQueue).
// Idempotent producers across restarts: the first idempotent Produce to a partition (per Broker)
// waits while the partition's producer state is rebuilt from the tail of its log (see
// producer_recovery.h); Produce requests for it queue behind that, in order.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <ringlog/engine.h>

#include "protocol/kafka/frame.h"
#include "protocol/kafka/group_coordinator.h"
#include "protocol/kafka/messages.h"
#include "protocol/kafka/partition_queue.h"
#include "protocol/kafka/producer_state.h"

namespace ringlog::kafka {

struct BrokerOptions {
  std::int32_t node_id = 0;
  // Where clients reach this broker (Metadata, FindCoordinator). Prefer an IPv4 literal:
  // librdkafka may resolve "localhost" to ::1.
  std::string advertised_host = "127.0.0.1";
  std::int32_t advertised_port = 9092;
  std::optional<std::string> cluster_id = "ringlog";
  // Metadata requests that allow it create unknown topics (Kafka's auto.create.topics.enable).
  bool auto_create_topics = true;
  std::int32_t default_partitions = 1;
  std::int32_t max_wait_cap_ms = 30'000;         // long polls wait at most this long
  std::size_t max_offset_metadata_bytes = 4096;  // Kafka's offset.metadata.max.bytes
  // InitProducerId hands out ids from here up. Ids must not repeat across restarts, since
  // producer state is rebuilt from the log: the server starts from the wall clock in us.
  std::int64_t first_producer_id = 0;
  // How much of a partition's tail is read to rebuild its producers' state (at most).
  std::size_t producer_recovery_bytes = std::size_t{8} << 20;
  // Kafka's producer.id.expiration.ms: a producer's state on a partition is forgotten this long
  // after its last write there; and at most this many states are kept (producer_state.h).
  std::int64_t producer_id_expiration_ms = ProducerStateTable::kDefaultExpirationMs;
  std::size_t max_producer_states = ProducerStateTable::kDefaultMaxStates;
  CoordinatorOptions coordinator;
};

struct ProduceCall;  // one Produce request in flight (broker_data.cc)

// What to do with one request's outcome.
struct Reply {
  enum class Kind : std::uint8_t {
    kFrame,  // send `frame`
    kNone,   // nothing to send (Produce with acks=0, once its appends have an outcome)
    kClose,  // malformed or unsupported request: close the connection (as Kafka does)
  };
  Kind kind = Kind::kNone;
  OutFrame frame;
  std::string reason;  // kClose: why, for the log
};
using ReplyFn = std::function<void(Reply)>;

struct BrokerHooks {
  using Task = std::function<void()>;
  // Runs `task` on the loop thread soon (called from engine and worker threads).
  std::function<void(Task)> post;
  // Runs `task` where it may block on the disk; the task posts its result itself.
  std::function<void(Task)> run_blocking;
};

class Broker {
 public:
  Broker(Engine& engine, BrokerOptions options, BrokerHooks hooks);
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  // One request frame (header + body, no size prefix), borrowed for the call only.
  // `client_id`-less and unknown requests are handled too (kClose for unknown APIs).
  void handle(std::span<const std::byte> frame, std::int64_t now_ms, ReplyFn reply);

  // A partition's high watermark advanced: wakes parked long polls that read it.
  void on_visible(std::string_view topic, std::int32_t partition, std::int64_t now_ms);
  // Completes long polls whose max_wait has passed, drives the coordinator's timers (which also
  // forget groups long Empty) and expires idle producer states. At most once per
  // kGroupTouchIntervalMs it also tells the engine which groups have members
  // (Engine::touch_group), so that their offsets do not expire.
  void tick(std::int64_t now_ms);
  static constexpr std::int64_t kGroupTouchIntervalMs = 60'000;
  // When tick() next has something to do.
  std::optional<std::int64_t> next_deadline_ms() const;
  // Answers every parked long poll now, with what there is (the server is shutting down).
  void release_parked();

  // Whether a long poll is parked or reading: the server forwards visibility events (to
  // on_visible) only then. Any thread.
  bool wants_visibility() const noexcept { return long_polls_.load() > 0; }
  // Engine appends whose completions have not yet come back through hooks.post.
  std::size_t pending_appends() const noexcept { return appends_in_flight_; }

  std::size_t parked_fetches() const noexcept { return parked_.size(); }
  const GroupCoordinator& coordinator() const noexcept { return coordinator_; }
  const ProducerStateTable& producers() const noexcept { return producers_; }

 private:
  struct Parked {
    RequestHeader header;
    FetchRequest request;
    std::int64_t deadline_ms;
    ReplyFn reply;
  };

  void dispatch(const ParsedRequest& request, std::int64_t now_ms, ReplyFn& reply);
  void api_versions(const ParsedRequest& request, ReplyFn& reply);
  void metadata(const RequestHeader& header, MetadataRequest request, ReplyFn& reply);
  MetadataResponse build_metadata(const MetadataRequest& request, std::int16_t version);
  MetadataResponse::Topic describe_for_metadata(const std::string& name, bool create);
  void produce(const RequestHeader& header, ProduceRequest request, ReplyFn& reply);
  void produce_partition(const std::shared_ptr<ProduceCall>& call, const std::string& topic,
                         ProduceRequest::Partition& partition, ProduceResponse::Partition* slot);
  void produce_validated(const std::shared_ptr<ProduceCall>& call, const PartitionQueue::Key& where,
                         Result<ValidatedBatches> batches, ProduceResponse::Partition* slot);
  void produce_idempotent(const std::shared_ptr<ProduceCall>& call,
                          const ProducerStateTable::Key& key, const ProducerStateTable::Batch& seq,
                          ValidatedBatches batches, ProduceResponse::Partition* slot);
  void append(const std::shared_ptr<ProduceCall>& call, const std::string& topic,
              std::int32_t partition, ValidatedBatches batches, ProduceResponse::Partition* slot,
              std::optional<ProducerStateTable::Key> key, ProducerStateTable::Batch sequences);
  // Runs `then` once the partition's producer state has been rebuilt from its log (at once if it
  // has been); the partition is held in partition_queue_ meanwhile.
  void with_producer_state(const PartitionQueue::Key& where, std::function<void()> then);
  void fetch(const RequestHeader& header, FetchRequest request, std::int64_t now_ms,
             ReplyFn& reply);
  void run_fetch(const RequestHeader& header, FetchRequest request, ReplyFn reply,
                 std::optional<std::int64_t> park_until_ms);
  FetchResponse read_partitions(const FetchRequest& request) const;
  void list_offsets(const RequestHeader& header, ListOffsetsRequest request, ReplyFn& reply);
  ListOffsetsResponse::Partition list_offset(const std::string& topic,
                                             const ListOffsetsRequest::Partition& p,
                                             std::int16_t version) const;
  void find_coordinator(const RequestHeader& header, const FindCoordinatorRequest& request,
                        ReplyFn& reply);
  void init_producer_id(const RequestHeader& header, const InitProducerIdRequest& request,
                        ReplyFn& reply);
  void offset_commit(const RequestHeader& header, OffsetCommitRequest request, std::int64_t now_ms,
                     ReplyFn& reply);
  void offset_fetch(const RequestHeader& header, OffsetFetchRequest request, ReplyFn& reply);
  OffsetFetchResponse all_committed_offsets(const std::string& group) const;
  void group_request(const ParsedRequest& request, std::int64_t now_ms, ReplyFn& reply);

  // Runs `work` on a worker, then `reply(frame)` on the loop.
  void blocking_reply(ReplyFn reply, std::function<OutFrame()> work);

  Engine& engine_;
  BrokerOptions options_;
  BrokerHooks hooks_;
  GroupCoordinator coordinator_;
  ProducerStateTable producers_;
  std::int64_t next_producer_id_;
  std::vector<Parked> parked_;
  std::uint64_t visibility_events_ = 0;     // on_visible calls so far
  std::atomic<std::size_t> long_polls_{0};  // fetches that may park, until they reply
  std::size_t appends_in_flight_ = 0;
  std::int64_t next_group_touch_ms_ = 0;
  std::int64_t now_ms_ = 0;  // the latest time handle() or tick() was given

  std::set<PartitionQueue::Key> producers_loaded_;  // partitions whose producer state was rebuilt
  // A partition's Produce work in arrival order across validation on a worker and producer-state
  // rebuilds (partition_queue.h).
  PartitionQueue partition_queue_;
};

// Encodes `body` as the response to `header` (header v0, or v1 for flexible non-ApiVersions).
template <typename Message>
OutFrame make_response(const RequestHeader& header, const Message& body) {
  Writer w = begin_response(header.correlation_id,
                            response_header_is_flexible(header.api_key, header.api_version));
  encode(w, body, header.api_version);
  return finish_response(std::move(w));
}

}  // namespace ringlog::kafka
