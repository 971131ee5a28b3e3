// The Kafka side of the server: connections of the Kafka listener cut into frames and handed to
// the Broker, the Broker's hooks (post = the mailbox, run_blocking = the worker pool), its
// replies into the connection's ReplyQueue, visibility events and timers.
#include <unistd.h>

#include <chrono>
#include <climits>
#include <utility>

#include "io/assert.h"
#include "io/log.h"
#include "io/socket.h"
#include "protocol/lexical.h"
#include "protocol/server_impl.h"

namespace ringlog::protocol {

namespace {

// The Broker's clock: steady milliseconds (its deadlines are compared with it only).
std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch())
      .count();
}

Clock::time_point time_point_of(std::int64_t ms) {
  return Clock::time_point(
      std::chrono::duration_cast<Clock::duration>(std::chrono::milliseconds(ms)));
}

std::int64_t wall_clock_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// "127.0.0.1:9092" -> "127.0.0.1", "[::1]:9092" -> "::1".
std::string host_of(const std::string& address) {
  std::string host = address.substr(0, address.rfind(':'));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return host;
}

struct Advertised {
  std::string host;
  std::int32_t port = 0;
};

// What clients are told to connect to: `option` ("HOST:PORT" or "HOST"), or the bound address
// with the machine's hostname in place of a wildcard.
Result<Advertised> advertised_address(const std::string& option, const std::string& bound,
                                      std::uint16_t bound_port) {
  Advertised out{host_of(bound), bound_port};
  if (option.empty()) {
    if (out.host == "0.0.0.0" || out.host == "::") {
      char name[HOST_NAME_MAX + 1] = {};
      if (::gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0') {
        return fail(Errc::kInvalidArgument,
                    "cannot find the hostname to advertise for " + bound + ": set kafka_advertise");
      }
      out.host = name;
    }
    return out;
  }
  const std::size_t colon = option.rfind(':');
  const bool bracketed = option.front() == '[';
  const bool bare_ipv6 = !bracketed && option.find(':') != colon;  // "::1": no port
  if (colon == std::string::npos || bare_ipv6 || (bracketed && option[colon - 1] != ']')) {
    out.host = option;
  } else {
    out.host = option.substr(0, colon);
    auto port = parse_decimal(std::string_view(option).substr(colon + 1), 65535);
    if (!port || *port < 1) {
      return fail(Errc::kInvalidArgument, "bad port in Kafka advertised address '" + option + "'");
    }
    out.port = static_cast<std::int32_t>(*port);
  }
  if (out.host.size() >= 2 && out.host.front() == '[' && out.host.back() == ']') {
    out.host = out.host.substr(1, out.host.size() - 2);
  }
  if (out.host.empty()) {
    return fail(Errc::kInvalidArgument, "empty host in Kafka advertised address '" + option + "'");
  }
  return out;
}

}  // namespace

Status Server::Impl::init_kafka() {
  auto advertised = advertised_address(options_.kafka_advertise, kafka_.address, kafka_.port);
  if (!advertised) return std::unexpected(advertised.error());
  kafka_advertised_ = advertised->host + ":" + std::to_string(advertised->port);
  kafka::BrokerOptions options;
  options.advertised_host = advertised->host;
  options.advertised_port = advertised->port;
  options.auto_create_topics = options_.auto_create_topics;
  options.default_partitions = options_.default_partitions;
  options.first_producer_id = wall_clock_us();
  options.coordinator.initial_join_delay_ms =
      static_cast<std::int32_t>(options_.kafka_group_initial_delay_ms);
  options.coordinator.start_ms = wall_clock_us() / 1000;
  options.coordinator.empty_group_expiration_ms = options_.kafka_empty_group_expiration_ms;
  options.producer_id_expiration_ms = options_.kafka_producer_id_expiration_ms;
  options.max_producer_states = options_.kafka_max_producer_states;
  kafka::BrokerHooks hooks;
  hooks.post = [this](kafka::BrokerHooks::Task task) { mailbox_->post(Task(std::move(task))); };
  hooks.run_blocking = [this](kafka::BrokerHooks::Task task) { pool_->post(std::move(task)); };
  broker_ = std::make_unique<kafka::Broker>(engine_, std::move(options), std::move(hooks));
  return {};
}

namespace {

// The api key of a request frame (int16 big-endian at its start); -1 if the frame is too short
// to hold one (the Broker answers that, and it runs alone).
std::int16_t api_key_of(std::span<const std::byte> frame) {
  if (frame.size() < 2) return -1;
  return static_cast<std::int16_t>((std::to_integer<unsigned>(frame[0]) << 8) |
                                   std::to_integer<unsigned>(frame[1]));
}

}  // namespace

// Hands the complete frames to the Broker, each with its reply slot, while the connection is
// not blocked and the gate lets the next frame through (order_gate.h: pipelined Produce requests
// run together, anything else alone); a frame held back stays in the splitter until a reply
// pumps the connection. A bad size prefix closes the connection after the replies before it.
void Server::Impl::process_kafka(Connection& conn) {
  while (!conn.read_closed && !conn.closing && !blocked(conn)) {
    const kafka::FrameSplitter::Next peeked = conn.frames.peek();
    if (peeked.status == kafka::FrameSplitter::Status::kNeedMore) break;
    const OrderClass order = peeked.status == kafka::FrameSplitter::Status::kFrame
                                 ? kafka_order_class(api_key_of(peeked.frame))
                                 : OrderClass::kFree;
    if (!conn.gate.may_start(order)) break;
    const kafka::FrameSplitter::Next next = conn.frames.next();
    ++stats_.requests;
    ++stats_.kafka_requests;
    const std::uint64_t seq = conn.replies.reserve();
    if (next.status == kafka::FrameSplitter::Status::kBadSize) {
      on_kafka_reply(conn.id, seq, 0, 0, OrderClass::kFree,
                     {kafka::Reply::Kind::kClose, {}, "bad frame size"});
      break;
    }
    // The frame's bytes count against the connection's buffer bound until it is answered (a
    // Produce's records are held until the engine has them), and so does its share of the
    // request budget.
    const std::uint64_t reserved = next.frame.size();
    const std::size_t budget = std::exchange(conn.request_budget_bytes, 0);
    conn.pending_read_bytes += reserved;
    conn.gate.start(order);  // before handle(): the Broker may answer inside the call
    broker_->handle(next.frame, now_ms(),
                    [this, id = conn.id, seq, reserved, budget, order](kafka::Reply r) {
                      on_kafka_reply(id, seq, reserved, budget, order, std::move(r));
                    });
  }
  conn.frames.trim();  // the Broker keeps what it needs of a large frame; its buffer may go
}

// Every request's one reply (kNone for acks=0 Produce) counts it out of the gate.
void Server::Impl::on_kafka_reply(std::uint64_t id, std::uint64_t seq, std::uint64_t reserved_bytes,
                                  std::size_t budget_bytes, OrderClass order, kafka::Reply reply) {
  release_request_bytes(budget_bytes);  // also when the connection has gone
  Connection* conn = find(id);
  if (conn == nullptr) return;
  conn->gate.finish(order);
  RINGLOG_ASSERT(conn->pending_read_bytes >= reserved_bytes);
  conn->pending_read_bytes -= reserved_bytes;
  Reply out;
  switch (reply.kind) {
    case kafka::Reply::Kind::kFrame:
      out.frame = std::move(reply.frame);
      break;
    case kafka::Reply::Kind::kNone:
      break;
    case kafka::Reply::Kind::kClose:
      RINGLOG_INFO("server: closing a Kafka connection: %s", reply.reason.c_str());
      ++stats_.errors;
      ++stats_.kafka_closed;
      out.close_after = true;
      conn->read_closed = true;
      break;
  }
  conn->replies.fill(seq, std::move(out));
  if (!conn->pump_queued) {
    conn->pump_queued = true;
    ready_.push_back(id);
  }
}

void Server::Impl::pump_ready() {
  while (!ready_.empty()) {
    std::vector<std::uint64_t> ready;
    ready.swap(ready_);
    for (const std::uint64_t id : ready) {
      Connection* conn = find(id);
      if (conn == nullptr) continue;
      conn->pump_queued = false;
      pump(*conn);
    }
  }
}

void Server::Impl::kafka_visible(const Visible& visible) {
  if (broker_) broker_->on_visible(visible.topic, visible.partition, now_ms());
}

void Server::Impl::kafka_tick() {
  if (broker_) broker_->tick(now_ms());
}

std::optional<Clock::time_point> Server::Impl::kafka_deadline() {
  if (!broker_) return std::nullopt;
  const std::optional<std::int64_t> deadline = broker_->next_deadline_ms();
  kafka_timer_for_ms_ = deadline;  // the caller arms the timer for it
  if (!deadline) return std::nullopt;
  return time_point_of(*deadline);
}

void Server::Impl::schedule_kafka_tick() {
  if (!broker_) return;
  const std::optional<std::int64_t> deadline = broker_->next_deadline_ms();
  if (!deadline || deadline == kafka_timer_for_ms_) return;
  kafka_timer_for_ms_ = deadline;
  tick_by(time_point_of(*deadline));
}

bool Server::Impl::kafka_wants_visibility() const noexcept {
  return broker_ && broker_->wants_visibility();
}

bool Server::Impl::kafka_busy() const noexcept {
  return broker_ && broker_->pending_appends() > 0;
}

}  // namespace ringlog::protocol
