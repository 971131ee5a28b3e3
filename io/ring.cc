#include "io/ring.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <string>

#include "io/assert.h"
#include "io/uring_setup.h"

namespace ringlog {
namespace {

constexpr int kNoProgress = -1;                // Completion::sys_errno_: a transfer stalled
constexpr std::uint64_t kMaxChunk = 1u << 30;  // bytes per SQE
constexpr unsigned kMaxIov = IOV_MAX;
// user_data of the cancel SQEs that abandon() and ~Ring submit: no Completion lives at address 1.
constexpr std::uint64_t kInternalCancel = 1;

constexpr UringOpcode kOpcodes[] = {
    {IORING_OP_OPENAT, "IORING_OP_OPENAT"},
    {IORING_OP_READ, "IORING_OP_READ"},
    {IORING_OP_WRITE, "IORING_OP_WRITE"},
    {IORING_OP_WRITEV, "IORING_OP_WRITEV"},
    {IORING_OP_WRITE_FIXED, "IORING_OP_WRITE_FIXED"},
    {IORING_OP_FSYNC, "IORING_OP_FSYNC"},
    {IORING_OP_FALLOCATE, "IORING_OP_FALLOCATE"},
    {IORING_OP_ACCEPT, "IORING_OP_ACCEPT"},
    {IORING_OP_RECV, "IORING_OP_RECV"},
    {IORING_OP_SEND, "IORING_OP_SEND"},
    {IORING_OP_SENDMSG, "IORING_OP_SENDMSG"},
    {IORING_OP_SPLICE, "IORING_OP_SPLICE"},
    {IORING_OP_TIMEOUT, "IORING_OP_TIMEOUT"},
    {IORING_OP_ASYNC_CANCEL, "IORING_OP_ASYNC_CANCEL"},
};

// Ops that complete only when every byte has moved (a read: or at end of file).
bool is_transfer(RingOp op) {
  switch (op) {
    case RingOp::kRead:
    case RingOp::kWrite:
    case RingOp::kWritev:
    case RingOp::kWriteFixed:
    case RingOp::kSend:
    case RingOp::kSendv:
    case RingOp::kSplice:
      return true;
    default:
      return false;
  }
}

bool is_vector(RingOp op) {
  return op == RingOp::kWritev || op == RingOp::kSendv;
}

const char* op_name(RingOp op) {
  switch (op) {
    case RingOp::kNone:
      return "none";
    case RingOp::kOpenat:
      return "openat";
    case RingOp::kRead:
      return "read";
    case RingOp::kWrite:
      return "write";
    case RingOp::kWritev:
      return "writev";
    case RingOp::kWriteFixed:
      return "write_fixed";
    case RingOp::kFsync:
      return "fsync";
    case RingOp::kFallocate:
      return "fallocate";
    case RingOp::kAccept:
      return "accept";
    case RingOp::kRecv:
      return "recv";
    case RingOp::kSend:
      return "send";
    case RingOp::kSendv:
      return "sendmsg";
    case RingOp::kSplice:
      return "splice";
    case RingOp::kTimeout:
      return "timeout";
    case RingOp::kCancel:
      return "cancel";
  }
  return "?";
}

std::uint64_t iov_bytes(std::span<const iovec> iov) {
  std::uint64_t total = 0;
  for (const iovec& v : iov)
    total += v.iov_len;
  return total;
}

std::int64_t as_offset(std::uint64_t offset, std::uint64_t done) {
  return offset == kNoOffset ? -1 : static_cast<std::int64_t>(offset + done);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Completion

Completion::~Completion() {
  RINGLOG_ASSERT_MSG(idle(),
                     "Completion destroyed while its op is queued, in flight or awaiting its "
                     "callback: let the callback run, or Ring::abandon() it first");
}

int Completion::sys_errno() const {
  return sys_errno_ == kNoProgress ? EIO : sys_errno_;
}

Result<std::uint64_t> Completion::result() const {
  if (sys_errno_ == 0) return is_transfer(op_) ? done_ : static_cast<std::uint64_t>(value_);
  std::string what = op_name(op_);
  if (op_ == RingOp::kOpenat) {
    what += ' ';
    what += static_cast<const char*>(buf_);
  } else if (fd_ >= 0) {
    what += " fd " + std::to_string(fd_);
  }
  if (sys_errno_ == kNoProgress) {
    return fail(Errc::kIo, what + ": no progress after " + std::to_string(done_) + " of " +
                               std::to_string(length_) + " bytes (end of input?)");
  }
  return fail(error_from_errno(sys_errno_, what));
}

// ---------------------------------------------------------------------------------------------
// Setup

Result<std::unique_ptr<Ring>> Ring::create(unsigned entries) {
  RINGLOG_ASSERT(entries > 0);
  std::unique_ptr<Ring> ring(new Ring(entries));
  if (Status s = ring->init(); !s) return fail(s.error().with_context("io_uring Ring"));
  return ring;
}

Status Ring::init() {
  if (Status s = uring_init(&ring_, entries_, 0, kOpcodes); !s) return s;
  ready_ring_ = true;
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC);  // blocking: io_uring polls it instead of failing EAGAIN
  if (wake_fd_ < 0) return fail(error_from_errno(errno, "eventfd"));
  arm_wake();
  return {};
}

Ring::~Ring() {
  if (ready_ring_) {
    drain();
    io_uring_queue_exit(&ring_);
  }
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

Status Ring::register_buffers(std::span<const iovec> buffers) {
  io_uring_unregister_buffers(&ring_);  // ENXIO when none are registered: fine
  int r = io_uring_register_buffers(&ring_, buffers.data(), static_cast<unsigned>(buffers.size()));
  if (r < 0) return fail(error_from_errno(-r, "io_uring_register_buffers"));
  return {};
}

Status Ring::register_files(std::span<const int> fds) {
  io_uring_unregister_files(&ring_);
  int r = io_uring_register_files(&ring_, fds.data(), static_cast<unsigned>(fds.size()));
  if (r < 0) return fail(error_from_errno(-r, "io_uring_register_files"));
  return {};
}

// ---------------------------------------------------------------------------------------------
// Wake-up: a read of the eventfd is always in flight; wake() makes it complete.

void Ring::wake() noexcept {
  std::uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof(one));
}

void Ring::arm_wake() {
  wake_.callback = &Ring::on_wake;
  wake_.context = this;
  read(wake_, wake_fd_, std::as_writable_bytes(std::span(&wake_value_, 1)), kNoOffset);
}

void Ring::on_wake(Ring& ring, Completion& c) {
  if (c.sys_errno() != ECANCELED) ring.arm_wake();
}

// ---------------------------------------------------------------------------------------------
// Enqueueing

void Ring::enqueue(Completion& c, RingOp op, Fd fd, Link link) {
  RINGLOG_ASSERT_MSG(c.state_ == Completion::State::kIdle, "Completion enqueued while busy");
  RINGLOG_ASSERT_MSG(c.callback != nullptr, "Completion without a callback");
  c.op_ = op;
  c.fd_ = fd.value;
  c.sqe_flags_ = fd.registered ? IOSQE_FIXED_FILE : 0;
  c.done_ = 0;
  c.submissions_ = 0;
  c.value_ = 0;
  c.sys_errno_ = 0;
  c.iov_index_ = 0;
  c.iov_head_ = {};
  c.hard_linked_ = c.link_broken_ = c.prev_failed_ = false;
  c.link_next_ = c.link_prev_ = nullptr;
  c.wants_link_ = false;
  if (&c != &wake_) {  // the wake-up read never joins the caller's links
    if (link_from_ != nullptr) {
      link_from_->wants_link_ = false;
      link_from_->link_next_ = &c;
      c.link_prev_ = link_from_;
    }
    c.wants_link_ = link == Link::kNext;
    link_from_ = c.wants_link_ ? &c : nullptr;
    ++active_;
  }
  push_pending(c);
}

void Ring::push_pending(Completion& c) {
  c.state_ = Completion::State::kPending;
  pending_.push(c);
}

void Ring::openat(Completion& c, int dir_fd, const char* path, int flags, mode_t mode, Link link) {
  enqueue(c, RingOp::kOpenat, dir_fd, link);
  c.buf_ = const_cast<char*>(path);
  c.flags_ = static_cast<std::uint32_t>(flags | O_CLOEXEC);
  c.extra_ = mode;
}

void Ring::read(Completion& c, Fd fd, std::span<std::byte> buf, std::uint64_t offset, Link link) {
  enqueue(c, RingOp::kRead, fd, link);
  c.buf_ = buf.data();
  c.length_ = buf.size();
  c.offset_ = offset;
}

void Ring::write(Completion& c, Fd fd, std::span<const std::byte> data, std::uint64_t offset,
                 Link link) {
  enqueue(c, RingOp::kWrite, fd, link);
  c.buf_ = const_cast<std::byte*>(data.data());
  c.length_ = data.size();
  c.offset_ = offset;
}

void Ring::writev(Completion& c, Fd fd, std::span<const iovec> iov, std::uint64_t offset,
                  Link link) {
  enqueue(c, RingOp::kWritev, fd, link);
  c.buf_ = const_cast<iovec*>(iov.data());
  c.extra_ = static_cast<std::uint32_t>(iov.size());
  c.length_ = iov_bytes(iov);
  c.offset_ = offset;
}

void Ring::write_fixed(Completion& c, Fd fd, std::span<const std::byte> data, std::uint64_t offset,
                       int buf_index, Link link) {
  enqueue(c, RingOp::kWriteFixed, fd, link);
  c.buf_ = const_cast<std::byte*>(data.data());
  c.length_ = data.size();
  c.offset_ = offset;
  c.extra_ = static_cast<std::uint32_t>(buf_index);
}

void Ring::fsync(Completion& c, Fd fd, SyncKind kind, Link link) {
  enqueue(c, RingOp::kFsync, fd, link);
  c.flags_ = kind == SyncKind::kData ? IORING_FSYNC_DATASYNC : 0;
}

void Ring::fallocate(Completion& c, Fd fd, int mode, std::uint64_t offset, std::uint64_t length,
                     Link link) {
  enqueue(c, RingOp::kFallocate, fd, link);
  c.flags_ = static_cast<std::uint32_t>(mode);
  c.offset_ = offset;
  c.length_ = length;
}

void Ring::accept(Completion& c, int listen_fd) {
  enqueue(c, RingOp::kAccept, listen_fd, Link::kNone);
}

void Ring::recv(Completion& c, Fd fd, std::span<std::byte> buf) {
  enqueue(c, RingOp::kRecv, fd, Link::kNone);
  c.buf_ = buf.data();
  c.length_ = buf.size();
}

void Ring::send(Completion& c, Fd fd, std::span<const std::byte> data, Link link) {
  enqueue(c, RingOp::kSend, fd, link);
  c.buf_ = const_cast<std::byte*>(data.data());
  c.length_ = data.size();
}

void Ring::sendv(Completion& c, Fd fd, std::span<const iovec> iov, Link link) {
  enqueue(c, RingOp::kSendv, fd, link);
  c.buf_ = const_cast<iovec*>(iov.data());
  c.extra_ = static_cast<std::uint32_t>(iov.size());
  c.length_ = iov_bytes(iov);
}

void Ring::splice(Completion& c, int fd_in, std::uint64_t off_in, int fd_out, std::uint64_t off_out,
                  std::uint32_t length, unsigned flags, Link link) {
  enqueue(c, RingOp::kSplice, fd_in, link);
  c.fd2_ = fd_out;
  c.offset_ = off_in;
  c.offset2_ = off_out;
  c.length_ = length;
  c.flags_ = flags;
}

void Ring::timeout(Completion& c, std::chrono::nanoseconds after) {
  enqueue(c, RingOp::kTimeout, -1, Link::kNone);
  auto ns = std::max<std::int64_t>(after.count(), 0);
  c.ts_.tv_sec = ns / 1'000'000'000;
  c.ts_.tv_nsec = ns % 1'000'000'000;
}

void Ring::cancel(Completion& c, Completion& target) {
  enqueue(c, RingOp::kCancel, -1, Link::kNone);
  c.buf_ = &target;
  using State = Completion::State;
  if (target.state_ == State::kPending || target.state_ == State::kParked) {
    remove_pending(c);  // never reached the kernel: settle both here
    if (target.state_ == State::kPending) remove_pending(target);
    finish(target, ECANCELED);
    finish(c, 0);
  } else if (target.state_ != State::kInFlight) {
    remove_pending(c);
    finish(c, target.state_ == State::kReady ? EALREADY : ENOENT);
  }
}

// ---------------------------------------------------------------------------------------------
// Submission: whole link chains into SQEs while the queue depth allows.

void Ring::Queue::push(Completion& c) {
  c.next_ = nullptr;
  if (tail == nullptr) {
    head = &c;
  } else {
    tail->next_ = &c;
  }
  tail = &c;
}

Completion& Ring::Queue::pop() {
  Completion& c = *head;
  head = c.next_;
  if (head == nullptr) tail = nullptr;
  c.next_ = nullptr;
  return c;
}

bool Ring::Queue::remove(Completion& c) {
  Completion* prev = nullptr;
  for (Completion* it = head; it != nullptr; prev = it, it = it->next_) {
    if (it != &c) continue;
    (prev == nullptr ? head : prev->next_) = c.next_;
    if (tail == &c) tail = prev;
    c.next_ = nullptr;
    return true;
  }
  return false;
}

void Ring::remove_pending(Completion& c) {
  pending_.remove(c);
}

// Whether one SQE carries everything left of `c`. Only then may an op be hard-linked to its
// successor: a kernel link would otherwise start the successor after the first part.
bool Ring::whole(const Completion& c) const {
  if (!is_transfer(c.op_)) return true;
  if (c.length_ - c.done_ > kMaxChunk) return false;
  if (!is_vector(c.op_)) return true;
  if (c.iov_head_.iov_len > 0) return c.iov_index_ + 1 == c.extra_;
  return c.extra_ - c.iov_index_ <= kMaxIov;
}

unsigned Ring::chain_length(const Completion& head) const {
  unsigned n = 1;
  for (const Completion* c = &head;
       c->link_next_ != nullptr && c->next_ == c->link_next_ && whole(*c) && n < entries_;
       c = c->next_) {
    ++n;
  }
  return n;
}

// Returns true when it stopped because the SQ ring is full (so more can go once it is submitted).
bool Ring::flush_pending() {
  while (!pending_.empty()) {
    Completion& head = *pending_.head;
    RINGLOG_ASSERT_MSG(!head.wants_link_, "Link::kNext without an op enqueued after it");
    if (head.link_prev_ != nullptr) {  // its predecessor went ahead alone: wait for it to finish
      pending_.pop().state_ = Completion::State::kParked;
      continue;
    }
    unsigned chain = chain_length(head);
    // The wake-up read is always in flight; it does not count against the caller's depth.
    unsigned busy = in_flight_ - (wake_.state_ == Completion::State::kInFlight ? 1 : 0);
    if (busy + chain > entries_) return false;
    if (io_uring_sq_space_left(&ring_) < chain) return true;
    for (unsigned i = 0; i < chain; ++i)
      prep_sqe(pending_.pop(), i + 1 < chain);
  }
  return false;
}

void Ring::prep_sqe(Completion& c, bool hard_link) {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  RINGLOG_ASSERT(sqe != nullptr);
  c.hard_linked_ = hard_link;  // read by prep_transfer
  if (is_transfer(c.op_)) {
    prep_transfer(sqe, c);
  } else {
    prep_other(sqe, c);
  }
  sqe->flags |= c.sqe_flags_ | (hard_link ? IOSQE_IO_LINK : 0);
  io_uring_sqe_set_data(sqe, &c);
  ++c.submissions_;
  c.state_ = Completion::State::kInFlight;
  ++in_flight_;
}

const iovec* Ring::current_iov(Completion& c, unsigned* count) {
  if (c.iov_head_.iov_len > 0) {
    *count = 1;
    return &c.iov_head_;
  }
  *count = std::min(c.extra_ - c.iov_index_, kMaxIov);
  return static_cast<const iovec*>(c.buf_) + c.iov_index_;
}

void Ring::prep_transfer(io_uring_sqe* sqe, Completion& c) {
  auto n = static_cast<unsigned>(std::min(c.length_ - c.done_, kMaxChunk));
  std::byte* at = static_cast<std::byte*>(c.buf_) + (is_vector(c.op_) ? 0 : c.done_);
  auto offset = static_cast<std::uint64_t>(as_offset(c.offset_, c.done_));
  unsigned count = 0;
  // A short send does not break a kernel link unless MSG_WAITALL asks the kernel to finish it.
  int send_flags = MSG_NOSIGNAL | (c.hard_linked_ ? MSG_WAITALL : 0);
  switch (c.op_) {
    case RingOp::kRead:
      io_uring_prep_read(sqe, c.fd_, at, n, offset);
      break;
    case RingOp::kWrite:
      io_uring_prep_write(sqe, c.fd_, at, n, offset);
      break;
    case RingOp::kWriteFixed:
      io_uring_prep_write_fixed(sqe, c.fd_, at, n, offset, static_cast<int>(c.extra_));
      break;
    case RingOp::kWritev: {
      const iovec* iov = current_iov(c, &count);
      io_uring_prep_writev(sqe, c.fd_, iov, count, offset);
      break;
    }
    case RingOp::kSend:
      io_uring_prep_send(sqe, c.fd_, at, n, send_flags);
      break;
    case RingOp::kSendv:
      c.msg_ = {};
      c.msg_.msg_iov = const_cast<iovec*>(current_iov(c, &count));
      c.msg_.msg_iovlen = count;
      io_uring_prep_sendmsg(sqe, c.fd_, &c.msg_, static_cast<unsigned>(send_flags));
      break;
    case RingOp::kSplice:
      io_uring_prep_splice(sqe, c.fd_, as_offset(c.offset_, c.done_), c.fd2_,
                           as_offset(c.offset2_, c.done_), n, c.flags_);
      break;
    default:
      RINGLOG_ASSERT_MSG(false, "not a transfer op");
  }
}

void Ring::prep_other(io_uring_sqe* sqe, Completion& c) {
  switch (c.op_) {
    case RingOp::kOpenat:
      io_uring_prep_openat(sqe, c.fd_, static_cast<const char*>(c.buf_), static_cast<int>(c.flags_),
                           c.extra_);
      break;
    case RingOp::kFsync:
      io_uring_prep_fsync(sqe, c.fd_, c.flags_);
      break;
    case RingOp::kFallocate:
      io_uring_prep_fallocate(sqe, c.fd_, static_cast<int>(c.flags_), static_cast<off_t>(c.offset_),
                              static_cast<off_t>(c.length_));
      break;
    case RingOp::kAccept:
      io_uring_prep_accept(sqe, c.fd_, nullptr, nullptr, SOCK_CLOEXEC);
      break;
    case RingOp::kRecv:
      io_uring_prep_recv(sqe, c.fd_, c.buf_, c.length_, 0);
      break;
    case RingOp::kTimeout:
      io_uring_prep_timeout(sqe, &c.ts_, 0, 0);
      break;
    case RingOp::kCancel:
      io_uring_prep_cancel64(sqe, reinterpret_cast<std::uintptr_t>(c.buf_), 0);
      break;
    default:
      RINGLOG_ASSERT_MSG(false, "not a single-shot op");
  }
}

Status Ring::submit() {
  for (;;) {
    bool sq_full = flush_pending();
    if (io_uring_sq_ready(&ring_) == 0) return {};
    int r = io_uring_submit(&ring_);
    if (r == -EINTR || r == -EAGAIN || r == -EBUSY) return {};  // the rest goes next time
    if (r < 0) return fail(error_from_errno(-r, "io_uring_enter"));
    if (!sq_full || r == 0) return {};
  }
}

// ---------------------------------------------------------------------------------------------
// Reaping: decide each op's fate (done, retried, parked); callbacks wait for run_callbacks.

void Ring::reap() {
  io_uring_cqe* cqe = nullptr;
  unsigned head = 0;
  unsigned seen = 0;
  io_uring_for_each_cqe(&ring_, head, cqe) {
    ++seen;
    if (cqe->user_data == LIBURING_UDATA_TIMEOUT) continue;  // liburing's own wait timeout
    if (cqe->user_data == kInternalCancel) {
      --internal_cancels_;
      internal_cancel_res_ = cqe->res;
      continue;
    }
    ++reaped_;
    on_cqe(*static_cast<Completion*>(io_uring_cqe_get_data(cqe)), cqe->res);
  }
  io_uring_cq_advance(&ring_, seen);
}

void Ring::on_cqe(Completion& c, int res) {
  --in_flight_;
  if (c.op_ == RingOp::kTimeout && res == -ETIME) res = 0;  // expiry is what a timer is for
  bool linked = std::exchange(c.hard_linked_, false);
  bool short_of_all =
      is_transfer(c.op_) && res >= 0 && c.done_ + static_cast<std::uint64_t>(res) < c.length_;
  // The kernel cancels the rest of a chain after a failed or short op; remember why (unless the
  // successor's cancellation was reaped first: it is parked already).
  if (linked && c.link_next_ != nullptr && c.link_next_->state_ == Completion::State::kInFlight &&
      (res < 0 || short_of_all)) {
    c.link_next_->link_broken_ = true;
  }
  if (res == -EINTR || res == -EAGAIN) {
    push_pending(c);
  } else if (res == -ECANCELED && (c.link_broken_ || c.link_prev_ != nullptr)) {
    on_cancelled_link(c);
  } else if (res < 0) {
    finish(c, -res);
  } else if (!is_transfer(c.op_)) {
    c.value_ = res;
    finish(c, 0);
  } else {
    on_progress(c, res);
  }
}

// `c` was cancelled by the kernel because its predecessor fell short (or failed, or has not been
// reaped yet): run it again once the predecessor has finished, or report ECANCELED if that
// failed.
void Ring::on_cancelled_link(Completion& c) {
  c.link_broken_ = false;
  if (c.link_prev_ != nullptr) {
    c.state_ = Completion::State::kParked;
  } else if (c.prev_failed_) {
    finish(c, ECANCELED);
  } else {
    push_pending(c);
  }
}

void Ring::on_progress(Completion& c, int res) {
  auto n = static_cast<std::uint64_t>(res);
  c.done_ += n;
  advance(c, n);
  if (c.done_ == c.length_ || (n == 0 && c.op_ == RingOp::kRead)) {
    finish(c, 0);  // all of it, or a read that met end of file
  } else if (n == 0) {
    finish(c, kNoProgress);
  } else {
    push_pending(c);  // a short transfer: the remainder goes out next
  }
}

// Moves a vector op's position `n` bytes on, without touching the caller's iovec array.
void Ring::advance(Completion& c, std::uint64_t n) {
  if (!is_vector(c.op_)) return;
  const iovec* iov = static_cast<const iovec*>(c.buf_);
  while (n > 0) {
    iovec& head = c.iov_head_;
    if (head.iov_len == 0) head = iov[c.iov_index_];
    std::uint64_t take = std::min<std::uint64_t>(n, head.iov_len);
    head.iov_base = static_cast<std::byte*>(head.iov_base) + take;
    head.iov_len -= take;
    n -= take;
    if (head.iov_len == 0) ++c.iov_index_;
  }
}

void Ring::finish(Completion& c, int sys_errno) {
  if (link_from_ == &c) link_from_ = nullptr;  // cancelled before its successor was enqueued
  c.wants_link_ = false;
  c.sys_errno_ = sys_errno;
  c.state_ = Completion::State::kReady;
  c.ready_round_ = round_;
  ready_.push(c);
  if (c.link_prev_ != nullptr) {
    c.link_prev_->link_next_ = nullptr;
    c.link_prev_ = nullptr;
  }
  release_successor(c);
}

// After `c` finished: its linked successor, if parked or still queued, runs or is cancelled.
void Ring::release_successor(Completion& c) {
  Completion* s = std::exchange(c.link_next_, nullptr);
  if (s == nullptr) return;
  s->link_prev_ = nullptr;
  s->prev_failed_ = c.sys_errno_ != 0;
  using State = Completion::State;
  if (s->prev_failed_ && (s->state_ == State::kPending || s->state_ == State::kParked)) {
    if (s->state_ == State::kPending) remove_pending(*s);
    finish(*s, ECANCELED);
  } else if (s->state_ == State::kParked) {
    push_pending(*s);
  }
}

// ---------------------------------------------------------------------------------------------
// Taking ops back: abandon() one, or drain() them all when the Ring goes.

void Ring::abandon(Completion& c) {
  std::uint64_t cancelled_at = ~std::uint64_t{0};
  while (c.state_ == Completion::State::kInFlight) {
    // (Re)send the cancel only once the last one is answered and something else has finished
    // since, so that an op that cannot be interrupted is waited for, not spun on.
    if (internal_cancels_ == 0 && reaped_ != cancelled_at) {
      cancelled_at = reaped_;
      cancel_in_kernel(c);
    }
    if (!wait_for_completion(nullptr)) break;
    reap();
  }
  RINGLOG_ASSERT_MSG(c.state_ != Completion::State::kInFlight, "abandon: the kernel kept the op");
  drop(c);
}

// Cancels `c` and the in-flight ops it is hard-linked after: a kernel link cannot lose its
// head, and the op after an unfinished head is not yet known to the kernel's cancel.
void Ring::cancel_in_kernel(const Completion& c) {
  const Completion* op = &c;
  for (;;) {
    (void)submit_internal_cancel(reinterpret_cast<std::uintptr_t>(op), 0);
    const Completion* prev = op->link_prev_;
    if (prev == nullptr || prev->state_ != Completion::State::kInFlight || !prev->hard_linked_)
      break;
    op = prev;
  }
}

bool Ring::submit_internal_cancel(std::uint64_t user_data, unsigned flags) {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  if (sqe == nullptr) {
    (void)io_uring_submit(&ring_);
    sqe = io_uring_get_sqe(&ring_);
    if (sqe == nullptr) return false;
  }
  io_uring_prep_cancel64(sqe, user_data, flags);
  io_uring_sqe_set_data64(sqe, kInternalCancel);
  ++internal_cancels_;
  int r = io_uring_submit(&ring_);
  return r >= 0 || r == -EINTR || r == -EAGAIN || r == -EBUSY;
}

// Makes `c` (not in the kernel) idle without running its callback, as if it had failed with
// ECANCELED as far as an op linked after it is concerned.
void Ring::drop(Completion& c) {
  using State = Completion::State;
  switch (c.state_) {
    case State::kIdle:
      return;
    case State::kPending:
      pending_.remove(c);
      break;
    case State::kReady:
      ready_.remove(c);
      break;
    case State::kParked:
    case State::kInFlight:
      break;
  }
  if (link_from_ == &c) link_from_ = nullptr;
  if (c.link_prev_ != nullptr) {
    c.link_prev_->link_next_ = nullptr;
    c.link_prev_ = nullptr;
  }
  if (c.sys_errno_ == 0) c.sys_errno_ = ECANCELED;
  release_successor(c);
  c.wants_link_ = false;
  c.state_ = State::kIdle;
  if (&c != &wake_) --active_;
}

// For ~Ring: every op in the kernel cancelled and waited for, then everything dropped. A kernel
// without IORING_ASYNC_CANCEL_ANY (before 5.19) gets the old behaviour: the ops left in flight
// stay so (their Completions assert if destroyed later) and io_uring_queue_exit cancels them.
void Ring::drain() {
  std::uint64_t cancelled_at = ~std::uint64_t{0};
  while (in_flight_ > 0 && internal_cancel_res_ != -EINVAL) {
    if (internal_cancels_ == 0 && reaped_ != cancelled_at) {
      cancelled_at = reaped_;
      if (!submit_internal_cancel(0, IORING_ASYNC_CANCEL_ANY)) break;
    }
    if (!wait_for_completion(nullptr)) break;
    reap();
  }
  while (!pending_.empty())
    drop(*pending_.head);
  while (!ready_.empty())
    drop(*ready_.head);
  if (wake_.state_ == Completion::State::kInFlight) wake_.state_ = Completion::State::kIdle;
}

// ---------------------------------------------------------------------------------------------
// The loop

// Runs the callbacks of the ops that were ready when it was called; ops that become ready during
// a callback wait for the next call. Each is taken off the queue just before its callback, so a
// callback may abandon() another ready op.
unsigned Ring::run_callbacks() {
  const std::uint64_t round = ++round_;
  unsigned ran = 0;
  while (!ready_.empty() && ready_.head->ready_round_ < round) {
    Completion& c = ready_.pop();
    c.state_ = Completion::State::kIdle;
    if (&c != &wake_) --active_;
    c.callback(*this, c);  // may enqueue c again, or destroy it
    ++ran;
  }
  return ran;
}

Status Ring::wait_for_completion(const __kernel_timespec* timeout) {
  io_uring_cqe* cqe = nullptr;
  int r = timeout == nullptr
              ? io_uring_wait_cqe(&ring_, &cqe)
              : io_uring_wait_cqe_timeout(&ring_, &cqe, const_cast<__kernel_timespec*>(timeout));
  if (r == 0 || r == -EINTR || r == -ETIME || r == -EAGAIN) return {};
  return fail(error_from_errno(-r, "io_uring wait"));
}

Result<unsigned> Ring::run_once(bool wait) {
  if (Status s = submit(); !s) return fail(s.error());
  if (wait && ready_.empty() && io_uring_cq_ready(&ring_) == 0) {
    if (Status s = wait_for_completion(nullptr); !s) return fail(s.error());
  }
  reap();
  return run_callbacks();
}

Status Ring::run_for(std::chrono::nanoseconds duration) {
  auto deadline = std::chrono::steady_clock::now() + duration;
  for (;;) {
    if (Status s = submit(); !s) return s;
    auto left = deadline - std::chrono::steady_clock::now();
    if (left <= std::chrono::nanoseconds::zero()) return {};
    if (ready_.empty() && io_uring_cq_ready(&ring_) == 0) {
      auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
      __kernel_timespec ts{ns / 1'000'000'000, ns % 1'000'000'000};
      if (Status s = wait_for_completion(&ts); !s) return s;
    }
    reap();
    run_callbacks();
  }
}

}  // namespace ringlog
