// Ring: one io_uring and the caller-owned operations that run on it, shaped like liburing's
// examples and TigerBeetle's io layer (src/io/linux.zig).
//
//   Completion c;                     // embedded in the caller's object, reused op after op
//   c.callback = &Conn::on_sent;      // a function pointer...
//   c.context = this;                 // ...and its context: nothing is allocated per I/O
//   ring.send(c, fd, bytes);          // 1. enqueue: fill `c`, append it to the pending queue
//   ring.run_once();                  // 2. submit  3. reap  4. run callbacks
//
// Phases. Enqueueing never touches the kernel. `submit` moves pending ops into SQEs while the
// queue depth (`entries`) allows and hands them to the kernel in one io_uring_enter; the rest
// wait in the pending queue (intrusive, so it is bounded by the caller's own objects). Reaping
// moves finished ops to a ready list; callbacks run afterwards, never inside the reap loop, so a
// callback may enqueue more ops (even on its own Completion) or destroy the object that owns it.
//
// Results. A short read, write, send or splice is resubmitted for the remainder and completes
// only when every byte is transferred (a read also stops at end of file); EAGAIN and EINTR are
// retried; errors become `Error`s through error_from_errno (io/error.cc) when `result()` is asked.
// recv and accept complete with what the kernel gives (recv: 1+ bytes, or 0 when the peer closed).
//
// Links. `Link::kNext` makes the next op enqueued start only after this one succeeds
// (IOSQE_IO_LINK): `write(w, fd, data, off, Link::kNext); fsync(s, fd)`. If the first op comes
// back short (which breaks a kernel link), its remainder is resubmitted and the second op is
// resubmitted after it; if the first fails, the second completes with ECANCELED. A linked send
// carries MSG_WAITALL, because the kernel breaks a link on a short send only then.
//
// Threading. A Ring is driven by one thread (the one calling enqueue/submit/run_*). `wake()` may
// be called from any thread: it makes a blocked `run_once` return.
//
// Lifetime. A Completion, and every buffer, path and iovec array it points to, must stay alive
// and untouched from enqueue until its callback has started: the Ring queues Completions by
// address and the kernel writes into the buffers until the op ends. Destroying a Completion that
// is not idle (queued, in flight, or finished with its callback not yet run) is a bug that
// `~Completion` catches with RINGLOG_ASSERT, before the Ring or the kernel can touch freed memory.
// An owner that must go while its ops run either cancels them and waits for their callbacks
// (`cancel`, then `run_once` until they have run), or calls `abandon(c)`, which takes each op
// back synchronously without running its callback. Destroying the Ring does the same for every
// op it still holds: when `~Ring` returns, neither it nor the kernel refers to any Completion
// or buffer, and every Completion is idle (their callbacks are not run).
#pragma once

#include <liburing.h>
#include <linux/time_types.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include <ringlog/error.h>

namespace ringlog {

class Ring;
struct Completion;

// Called once per finished op, outside the reap loop. `completion.result()` holds the outcome.
using Callback = void (*)(Ring& ring, Completion& completion);

enum class Link : bool { kNone, kNext };
enum class SyncKind : std::uint8_t { kData, kFull };  // fdatasync, fsync

// Offset for ops on a descriptor's current position (pipes, sockets, eventfds).
inline constexpr std::uint64_t kNoOffset = ~std::uint64_t{0};

// The descriptor an op works on: a plain fd, or an index into the files registered with
// `Ring::register_files` (IOSQE_FIXED_FILE).
struct Fd {
  int value = -1;
  bool registered = false;

  Fd(int fd) : value(fd) {}  // NOLINT: implicit, so that plain fds read naturally at call sites
  static Fd fixed(int index) {
    Fd fd(index);
    fd.registered = true;
    return fd;
  }
};

enum class RingOp : std::uint8_t {
  kNone,
  kOpenat,
  kRead,
  kWrite,
  kWritev,
  kWriteFixed,
  kFsync,
  kFallocate,
  kAccept,
  kRecv,
  kSend,
  kSendv,
  kSplice,
  kTimeout,
  kCancel,
};

// One operation, owned by the caller. Set `callback` (and `context`) before enqueueing; the rest
// is filled in by the Ring. Reusable as soon as its callback has started. Neither copyable nor
// movable: the Ring holds its address. REQUIRES at destruction: `idle()` (see Lifetime above).
struct Completion {
  Callback callback = nullptr;
  void* context = nullptr;

  Completion() = default;
  ~Completion();
  Completion(const Completion&) = delete;
  Completion& operator=(const Completion&) = delete;

  // Never enqueued, or its callback has started (or it was abandoned): the Ring and the kernel
  // hold no reference to it, so it may be enqueued again or destroyed.
  bool idle() const { return state_ == State::kIdle; }

  // The outcome, valid in the callback and until the Completion is enqueued again: the bytes
  // transferred (read, write*, send*, recv, splice), the new descriptor (openat, accept), or 0.
  // A timeout that expires is a success. Errors name the op: "send fd 9: Broken pipe".
  Result<std::uint64_t> result() const;
  int sys_errno() const;  // 0 on success
  RingOp op() const { return op_; }
  // SQEs this op took: more than one after a short transfer or a retry.
  std::uint32_t submissions() const { return submissions_; }

 private:
  friend class Ring;
  enum class State : std::uint8_t { kIdle, kPending, kInFlight, kParked, kReady };

  State state_ = State::kIdle;
  RingOp op_ = RingOp::kNone;
  bool wants_link_ = false;   // Link::kNext was asked
  bool hard_linked_ = false;  // submitted with IOSQE_IO_LINK to link_next_
  bool link_broken_ = false;  // the kernel cancelled this op because its predecessor fell short
  bool prev_failed_ = false;
  std::uint8_t sqe_flags_ = 0;
  int fd_ = -1;
  int fd2_ = -1;               // splice: fd_out; openat: unused
  void* buf_ = nullptr;        // buffer, path, iovec array, or target Completion
  std::uint64_t length_ = 0;   // bytes to transfer (for iovec ops, their total)
  std::uint64_t offset_ = 0;   // file offset; splice: off_in
  std::uint64_t offset2_ = 0;  // splice: off_out
  std::uint32_t flags_ = 0;    // open flags, fallocate mode, splice flags
  std::uint32_t extra_ = 0;    // openat: mode; write_fixed: buffer index; iovec ops: iov count
  std::uint64_t done_ = 0;     // bytes transferred so far
  std::int64_t value_ = 0;     // result of a non-transfer op
  int sys_errno_ = 0;          // kNoProgress: a transfer stopped with bytes left
  std::uint32_t submissions_ = 0;
  std::uint32_t iov_index_ = 0;
  iovec iov_head_{};  // the unsent part of iov[iov_index_] after a short transfer
  msghdr msg_{};
  __kernel_timespec ts_{};
  std::uint64_t ready_round_ = 0;  // the Ring's callback round in which it became ready
  Completion* next_ = nullptr;     // pending or ready queue
  Completion* link_next_ = nullptr;
  Completion* link_prev_ = nullptr;
};

class Ring {
 public:
  // Sets up an io_uring with `entries` SQEs (also the bound on ops in flight) and probes every
  // opcode the Ring uses. kUnsupported, naming what was refused, when the kernel or a sandbox
  // says no: "io_uring_setup failed: Operation not permitted (a seccomp sandbox, ...)".
  static Result<std::unique_ptr<Ring>> create(unsigned entries = 256);
  ~Ring();
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;

  // Operations. Each fills `c` and appends it to the pending queue; nothing reaches the kernel
  // before `submit`/`run_*`. REQUIRES: `c.callback` set; `c` not already enqueued.
  void openat(Completion& c, int dir_fd, const char* path, int flags, mode_t mode,
              Link link = Link::kNone);
  // Fills `buf`, stopping early only at end of file.
  void read(Completion& c, Fd fd, std::span<std::byte> buf, std::uint64_t offset,
            Link link = Link::kNone);
  void write(Completion& c, Fd fd, std::span<const std::byte> data, std::uint64_t offset,
             Link link = Link::kNone);
  void writev(Completion& c, Fd fd, std::span<const iovec> iov, std::uint64_t offset,
              Link link = Link::kNone);
  // `data` lies inside buffer `buf_index` of `register_buffers`.
  void write_fixed(Completion& c, Fd fd, std::span<const std::byte> data, std::uint64_t offset,
                   int buf_index, Link link = Link::kNone);
  void fsync(Completion& c, Fd fd, SyncKind kind = SyncKind::kData, Link link = Link::kNone);
  void fallocate(Completion& c, Fd fd, int mode, std::uint64_t offset, std::uint64_t length,
                 Link link = Link::kNone);
  // Accepts one connection; the result is the new descriptor (SOCK_CLOEXEC).
  void accept(Completion& c, int listen_fd);
  void recv(Completion& c, Fd fd, std::span<std::byte> buf);
  // Sends every byte (MSG_NOSIGNAL: a closed peer is EPIPE, not a signal).
  void send(Completion& c, Fd fd, std::span<const std::byte> data, Link link = Link::kNone);
  // sendmsg of several buffers (a header and a body) as one stream of bytes.
  void sendv(Completion& c, Fd fd, std::span<const iovec> iov, Link link = Link::kNone);
  // Moves `length` bytes; one side must be a pipe. kNoOffset: the descriptor's own position.
  void splice(Completion& c, int fd_in, std::uint64_t off_in, int fd_out, std::uint64_t off_out,
              std::uint32_t length, unsigned flags = 0, Link link = Link::kNone);
  // Completes (successfully) after `after`; cancel it to stop it early.
  void timeout(Completion& c, std::chrono::nanoseconds after);
  // Asks the kernel to cancel `target`, which then completes with ECANCELED (kClosed). The
  // result of `c` is 0, or ENOENT/EALREADY when `target` was not (or no longer) cancellable.
  void cancel(Completion& c, Completion& target);

  // Takes `c` back without running its callback, for an owner about to be destroyed. A queued
  // or finished op is dropped at once; an op in the kernel is cancelled (with the ops it is
  // hard-linked after, which then complete with ECANCELED) and waited for, however it ends: an
  // op the kernel cannot interrupt, such as a file write already running, is waited for until
  // it finishes. Returns with `c.idle()`: neither the Ring nor the kernel refers to `c` or its
  // buffers any more. An op linked after `c` completes with ECANCELED, unless `c` had already
  // succeeded (then it runs as it would have). Ops of others reaped meanwhile keep their
  // callbacks for `run_callbacks`. Blocks only while `c` is in the kernel; may be called from a
  // callback. Does nothing if `c` is idle.
  void abandon(Completion& c);

  // Registered buffers (write_fixed) and files (Fd::fixed); both replace earlier ones.
  // REQUIRES: no op in flight uses the old ones.
  Status register_buffers(std::span<const iovec> buffers);
  Status register_files(std::span<const int> fds);

  // Phases: submit pending ops; reap finished ones without running callbacks; run callbacks.
  Status submit();
  void reap();
  unsigned run_callbacks();  // returns how many ran

  // One turn of the event loop: submit, wait (if `wait` and nothing is ready) until at least one
  // op finishes or `wake()` is called, reap, run callbacks. Returns how many callbacks ran.
  Result<unsigned> run_once(bool wait = true);
  // Turns of the loop until `duration` has passed.
  Status run_for(std::chrono::nanoseconds duration);

  // Makes a blocked `run_once` return. Callable from any thread, async-signal-safe.
  void wake() noexcept;

  // Ops of the caller's that are pending, in flight, parked or ready (not the wake-up read).
  unsigned active() const { return active_; }
  // SQEs prepared and not yet reaped: at most `entries()` of the caller's, plus the wake-up read.
  unsigned in_flight() const { return in_flight_; }
  unsigned entries() const { return entries_; }

 private:
  explicit Ring(unsigned entries) : entries_(entries) {}
  Status init();
  void arm_wake();
  static void on_wake(Ring& ring, Completion& c);

  void enqueue(Completion& c, RingOp op, Fd fd, Link link);
  void push_pending(Completion& c);
  bool flush_pending();
  void remove_pending(Completion& c);
  bool whole(const Completion& c) const;
  unsigned chain_length(const Completion& head) const;
  void prep_sqe(Completion& c, bool hard_link);
  void prep_transfer(io_uring_sqe* sqe, Completion& c);
  void prep_other(io_uring_sqe* sqe, Completion& c);
  const iovec* current_iov(Completion& c, unsigned* count);
  void on_cqe(Completion& c, int res);
  void on_cancelled_link(Completion& c);
  void on_progress(Completion& c, int res);
  void advance(Completion& c, std::uint64_t n);
  void finish(Completion& c, int sys_errno);
  void release_successor(Completion& c);
  void drop(Completion& c);
  void cancel_in_kernel(const Completion& c);
  bool submit_internal_cancel(std::uint64_t user_data, unsigned flags);
  void drain();
  Status wait_for_completion(const __kernel_timespec* timeout);

  struct Queue {
    Completion* head = nullptr;
    Completion* tail = nullptr;
    bool empty() const { return head == nullptr; }
    void push(Completion& c);
    Completion& pop();
    bool remove(Completion& c);  // false if `c` is not in the queue
  };

  const unsigned entries_;
  io_uring ring_{};
  bool ready_ring_ = false;
  unsigned in_flight_ = 0;  // SQEs prepared and not yet reaped
  unsigned active_ = 0;
  unsigned internal_cancels_ = 0;  // abandon/drain cancel SQEs not yet reaped
  int internal_cancel_res_ = 0;    // the result of the last one reaped
  std::uint64_t reaped_ = 0;       // CQEs of ops reaped so far
  std::uint64_t round_ = 0;        // run_callbacks calls so far
  Queue pending_;
  Queue ready_;
  Completion* link_from_ = nullptr;  // enqueued with Link::kNext, waiting for its successor
  int wake_fd_ = -1;
  std::uint64_t wake_value_ = 0;
  Completion wake_;
};

}  // namespace ringlog
