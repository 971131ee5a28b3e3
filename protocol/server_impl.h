// Internals of the server, shared by server.cc (event loop, connections, sending, long polls,
// shutdown), server_commands.cc (what each line-protocol command does) and server_kafka.cc (the
// Kafka listener's connections and the Broker's hooks). Not a public header.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <ringlog/batch.h>
#include <ringlog/engine.h>

#include "io/ring.h"
#include "io/splice_send.h"
#include "protocol/kafka/broker.h"
#include "protocol/kafka/frame.h"
#include "protocol/order_gate.h"
#include "protocol/reply_queue.h"
#include "protocol/request.h"
#include "protocol/request_budget.h"
#include "protocol/server.h"
#include "protocol/worker_pool.h"

namespace ringlog::protocol {

using Clock = std::chrono::steady_clock;

// What one recv of a Kafka connection asks for; requests up to this size need no budget.
inline constexpr std::size_t kBudgetFreeBytes = 64 << 10;

// Which listener a connection came from, and so how its bytes are read.
enum class Wire : std::uint8_t { kLine, kKafka };

// A listening socket and its accept op.
struct Listener {
  Server::Impl* server = nullptr;
  Wire wire = Wire::kLine;
  int fd = -1;
  std::string address;  // bound, "127.0.0.1:9092"
  std::uint16_t port = 0;
  Completion accept_op;
  Completion cancel_op;
  bool accepting = false;
  bool paused = false;  // accept failed (EMFILE...): retried on the next tick
};

// One client connection, owned by the Impl's table. `id` (generation << 32 | index) names it in
// completions that come back after it may have been closed; those are then dropped.
struct Connection {
  Server::Impl* server = nullptr;
  std::uint64_t id = 0;
  int fd = -1;
  Wire wire = Wire::kLine;
  RequestParser parser;         // line connections: the receive buffer
  kafka::FrameSplitter frames;  // Kafka connections: the receive buffer
  ReplyQueue replies;
  BatchBuilder builder;  // encodes `put` messages; its buffer is reused

  Completion recv_op;
  Completion send_op;
  SpliceSend splice;
  unsigned ops_in_flight = 0;  // ring ops whose callbacks have not run
  bool reading = false;
  bool sending = false;
  bool peer_eof = false;     // the client sent all it will: parse what is buffered, then close
  bool read_closed = false;  // quit, lost framing or shutdown: no more requests are parsed
  bool closing = false;      // being torn down: freed once ops_in_flight reaches 0
  bool queued_for_free = false;
  bool pump_queued = false;  // in Impl::ready_
  // Of the request budget, what the request being received holds (0 for a small one), and
  // whether the connection waits, unread, for its request's share.
  std::size_t request_budget_bytes = 0;
  bool budget_waiting = false;

  int pipe_read = -1;  // for splice file -> pipe -> socket, created on first use
  int pipe_write = -1;
  FileSlice splicing;  // keeps the segment open while a splice runs

  Clock::time_point last_active;

  // Per-connection order (order_gate.h): what is in flight, and so whether the next request may
  // start. A request that may not is held in `deferred` and stops parsing, with everything after
  // it, until a completion (append done, delivery, Kafka reply) lets it through.
  OrderGate gate;
  // Memory held for requests in progress - the batch of each append until the engine has it
  // written, max_bytes of each get (and of each fetch when zero copy is off) - counted with
  // the unsent bytes for backpressure.
  std::uint64_t pending_read_bytes = 0;
  // A line request waiting at the gate, its views copied (they die with the parser's buffer).
  struct Deferred {
    std::uint64_t seq = 0;
    Request request;  // topic, group, key and body point into the strings below
    std::string topic;
    std::string group;
    std::string key;
    std::string body;
  };
  std::optional<Deferred> deferred;

  Connection(const ParserLimits& limits, std::size_t max_frame_bytes)
      : parser(limits), frames(max_frame_bytes) {}
};

// An engine append finished (on the engine's writer thread).
struct AppendDone {
  std::uint64_t conn = 0;
  std::uint64_t seq = 0;
  bool range = false;  // putb: reply `ok <first> <last>`
  Result<AppendResult> result;
  std::uint64_t reserved_bytes = 0;  // released from the connection's pending_read_bytes
};

// What a get or fetch needs, copied out of the parser's buffer.
struct ReadJob {
  Command command = Command::kFetch;
  std::string topic;
  std::int32_t partition = 0;
  std::int64_t offset = 0;
  std::int32_t max_bytes = 0;
  std::uint32_t wait_ms = 0;         // 0 when this job must answer even if there is no data
  std::uint64_t reserved_bytes = 0;  // counted in the connection's pending_read_bytes
};

// A reply computed off the loop (worker thread), or a request to park an empty long poll.
struct Delivery {
  std::uint64_t conn = 0;
  std::uint64_t seq = 0;
  Reply reply;
  std::optional<ReadJob> park;           // set: no data yet, wait for it
  std::uint64_t reserved_bytes = 0;      // released from the connection's pending_read_bytes
  OrderClass order = OrderClass::kRead;  // what the connection's gate counts out with the reply
};

struct Visible {
  std::string topic;
  std::int32_t partition = 0;
  std::int64_t high_watermark = 0;
};

struct Waiter {
  std::uint64_t conn = 0;
  std::uint64_t seq = 0;
  ReadJob job;
  Clock::time_point deadline;
};

using Task = std::function<void()>;

// Handed from other threads to the loop: lock, append, wake the ring if it was empty.
class Mailbox {
 public:
  explicit Mailbox(Ring& ring) : ring_(ring) {}
  void post(AppendDone done);
  void post(Delivery delivery);
  void post(Visible visible);
  void post(Task task);  // the Kafka broker's (BrokerHooks::post)
  void wake_for_stop() noexcept { ring_.wake(); }
  // Swaps the queued items out (the vectors passed in must be empty).
  void take(std::vector<AppendDone>& appends, std::vector<Delivery>& deliveries,
            std::vector<Visible>& visible, std::vector<Task>& tasks);

 private:
  void wake_once() noexcept;  // REQUIRES: mu_ held

  Ring& ring_;
  std::mutex mu_;
  std::vector<AppendDone> appends_;
  std::vector<Delivery> deliveries_;
  std::vector<Visible> visible_;
  std::vector<Task> tasks_;
  bool posted_ = false;
};

struct AtomicServerStats {
  std::atomic<std::uint64_t> connections{0}, connections_total{0}, connections_rejected{0},
      requests{0}, errors{0}, puts{0}, putbs{0}, gets{0}, fetches{0}, bytes_in{0}, bytes_out{0},
      long_polls{0}, idle_closed{0}, kafka_connections_total{0}, kafka_requests{0}, kafka_closed{0},
      kafka_parked_fetches{0}, timer_ticks{0}, request_bytes{0}, request_waits{0};
};

// What the engine's visibility listener holds instead of the server (see Impl::run).
struct ListenerGate {
  std::mutex mu;
  Server::Impl* impl = nullptr;  // null once the server stopped listening
};

class Server::Impl {
 public:
  Impl(Engine& engine, ServerOptions options);
  ~Impl();

  Status init();
  Status run();
  void stop() noexcept;
  ServerStats stats() const;

  const std::string& address() const noexcept { return line_.address; }
  std::uint16_t port() const noexcept { return line_.port; }
  const std::string& kafka_address() const noexcept { return kafka_.address; }
  std::uint16_t kafka_port() const noexcept { return kafka_.port; }
  const std::string& kafka_advertised() const noexcept { return kafka_advertised_; }

  // ---- server.cc: loop, connections, I/O ----
  Status init_listener(Listener& listener, const std::string& where, Wire wire);
  void arm_accept(Listener& listener);
  void resume_accepts();
  bool accepting() const noexcept { return line_.accepting || kafka_.accepting; }
  static void on_accept(Ring& ring, Completion& c);
  void open_connection(int fd, Wire wire);
  Connection* find(std::uint64_t id) noexcept;
  void arm_recv(Connection& conn);
  static void on_recv(Ring& ring, Completion& c);
  void pump(Connection& conn);  // parse what can be parsed, send what is ready, read more
  void pump_send(Connection& conn);
  void send_file(Connection& conn, const FileSlice& file);
  static void on_sent(Ring& ring, Completion& c);
  static void on_spliced(Ring& ring, SpliceSend& send);
  void close_connection(Connection& conn);
  void maybe_free(Connection& conn);
  void free_dead();
  bool blocked(const Connection& conn) const noexcept;
  bool held(const Connection& conn) const noexcept;
  // May this connection be read? Takes the budget for a large request in progress, or queues
  // the connection for it (false: not read until release_request_bytes grants it).
  bool request_admitted(Connection& conn);
  // Gives bytes back to the request budget and queues the connections now granted for pumping.
  void release_request_bytes(std::size_t bytes);
  void grant_request_budget();  // the waiters that fit now are queued for pumping
  // A closing connection leaves the budget's queue and gives back its request's share.
  void leave_request_budget(Connection& conn);
  void arm_tick(Clock::duration after);
  void tick_by(Clock::time_point deadline);
  static void on_tick(Ring& ring, Completion& c);
  void tick();
  void drain_mailbox();
  void begin_shutdown();

  // ---- server_kafka.cc: the Kafka listener's connections and the Broker ----
  Status init_kafka();
  void process_kafka(Connection& conn);
  void on_kafka_reply(std::uint64_t conn, std::uint64_t seq, std::uint64_t reserved_bytes,
                      std::size_t budget_bytes, OrderClass order, kafka::Reply reply);
  // Pumps the connections that got Kafka replies or their request budget. They are never pumped
  // where that happens: a reply may come from inside the Broker (a JoinGroup completing others'
  // joins), and pumping would hand the Broker the next frames while it is still in its call.
  void pump_ready();
  void kafka_visible(const Visible& visible);
  void kafka_tick();
  // Brings the loop's timer forward to the Broker's next deadline.
  void schedule_kafka_tick();
  // The Broker's next deadline, which the caller (tick) arms the timer for.
  std::optional<Clock::time_point> kafka_deadline();
  bool kafka_wants_visibility() const noexcept;
  bool kafka_busy() const noexcept;  // appends whose completions must come back before run() ends

  // ---- server_commands.cc: requests ----
  void process(Connection& conn);
  void dispatch(Connection& conn, std::uint64_t seq, const Request& request);
  void defer(Connection& conn, std::uint64_t seq, const Request& request);
  // Dispatches the deferred request if the gate lets it through; false while it still waits.
  bool resume_deferred(Connection& conn);
  void reply(Connection& conn, std::uint64_t seq, Reply reply);
  void reply_text(Connection& conn, std::uint64_t seq, std::string text);
  void reply_error(Connection& conn, std::uint64_t seq, StatusCode code, std::string_view message);
  void reply_engine_error(Connection& conn, std::uint64_t seq, const Error& error);
  void handle_put(Connection& conn, std::uint64_t seq, const Request& request);
  void handle_putb(Connection& conn, std::uint64_t seq, const Request& request);
  void handle_read(Connection& conn, std::uint64_t seq, const Request& request);
  void handle_offsets(Connection& conn, std::uint64_t seq, const Request& request);
  void handle_admin(Connection& conn, std::uint64_t seq, const Request& request);
  void submit_read(std::uint64_t conn, std::uint64_t seq, ReadJob job);
  Delivery run_read(std::uint64_t conn, std::uint64_t seq, ReadJob job) const;  // worker thread
  Reply run_admin(const Request& request, const std::string& topic, const std::string& group) const;
  void on_append_done(AppendDone& done);
  void on_delivery(Delivery& delivery);
  void park(std::uint64_t conn, std::uint64_t seq, ReadJob job);
  void on_visible(const Visible& visible);
  void expire_waiters(Clock::time_point now, bool all);
  std::string stats_text(std::string_view topic) const;

  Engine& engine_;
  ServerOptions options_;
  std::unique_ptr<Ring> ring_;
  std::unique_ptr<Mailbox> mailbox_;
  std::unique_ptr<WorkerPool> pool_;
  Listener line_;
  Listener kafka_;  // fd -1 without a Kafka listener
  std::string kafka_advertised_;
  std::unique_ptr<kafka::Broker> broker_;  // null without a Kafka listener
  std::vector<std::uint64_t> ready_;       // connections to pump, see pump_ready
  RequestBudget request_budget_;           // ServerOptions::max_request_bytes
  // The Broker deadline the timer is already set to fire by (schedule_kafka_tick compares, so
  // that an unchanged deadline does not cancel and re-arm the timer on every turn of the loop).
  std::optional<std::int64_t> kafka_timer_for_ms_;

  Completion tick_op_;
  Completion cancel_tick_op_;
  bool tick_armed_ = false;
  bool cancelling_tick_ = false;
  Clock::time_point tick_at_;
  Clock::time_point last_idle_sweep_;

  std::vector<std::unique_ptr<Connection>> connections_;  // index -> connection (or null)
  std::vector<std::uint32_t> generations_;
  std::vector<std::uint32_t> free_slots_;
  std::vector<std::uint32_t> dead_;  // closed connections to free at the top of the loop
  std::size_t open_connections_ = 0;
  // Appends handed to the engine whose callbacks have not come back through the mailbox; run()
  // does not return before they have (the callbacks refer to this object).
  std::size_t appends_pending_ = 0;

  std::vector<AppendDone> mail_appends_;
  std::vector<Delivery> mail_deliveries_;
  std::vector<Visible> mail_visible_;
  std::vector<Task> mail_tasks_;

  std::vector<Waiter> waiters_;
  std::atomic<std::size_t> waiter_count_{0};  // read by the visibility listener

  std::shared_ptr<ListenerGate> listener_gate_;
  std::atomic<bool> stop_requested_{false};
  bool shutting_down_ = false;
  Clock::time_point shutdown_deadline_;
  Clock::time_point started_at_ = Clock::now();
  mutable AtomicServerStats stats_;
};

}  // namespace ringlog::protocol
