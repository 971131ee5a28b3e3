// The io_uring Env: PosixEnv's files and directory calls, with `submit_writes` done as one
// io_uring submission per round.
//
// Each round links, per file, every pending step of that file's ops into one chain (WRITEV,
// FSYNC(DATASYNC), WRITEV, ...), so ops on the same file keep their order while different files
// run concurrently. A short write fails its link: the rest of the chain comes back -ECANCELED and
// the next round resubmits the remainder of the write, then everything after it. EAGAIN/EINTR
// are retried the same way. A round holds at most kEntries SQEs; more ops take more rounds.
//
// Ops are grouped by File object: two File objects open on the same path are not ordered
// against each other (the engine keeps one File per segment).
//
// Threading: the ring is used by one thread at a time (the engine's writer), asserted.
#include <liburing.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <functional>

#include "io/iov_cursor.h"
#include "io/posix_env.h"
#include "io/uring_setup.h"

namespace ringlog {
namespace {

constexpr unsigned kEntries = 256;
constexpr UringOpcode kNeeded[] = {{IORING_OP_WRITEV, "IORING_OP_WRITEV"},
                                   {IORING_OP_FSYNC, "IORING_OP_FSYNC"}};

bool is_retryable(int res) {
  return res == -EAGAIN || res == -EINTR || res == -ECANCELED;
}

// One WriteOp in flight: how much of it remains.
struct OpState {
  WriteOp* op = nullptr;
  IovCursor cursor;
  FilePos pos;
  bool write_done = false;
  bool done = false;
};

enum class Step : std::uint64_t { kWrite = 0, kSync = 1 };
enum class Queued { kAll, kPartOfWrite, kNoSpace };

class UringEnv final : public PosixEnv {
 public:
  UringEnv() = default;
  ~UringEnv() override {
    if (ready_) io_uring_queue_exit(&ring_);
  }

  Status init() {
    Status status = uring_init(&ring_, kEntries, 0, kNeeded);
    ready_ = status.has_value();
    return status;
  }

  void submit_writes(std::span<WriteOp> ops) override;

 private:
  void start(std::span<WriteOp> ops);
  bool all_done() const;
  unsigned prepare_round();
  Queued queue_op(std::size_t index, io_uring_sqe** last);
  void run_round(unsigned queued);
  void on_complete(std::uint64_t user_data, int res);
  void on_write(OpState& s, int res);
  void on_sync(OpState& s, int res);

  io_uring ring_{};
  bool ready_ = false;
  std::atomic<bool> busy_{false};
  std::vector<OpState> states_;     // one per op, in the caller's order
  std::vector<std::size_t> order_;  // indices into states_, grouped by file, stable
};

void UringEnv::submit_writes(std::span<WriteOp> ops) {
  RINGLOG_ASSERT_MSG(!busy_.exchange(true), "submit_writes called by two threads at once");
  start(ops);
  while (!all_done())
    run_round(prepare_round());
  busy_.store(false);
}

void UringEnv::start(std::span<WriteOp> ops) {
  states_.clear();
  order_.clear();
  for (WriteOp& op : ops) {
    RINGLOG_ASSERT(op.file != nullptr);
    op.result = {};
    OpState& s = states_.emplace_back();
    s.op = &op;
    s.cursor = IovCursor(op.data);
    s.pos = op.pos;
    s.write_done = s.cursor.done();
    s.done = s.write_done && !op.sync_after;
    order_.push_back(order_.size());
  }
  std::stable_sort(order_.begin(), order_.end(), [&](std::size_t a, std::size_t b) {
    return std::less<File*>()(states_[a].op->file, states_[b].op->file);
  });
}

bool UringEnv::all_done() const {
  return std::all_of(states_.begin(), states_.end(), [](const OpState& s) { return s.done; });
}

// Queues the pending steps of every file as one linked chain per file; returns the SQE count.
unsigned UringEnv::prepare_round() {
  bool full = false;
  for (std::size_t g = 0; g < order_.size() && !full;) {
    File* file = states_[order_[g]].op->file;
    io_uring_sqe* last = nullptr;
    std::size_t i = g;
    for (; i < order_.size() && states_[order_[i]].op->file == file; ++i) {
      if (states_[order_[i]].done) continue;
      Queued q = queue_op(order_[i], &last);
      if (q == Queued::kNoSpace) full = true;
      if (q != Queued::kAll) break;
    }
    while (i < order_.size() && states_[order_[i]].op->file == file)
      ++i;
    if (last != nullptr) last->flags &= ~IOSQE_IO_LINK;  // a chain ends with its file
    g = i;
  }
  return io_uring_sq_ready(&ring_);
}

Queued UringEnv::queue_op(std::size_t index, io_uring_sqe** last) {
  OpState& s = states_[index];
  std::span<const iovec> rest = s.cursor.rest(IOV_MAX);
  bool whole = rest.size() == s.cursor.rest(SIZE_MAX).size();
  unsigned needed = (s.write_done ? 0 : 1) + (s.op->sync_after && whole ? 1 : 0);
  if (io_uring_sq_space_left(&ring_) < needed) return Queued::kNoSpace;
  if (!s.write_done) {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    io_uring_prep_writev(sqe, s.op->file->fd(), rest.data(), static_cast<unsigned>(rest.size()),
                         s.pos.bytes);
    io_uring_sqe_set_data64(sqe, (index << 1) | static_cast<std::uint64_t>(Step::kWrite));
    sqe->flags |= IOSQE_IO_LINK;
    *last = sqe;
  }
  if (!whole) return Queued::kPartOfWrite;  // the rest of this write must go before its sync
  if (s.op->sync_after) {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    io_uring_prep_fsync(sqe, s.op->file->fd(), IORING_FSYNC_DATASYNC);
    io_uring_sqe_set_data64(sqe, (index << 1) | static_cast<std::uint64_t>(Step::kSync));
    sqe->flags |= IOSQE_IO_LINK;
    *last = sqe;
  }
  return Queued::kAll;
}

// Submits the round's SQEs in one io_uring_enter and reaps every completion. An enter failure
// other than a transient one means the ring itself is broken (a bug), hence the assertions.
void UringEnv::run_round(unsigned queued) {
  RINGLOG_ASSERT(queued > 0);
  int r = io_uring_submit_and_wait(&ring_, queued);
  RINGLOG_ASSERT_MSG(r >= 0 || r == -EINTR || r == -EAGAIN || r == -EBUSY, "io_uring_enter");
  for (unsigned reaped = 0; reaped < queued;) {
    if (io_uring_sq_ready(&ring_) > 0) {
      r = io_uring_submit(&ring_);
      RINGLOG_ASSERT_MSG(r >= 0 || r == -EINTR || r == -EAGAIN || r == -EBUSY, "io_uring_enter");
    }
    io_uring_cqe* cqe = nullptr;
    r = io_uring_wait_cqe(&ring_, &cqe);
    if (r == -EINTR || r == -EAGAIN) continue;
    RINGLOG_ASSERT_MSG(r == 0, "io_uring_wait_cqe");
    on_complete(io_uring_cqe_get_data64(cqe), cqe->res);
    io_uring_cqe_seen(&ring_, cqe);
    ++reaped;
  }
}

void UringEnv::on_complete(std::uint64_t user_data, int res) {
  OpState& s = states_[user_data >> 1];
  if (static_cast<Step>(user_data & 1) == Step::kWrite) {
    on_write(s, res);
  } else {
    on_sync(s, res);
  }
}

void UringEnv::on_write(OpState& s, int res) {
  if (is_retryable(res) || s.done) return;
  if (res < 0) {
    s.op->result = fail(error_from_errno(-res, "write " + s.op->file->path()));
    s.done = true;
  } else if (res == 0) {
    s.op->result = fail(Errc::kIo, "write " + s.op->file->path() + ": the kernel accepted 0 bytes");
    s.done = true;
  } else {
    s.cursor.advance(static_cast<std::size_t>(res));
    s.pos = s.pos + static_cast<std::uint64_t>(res);
    s.write_done = s.cursor.done();
    s.done = s.write_done && !s.op->sync_after;
  }
}

void UringEnv::on_sync(OpState& s, int res) {
  // A sync only counts once the whole write is in: one linked after part of a write (IOV_MAX)
  // is not queued, but completions of the same chain may be reaped in any order.
  if (is_retryable(res) || s.done) return;
  if (res < 0) {
    s.op->result = fail(error_from_errno(-res, "fdatasync " + s.op->file->path()));
    s.done = true;
  } else {
    s.done = true;  // linked after the write, so the write completed in full before it
    s.write_done = true;
  }
}

}  // namespace

Result<std::unique_ptr<Env>> make_uring_env() {
  auto env = std::make_unique<UringEnv>();
  Status status = env->init();
  if (!status) return fail(status.error().with_context("io_uring Env"));
  return env;
}

}  // namespace ringlog
