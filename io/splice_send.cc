#include "io/splice_send.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>

#include "io/assert.h"

namespace ringlog {
namespace {

std::uint32_t page_bytes() {
  long page = ::sysconf(_SC_PAGESIZE);
  return page > 0 ? static_cast<std::uint32_t>(page) : 4096;
}

}  // namespace

// The most a chunk starting at file offset `pos` may hold so that the file -> pipe step never
// waits for room: the pipe holds one page (or part of one) per slot, so a chunk starting
// mid-page gets the rest of that page plus whole pages, and with three slots or more one page is
// kept free for a file -> pipe splice that comes back short mid-page (its remainder takes a
// slot of its own). Without this the resubmitted remainder would wait forever for a slot that
// only the pipe -> socket step, linked after it, could free: with a one-page pipe, a chunk of a
// page starting mid-page did exactly that.
std::uint32_t SpliceSend::chunk_at(std::uint64_t pos) const {
  std::uint64_t misaligned = pos % page_bytes_;
  std::uint64_t room = std::uint64_t{pipe_slots_} * page_bytes_ - misaligned;
  if (pipe_slots_ >= 3) room -= page_bytes_;
  return static_cast<std::uint32_t>(std::min(room, length_ - sent_));
}

void SpliceSend::start(Ring& ring, int file_fd, std::uint64_t offset, std::uint64_t length,
                       int pipe_read, int pipe_write, int socket_fd) {
  RINGLOG_ASSERT(done != nullptr);
  file_fd_ = file_fd;
  pipe_read_ = pipe_read;
  pipe_write_ = pipe_write;
  socket_fd_ = socket_fd;
  offset_ = offset;
  length_ = length;
  sent_ = 0;
  failed_ = nullptr;
  page_bytes_ = page_bytes();
  int capacity = ::fcntl(pipe_write, F_GETPIPE_SZ);
  pipe_slots_ = capacity > 0 ? static_cast<std::uint32_t>(capacity) / page_bytes_ : 1;
  to_pipe_.callback = &SpliceSend::on_to_pipe;
  to_pipe_.context = this;
  to_socket_.callback = &SpliceSend::on_to_socket;
  to_socket_.context = this;
  if (length == 0) {
    done(ring, *this);
    return;
  }
  next_chunk(ring);
}

void SpliceSend::next_chunk(Ring& ring) {
  chunk_ = chunk_at(offset_ + sent_);
  ring.splice(to_pipe_, file_fd_, offset_ + sent_, pipe_write_, kNoOffset, chunk_, SPLICE_F_MOVE,
              Link::kNext);
  ring.splice(to_socket_, pipe_read_, kNoOffset, socket_fd_, kNoOffset, chunk_, SPLICE_F_MOVE);
}

// The file -> pipe step decides nothing: its successor always completes after it (cancelled
// if it failed), and that is where the outcome is read.
void SpliceSend::on_to_pipe(Ring&, Completion&) {}

void SpliceSend::on_to_socket(Ring& ring, Completion& c) {
  auto& self = *static_cast<SpliceSend*>(c.context);
  if (self.to_pipe_.sys_errno() != 0) {
    self.failed_ = &self.to_pipe_;
  } else if (c.sys_errno() != 0) {
    self.failed_ = &c;
  } else {
    self.sent_ += self.chunk_;
    if (self.sent_ < self.length_) return self.next_chunk(ring);
  }
  self.done(ring, self);
}

void SpliceSend::abandon(Ring& ring) {
  ring.abandon(to_socket_);  // with the file -> pipe step if it is its kernel link's head
  ring.abandon(to_pipe_);
}

Result<std::uint64_t> SpliceSend::result() const {
  if (failed_ != nullptr) return fail(failed_->result().error());
  return sent_;
}

}  // namespace ringlog
