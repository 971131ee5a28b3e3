#include "io/splice_send.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>

#include "io/assert.h"

namespace ringlog {
namespace {

// The most a chunk may hold so that the pipe never fills up before the chunk is in it. A pipe
// holds one page (or part of one) per slot: a chunk starting mid-page, and a file -> pipe splice
// that comes back short mid-page, each take a slot more than the bytes need. Two pages of slack
// cover both; otherwise the resubmitted remainder would wait forever for a slot.
std::uint32_t chunk_limit(int pipe_write) {
  long page = ::sysconf(_SC_PAGESIZE);
  int capacity = ::fcntl(pipe_write, F_GETPIPE_SZ);
  if (page <= 0) page = 4096;
  if (capacity <= 3 * page) return static_cast<std::uint32_t>(page);
  return static_cast<std::uint32_t>(capacity - 2 * page);
}

}  // namespace

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
  pipe_bytes_ = chunk_limit(pipe_write);
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
  chunk_ = static_cast<std::uint32_t>(std::min<std::uint64_t>(length_ - sent_, pipe_bytes_));
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

Result<std::uint64_t> SpliceSend::result() const {
  if (failed_ != nullptr) return fail(failed_->result().error());
  return sent_;
}

}  // namespace ringlog
