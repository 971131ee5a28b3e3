// The server's event loop: accepting, reading, sending (bytes and zero-copy splices), the
// mailbox from other threads, timers for long polls and idle connections, and shutdown.
// What each line-protocol command does is in server_commands.cc; Kafka connections and the
// Broker's hooks are in server_kafka.cc.
#include "protocol/server.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <memory>

#include "io/assert.h"
#include "io/log.h"
#include "io/socket.h"
#include "protocol/reply.h"
#include "protocol/server_impl.h"

namespace ringlog::protocol {

namespace {

constexpr auto kIdleSweepInterval = std::chrono::seconds(1);
constexpr auto kMaxTickInterval = std::chrono::milliseconds(500);

Connection& conn_of(Completion& c) {
  return *static_cast<Connection*>(c.context);
}

std::uint32_t slot_of(std::uint64_t id) {
  return static_cast<std::uint32_t>(id);
}

}  // namespace

// ---- Mailbox ------------------------------------------------------------------------------------

void Mailbox::post(AppendDone done) {
  std::lock_guard lock(mu_);
  appends_.push_back(std::move(done));
  wake_once();
}

void Mailbox::post(Delivery delivery) {
  std::lock_guard lock(mu_);
  deliveries_.push_back(std::move(delivery));
  wake_once();
}

void Mailbox::post(Visible visible) {
  std::lock_guard lock(mu_);
  visible_.push_back(std::move(visible));
  wake_once();
}

// Under the lock: once a poster lets go of it the loop may take the item, finish and destroy
// the server, so nothing may touch the mailbox or the ring after the unlock.
void Mailbox::wake_once() noexcept {
  if (posted_) return;
  posted_ = true;
  ring_.wake();
}

void Mailbox::post(Task task) {
  std::lock_guard lock(mu_);
  tasks_.push_back(std::move(task));
  wake_once();
}

void Mailbox::take(std::vector<AppendDone>& appends, std::vector<Delivery>& deliveries,
                   std::vector<Visible>& visible, std::vector<Task>& tasks) {
  std::lock_guard lock(mu_);
  appends.swap(appends_);
  deliveries.swap(deliveries_);
  visible.swap(visible_);
  tasks.swap(tasks_);
  posted_ = false;
}

// ---- Server
// ---------------------------------------------------------------------------------------

Result<std::unique_ptr<Server>> Server::create(Engine& engine, ServerOptions options) {
  auto impl = std::make_unique<Impl>(engine, std::move(options));
  if (auto ok = impl->init(); !ok) return std::unexpected(ok.error());
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() = default;
const std::string& Server::address() const noexcept {
  return impl_->address();
}
std::uint16_t Server::port() const noexcept {
  return impl_->port();
}
const std::string& Server::kafka_address() const noexcept {
  return impl_->kafka_address();
}
std::uint16_t Server::kafka_port() const noexcept {
  return impl_->kafka_port();
}
const std::string& Server::kafka_advertised() const noexcept {
  return impl_->kafka_advertised();
}
Status Server::run() {
  return impl_->run();
}
void Server::stop() noexcept {
  impl_->stop();
}
ServerStats Server::stats() const {
  return impl_->stats();
}

Server::Impl::Impl(Engine& engine, ServerOptions options)
    : engine_(engine), options_(std::move(options)), request_budget_(options_.max_request_bytes) {}

Server::Impl::~Impl() {
  pool_.reset();  // runs the remaining tasks, which only post to the mailbox (and wake the ring)
  // Takes back any op still in flight (run() ended on an error) without running its callback,
  // before the Completions of the connections, listeners and timers are destroyed.
  ring_.reset();
  mailbox_.reset();  // tasks never run hold replies for the Broker: drop them before it
  broker_.reset();
  for (auto& conn : connections_) {
    if (conn->fd >= 0) ::close(conn->fd);
    if (conn->pipe_read >= 0) ::close(conn->pipe_read);
    if (conn->pipe_write >= 0) ::close(conn->pipe_write);
  }
  if (line_.fd >= 0) ::close(line_.fd);
  if (kafka_.fd >= 0) ::close(kafka_.fd);
}

Status Server::Impl::init() {
  // The Ring bounds the operations in flight by its entries, and every connection keeps a recv
  // in flight and may have a send or a splice too: size it for max_connections, or connections
  // beyond the ring's size would wait forever for a slot (io_uring allows 32768 entries).
  constexpr std::size_t kMaxRingEntries = 32768;
  const std::size_t wanted = std::min(kMaxRingEntries, options_.max_connections * 2 + 64);
  const auto entries =
      static_cast<unsigned>(std::bit_ceil(std::max<std::size_t>(options_.ring_entries, wanted)));
  const ParserLimits& limits = options_.limits;
  const std::size_t largest_line_request =
      limits.max_line_bytes + std::max(limits.max_message_bytes, limits.max_batch_bytes) + 2;
  if (options_.max_request_bytes < largest_line_request ||
      (!options_.kafka_listen.empty() &&
       options_.max_request_bytes < options_.kafka_max_frame_bytes + 4)) {
    return fail(Errc::kInvalidArgument,
                "max_request_bytes must hold the largest request (a line request with the larger "
                "body limit, and kafka_max_frame_bytes + 4)");
  }
  auto ring = Ring::create(entries);
  if (!ring) return std::unexpected(ring.error());
  ring_ = std::move(*ring);
  if (auto ok = init_listener(line_, options_.listen, Wire::kLine); !ok) return ok;
  mailbox_ = std::make_unique<Mailbox>(*ring_);
  pool_ = std::make_unique<WorkerPool>(options_.worker_threads);
  if (!options_.kafka_listen.empty()) {
    if (auto ok = init_listener(kafka_, options_.kafka_listen, Wire::kKafka); !ok) return ok;
    if (auto ok = init_kafka(); !ok) return ok;
  }
  tick_op_.callback = &Impl::on_tick;
  tick_op_.context = this;
  cancel_tick_op_.callback = [](Ring&, Completion& c) {
    static_cast<Impl*>(c.context)->cancelling_tick_ = false;
  };
  cancel_tick_op_.context = this;
  return {};
}

Status Server::Impl::init_listener(Listener& listener, const std::string& where, Wire wire) {
  auto address = parse_address(where);
  if (!address) return std::unexpected(address.error());
  auto fd = listen_on(*address, 1024);
  if (!fd) return std::unexpected(fd.error());
  auto bound = local_address(fd->get());
  if (!bound) return std::unexpected(bound.error());
  listener.server = this;
  listener.wire = wire;
  listener.address = bound->to_string();
  listener.port = bound->port();
  listener.fd = fd->release();
  listener.accept_op.callback = &Impl::on_accept;
  listener.accept_op.context = &listener;
  listener.cancel_op.callback = [](Ring&, Completion&) {};
  return {};
}

void Server::Impl::stop() noexcept {
  stop_requested_.store(true);
  if (ring_) ring_->wake();
}

ServerStats Server::Impl::stats() const {
  ServerStats s;
  s.connections = stats_.connections.load();
  s.connections_total = stats_.connections_total.load();
  s.connections_rejected = stats_.connections_rejected.load();
  s.requests = stats_.requests.load();
  s.errors = stats_.errors.load();
  s.puts = stats_.puts.load();
  s.putbs = stats_.putbs.load();
  s.gets = stats_.gets.load();
  s.fetches = stats_.fetches.load();
  s.bytes_in = stats_.bytes_in.load();
  s.bytes_out = stats_.bytes_out.load();
  s.long_polls = stats_.long_polls.load();
  s.idle_closed = stats_.idle_closed.load();
  s.kafka_connections_total = stats_.kafka_connections_total.load();
  s.kafka_requests = stats_.kafka_requests.load();
  s.kafka_closed = stats_.kafka_closed.load();
  s.kafka_parked_fetches = stats_.kafka_parked_fetches.load();
  s.timer_ticks = stats_.timer_ticks.load();
  s.request_bytes = stats_.request_bytes.load();
  s.request_waits = stats_.request_waits.load();
  return s;
}

Status Server::Impl::run() {
  // The engine may still be inside a call of the listener when set_visibility_listener(nullptr)
  // returns, so the listener reaches the server through a gate that outlives it.
  listener_gate_ = std::make_shared<ListenerGate>();
  listener_gate_->impl = this;
  engine_.set_visibility_listener([gate = listener_gate_](std::string_view topic,
                                                          std::int32_t partition, std::int64_t hw) {
    std::lock_guard lock(gate->mu);
    Impl* impl = gate->impl;
    if (impl == nullptr || (impl->waiter_count_.load() == 0 && !impl->kafka_wants_visibility())) {
      return;
    }
    impl->mailbox_->post(Visible{std::string(topic), partition, hw});
  });
  RINGLOG_INFO("server: listening on %s", line_.address.c_str());
  if (kafka_.fd >= 0) {
    RINGLOG_INFO("server: Kafka listening on %s (advertised as %s)", kafka_.address.c_str(),
                 kafka_advertised_.c_str());
  }
  arm_accept(line_);
  arm_accept(kafka_);
  arm_tick(kMaxTickInterval);
  Status status;
  for (;;) {
    if (stop_requested_.load() && !shutting_down_) begin_shutdown();
    drain_mailbox();
    pump_ready();
    free_dead();
    if (shutting_down_ && open_connections_ == 0 && !accepting() && appends_pending_ == 0 &&
        !kafka_busy()) {
      break;
    }
    schedule_kafka_tick();
    if (broker_) stats_.kafka_parked_fetches = broker_->parked_fetches();
    auto turned = ring_->run_once(/*wait=*/true);
    if (!turned) {
      status = std::unexpected(turned.error());
      break;
    }
    free_dead();
  }
  engine_.set_visibility_listener(nullptr);
  {
    std::lock_guard lock(listener_gate_->mu);
    listener_gate_->impl = nullptr;
  }
  if (tick_armed_ && !cancelling_tick_) ring_->cancel(cancel_tick_op_, tick_op_);
  while (ring_->active() > 0) {
    if (auto turned = ring_->run_once(true); !turned) break;
  }
  RINGLOG_INFO("server: stopped");
  return status;
}

void Server::Impl::begin_shutdown() {
  shutting_down_ = true;
  shutdown_deadline_ = Clock::now() + std::chrono::milliseconds(options_.shutdown_grace_ms);
  RINGLOG_INFO("server: shutting down (%zu connections)", open_connections_);
  for (Listener* listener : {&line_, &kafka_}) {
    if (listener->accepting) ring_->cancel(listener->cancel_op, listener->accept_op);
  }
  expire_waiters(Clock::now(), /*all=*/true);
  if (broker_) broker_->release_parked();
  for (auto& conn : connections_) {
    if (conn->fd < 0 || conn->closing) continue;
    conn->read_closed = true;
    if (conn->reading) ::shutdown(conn->fd, SHUT_RD);
    pump(*conn);
  }
}

// ---- accepting ----------------------------------------------------------------------------------

void Server::Impl::arm_accept(Listener& listener) {
  if (listener.fd < 0 || listener.accepting || shutting_down_) return;
  listener.accepting = true;
  ring_->accept(listener.accept_op, listener.fd);
}

void Server::Impl::resume_accepts() {
  for (Listener* listener : {&line_, &kafka_}) {
    if (listener->paused && !shutting_down_) {
      listener->paused = false;
      arm_accept(*listener);
    }
  }
}

void Server::Impl::on_accept(Ring&, Completion& c) {
  Listener& listener = *static_cast<Listener*>(c.context);
  Impl& self = *listener.server;
  listener.accepting = false;
  auto fd = c.result();
  if (self.shutting_down_) {
    if (fd) ::close(static_cast<int>(*fd));
    return;
  }
  if (!fd) {
    RINGLOG_WARN("server: accept: %s", fd.error().to_string().c_str());
    listener.paused = true;  // retried by the tick (EMFILE must not spin)
    return;
  }
  self.open_connection(static_cast<int>(*fd), listener.wire);
  self.arm_accept(listener);
}

void Server::Impl::open_connection(int fd, Wire wire) {
  if (open_connections_ >= options_.max_connections) {
    // A Kafka client has no way to read a reason: it just sees the connection close.
    static constexpr char kBusy[] = "error 503 too many connections\r\n";
    if (wire == Wire::kLine)
      (void)!::send(fd, kBusy, sizeof(kBusy) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
    ::close(fd);
    ++stats_.connections_rejected;
    return;
  }
  (void)set_nodelay(fd);
  std::uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    slot = static_cast<std::uint32_t>(connections_.size());
    connections_.push_back(
        std::make_unique<Connection>(options_.limits, options_.kafka_max_frame_bytes));
    generations_.push_back(0);
  }
  Connection* conn = connections_[slot].get();
  conn->server = this;
  conn->id = (std::uint64_t{++generations_[slot]} << 32) | slot;
  conn->fd = fd;
  conn->wire = wire;
  conn->last_active = Clock::now();
  conn->recv_op.context = conn;
  conn->send_op.context = conn;
  conn->splice.context = conn;
  conn->recv_op.callback = &Impl::on_recv;
  conn->send_op.callback = &Impl::on_sent;
  conn->splice.done = &Impl::on_spliced;
  ++open_connections_;
  ++stats_.connections;
  ++stats_.connections_total;
  if (wire == Wire::kKafka) ++stats_.kafka_connections_total;
  arm_recv(*conn);
}

Connection* Server::Impl::find(std::uint64_t id) noexcept {
  const std::uint32_t slot = slot_of(id);
  if (slot >= connections_.size()) return nullptr;
  Connection* conn = connections_[slot].get();
  return conn->id == id && !conn->closing ? conn : nullptr;
}

// ---- reading ------------------------------------------------------------------------------------

bool Server::Impl::blocked(const Connection& conn) const noexcept {
  return conn.replies.slots() >= options_.max_pending_requests ||
         conn.replies.unsent_bytes() + conn.pending_read_bytes >= options_.max_buffered_bytes;
}

// A request held back by the order gate (a deferred line request, a Kafka frame left in the
// splitter) stops reading too, so that a held connection buffers no more than a blocked one.
bool Server::Impl::held(const Connection& conn) const noexcept {
  if (conn.wire == Wire::kKafka)
    return conn.frames.peek().status == kafka::FrameSplitter::Status::kFrame;
  return conn.deferred.has_value();
}

void Server::Impl::arm_recv(Connection& conn) {
  if (conn.reading || conn.peer_eof || conn.read_closed || conn.closing || blocked(conn) ||
      held(conn)) {
    return;
  }
  if (!request_admitted(conn)) return;
  std::span<std::byte> space =
      conn.wire == Wire::kKafka ? conn.frames.prepare(kBudgetFreeBytes) : conn.parser.prepare();
  if (space.empty()) return;
  conn.reading = true;
  ++conn.ops_in_flight;
  ring_->recv(conn.recv_op, conn.fd, space);
}

void Server::Impl::on_recv(Ring&, Completion& c) {
  Connection& conn = conn_of(c);
  Impl& self = *conn.server;
  conn.reading = false;
  --conn.ops_in_flight;
  if (conn.closing) return self.maybe_free(conn);
  auto n = c.result();
  if (!n) return self.close_connection(conn);
  if (*n == 0) {
    conn.peer_eof = true;  // answer what was asked, then close
  } else if (conn.wire == Wire::kKafka) {
    conn.frames.commit(static_cast<std::size_t>(*n));
    self.stats_.bytes_in += *n;
    conn.last_active = Clock::now();
  } else {
    conn.parser.commit(static_cast<std::size_t>(*n));
    self.stats_.bytes_in += *n;
    conn.last_active = Clock::now();
  }
  self.pump(conn);
}

void Server::Impl::pump(Connection& conn) {
  if (conn.closing) return;
  if (conn.wire == Wire::kKafka) {
    process_kafka(conn);
  } else {
    process(conn);
  }
  if (conn.closing) return;
  pump_send(conn);
  if (conn.closing) return;
  arm_recv(conn);
}

// ---- the request budget ---------------------------------------------------------------------

bool Server::Impl::request_admitted(Connection& conn) {
  if (conn.budget_waiting) return false;
  const std::size_t bytes = conn.wire == Wire::kKafka ? conn.frames.incomplete_frame_bytes()
                                                      : conn.parser.incomplete_request_bytes();
  if (bytes <= kBudgetFreeBytes || conn.request_budget_bytes > 0) return true;
  if (request_budget_.reserve(conn.id, bytes)) {
    conn.request_budget_bytes = bytes;
    stats_.request_bytes = request_budget_.used_bytes();
    return true;
  }
  conn.budget_waiting = true;
  stats_.request_waits = request_budget_.waiting();
  return false;
}

void Server::Impl::release_request_bytes(std::size_t bytes) {
  if (bytes == 0) return;
  request_budget_.release(bytes);
  grant_request_budget();
}

void Server::Impl::grant_request_budget() {
  for (auto grants = request_budget_.grant(); !grants.empty(); grants = request_budget_.grant()) {
    for (const RequestBudget::Grant& grant : grants) {
      Connection* conn = find(grant.id);
      if (conn == nullptr || !conn->budget_waiting) {
        request_budget_.release(grant.bytes);  // cannot happen: closing leaves the queue
        continue;
      }
      conn->budget_waiting = false;
      conn->request_budget_bytes = grant.bytes;
      conn->last_active = Clock::now();  // its idle time starts now
      // Pumped from the top of the loop, never here (see pump_ready).
      if (!conn->pump_queued) {
        conn->pump_queued = true;
        ready_.push_back(conn->id);
      }
    }
  }
  stats_.request_bytes = request_budget_.used_bytes();
  stats_.request_waits = request_budget_.waiting();
}

void Server::Impl::leave_request_budget(Connection& conn) {
  if (conn.budget_waiting) {
    request_budget_.forget(conn.id);
    conn.budget_waiting = false;
    grant_request_budget();  // those behind it may fit now
  }
  release_request_bytes(std::exchange(conn.request_budget_bytes, 0));
}

// ---- sending ------------------------------------------------------------------------------------

void Server::Impl::pump_send(Connection& conn) {
  if (conn.sending || conn.closing) return;
  const ReplyQueue::Next next = conn.replies.next();
  switch (next.kind) {
    case ReplyQueue::NextKind::kNothing:
      if ((conn.read_closed || conn.peer_eof) && conn.replies.empty() && !conn.reading &&
          !conn.deferred) {
        close_connection(conn);
      }
      return;
    case ReplyQueue::NextKind::kClose:
      close_connection(conn);
      return;
    case ReplyQueue::NextKind::kBytes:
      conn.sending = true;
      ++conn.ops_in_flight;
      ring_->sendv(conn.send_op, conn.fd, next.iov);
      return;
    case ReplyQueue::NextKind::kFile:
      send_file(conn, next.file);
      return;
  }
}

void Server::Impl::send_file(Connection& conn, const FileSlice& file) {
  if (conn.pipe_read < 0) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
      RINGLOG_WARN("server: %s", error_from_errno(errno, "pipe2").to_string().c_str());
      return close_connection(conn);
    }
    conn.pipe_read = fds[0];
    conn.pipe_write = fds[1];
    // The pipe keeps its default size: with F_SETPIPE_SZ of 1 MiB, SpliceSend stalls on
    // multi-MiB ranges (reported to io/).
  }
  conn.splicing = file;
  conn.sending = true;
  ++conn.ops_in_flight;
  conn.splice.start(*ring_, file.fd, file.position, file.length, conn.pipe_read, conn.pipe_write,
                    conn.fd);
}

void Server::Impl::on_sent(Ring&, Completion& c) {
  Connection& conn = conn_of(c);
  Impl& self = *conn.server;
  conn.sending = false;
  --conn.ops_in_flight;
  if (conn.closing) return self.maybe_free(conn);
  auto n = c.result();
  if (!n) return self.close_connection(conn);
  conn.replies.sent(*n);
  self.stats_.bytes_out += *n;
  conn.last_active = Clock::now();
  self.pump(conn);
}

void Server::Impl::on_spliced(Ring&, SpliceSend& send) {
  Connection& conn = *static_cast<Connection*>(send.context);
  Impl& self = *conn.server;
  conn.sending = false;
  conn.splicing = {};
  --conn.ops_in_flight;
  if (conn.closing) return self.maybe_free(conn);
  auto n = send.result();
  // A reply header promised these bytes: if they cannot all be sent the stream is broken.
  if (!n) return self.close_connection(conn);
  conn.replies.sent(*n);
  self.stats_.bytes_out += *n;
  conn.last_active = Clock::now();
  self.pump(conn);
}

// ---- closing ------------------------------------------------------------------------------------

void Server::Impl::close_connection(Connection& conn) {
  if (conn.closing) return;
  conn.closing = true;
  leave_request_budget(conn);
  ::shutdown(conn.fd, SHUT_RDWR);  // completes any recv, send or splice in flight
  maybe_free(conn);
}

// Queues a closing connection for freeing once no ring op refers to it any more. The freeing
// itself waits for the top of the loop: callers up the stack still hold references to it.
void Server::Impl::maybe_free(Connection& conn) {
  if (!conn.closing || conn.ops_in_flight > 0 || conn.queued_for_free) return;
  conn.queued_for_free = true;
  dead_.push_back(slot_of(conn.id));
}

void Server::Impl::free_dead() {
  for (const std::uint32_t slot : dead_) {
    Connection* conn = connections_[slot].get();
    RINGLOG_ASSERT(conn->closing && conn->ops_in_flight == 0);
    ::close(conn->fd);
    if (conn->pipe_read >= 0) ::close(conn->pipe_read);
    if (conn->pipe_write >= 0) ::close(conn->pipe_write);
    // The memory is kept for the next connection in this slot: the Ring may still hold a
    // pointer to one of its Completions (its last enqueued op), so it must stay readable.
    std::destroy_at(conn);
    std::construct_at(conn, options_.limits, options_.kafka_max_frame_bytes);
    free_slots_.push_back(slot);
    --open_connections_;
    --stats_.connections;
  }
  dead_.clear();
}

// ---- mailbox, timers ----------------------------------------------------------------------------

void Server::Impl::drain_mailbox() {
  // The vectors go back and forth with the mailbox's, so their capacity is reused.
  mailbox_->take(mail_appends_, mail_deliveries_, mail_visible_, mail_tasks_);
  for (AppendDone& done : mail_appends_)
    on_append_done(done);
  for (Delivery& delivery : mail_deliveries_)
    on_delivery(delivery);
  for (const Visible& v : mail_visible_) {
    on_visible(v);
    kafka_visible(v);
  }
  for (Task& task : mail_tasks_)
    task();
  mail_appends_.clear();
  mail_deliveries_.clear();
  mail_visible_.clear();
  mail_tasks_.clear();
}

void Server::Impl::arm_tick(Clock::duration after) {
  tick_armed_ = true;
  tick_at_ = Clock::now() + after;
  ring_->timeout(tick_op_, std::chrono::duration_cast<std::chrono::nanoseconds>(after));
}

// Makes the tick come no later than `deadline` (a new long poll may end before it).
void Server::Impl::tick_by(Clock::time_point deadline) {
  if (!tick_armed_ || deadline >= tick_at_ || cancelling_tick_) return;
  cancelling_tick_ = true;
  ring_->cancel(cancel_tick_op_, tick_op_);  // the tick completes now and re-arms itself
}

void Server::Impl::on_tick(Ring&, Completion& c) {
  Impl& self = *static_cast<Impl*>(c.context);
  self.tick_armed_ = false;
  self.tick();
}

void Server::Impl::tick() {
  ++stats_.timer_ticks;
  const Clock::time_point now = Clock::now();
  expire_waiters(now, /*all=*/false);
  kafka_tick();
  resume_accepts();
  if (now - last_idle_sweep_ >= kIdleSweepInterval) {
    last_idle_sweep_ = now;
    const auto idle = std::chrono::milliseconds(options_.idle_timeout_ms);
    for (auto& conn : connections_) {
      if (conn->fd < 0 || conn->closing) continue;
      // A connection waiting for the request budget is silent because it is not read.
      const bool quiet = conn->replies.empty() && !conn->sending && !conn->budget_waiting;
      if ((options_.idle_timeout_ms > 0 && quiet && now - conn->last_active >= idle) ||
          (shutting_down_ && now >= shutdown_deadline_)) {
        if (!shutting_down_) ++stats_.idle_closed;
        close_connection(*conn);
      }
    }
  }
  if (shutting_down_ && open_connections_ == 0) return;
  Clock::duration next = kMaxTickInterval;
  for (const Waiter& w : waiters_)
    next = std::min<Clock::duration>(next, w.deadline - now);
  if (auto deadline = kafka_deadline()) next = std::min<Clock::duration>(next, *deadline - now);
  arm_tick(std::max<Clock::duration>(next, std::chrono::milliseconds(1)));
}

}  // namespace ringlog::protocol
