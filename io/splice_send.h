// SpliceSend: sends a range of a file to a socket without copying it through user space:
// file -> pipe -> socket, as two splices linked per chunk (IOSQE_IO_LINK), a chunk being what the
// pipe's slots hold from the chunk's (possibly mid-page) start, less a page of slack. Any pipe
// size works (F_SETPIPE_SZ): a bigger pipe means fewer, larger round trips.
// Partial splices are continued by the Ring until every byte is sent; the next chunk starts when
// the last one has reached the socket.
//
// The caller owns the SpliceSend (embed it next to the connection, like a Completion) and the
// pipe (pipe2(O_CLOEXEC)), both reused across sends. After a failure the pipe may still hold
// bytes of the failed chunk: close it and make a new one.
#pragma once

#include <cstdint>

#include "io/ring.h"

namespace ringlog {

class SpliceSend {
 public:
  using Done = void (*)(Ring& ring, SpliceSend& send);

  Done done = nullptr;  // runs once, when every byte is sent or a step failed
  void* context = nullptr;

  // Starts sending [offset, offset + length) of `file_fd` to `socket_fd` through the pipe.
  // REQUIRES: `done` set; no send of this object running; the pipe empty.
  void start(Ring& ring, int file_fd, std::uint64_t offset, std::uint64_t length, int pipe_read,
             int pipe_write, int socket_fd);

  // In `done`: the bytes sent (all of them), or the first step's error.
  Result<std::uint64_t> result() const;

  // Stops a running send without calling `done` (Ring::abandon on both steps), for an owner
  // about to be destroyed. The pipe may hold bytes afterwards: close it. Nothing if idle.
  void abandon(Ring& ring);

 private:
  static void on_to_pipe(Ring& ring, Completion& c);
  static void on_to_socket(Ring& ring, Completion& c);
  void next_chunk(Ring& ring);
  std::uint32_t chunk_at(std::uint64_t pos) const;

  Completion to_pipe_;
  Completion to_socket_;
  const Completion* failed_ = nullptr;
  int file_fd_ = -1;
  int pipe_read_ = -1;
  int pipe_write_ = -1;
  int socket_fd_ = -1;
  std::uint64_t offset_ = 0;
  std::uint64_t length_ = 0;
  std::uint64_t sent_ = 0;
  std::uint32_t chunk_ = 0;
  std::uint32_t pipe_slots_ = 1;  // F_GETPIPE_SZ / page size, read at start
  std::uint32_t page_bytes_ = 4096;
};

}  // namespace ringlog
