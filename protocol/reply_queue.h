// ReplyQueue: a connection's replies, sent in request order although they are filled out of
// order (an append completes on the engine's writer thread after a later `ping` was answered).
//
// Each request reserves a slot when it is parsed; its reply fills the slot later. The sender asks
// `next()` what to transmit - the bytes of the ready replies at the head gathered into iovecs,
// or a file range to splice zero-copy, or "close" - and reports with `sent()` how much went out.
// A reply is either a line-protocol reply - `head` bytes, then optionally a file range (a
// FileSlice from Engine::fetch), then "\r\n" after the file range - or a binary frame (the Kafka
// protocol): bytes with any number of file ranges spliced between them, sent exactly as they are.
// A reply with nothing in it completes its slot without sending anything (Kafka acks=0); one
// with only close_after closes the connection once the replies before it are sent.
//
// Threading: one thread (the connection's event loop). Nothing here does I/O.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <span>
#include <string>
#include <vector>

#include <ringlog/engine.h>

#include "protocol/kafka/wire.h"

namespace ringlog::protocol {

struct Reply {
  std::string head;
  FileSlice file;            // file.length == 0: no file part
  kafka::OutFrame frame;     // a binary reply; REQUIRES (asserted): head and file empty then
  bool close_after = false;  // close the connection once this reply is sent (quit, lost framing)
};

class ReplyQueue {
 public:
  static constexpr std::size_t kMaxIov = 64;

  enum class NextKind : std::uint8_t {
    kNothing,  // the head reply is not ready (or there is none)
    kBytes,    // send `iov` (one or more ready replies' bytes, stopping before a file part)
    kFile,     // splice `file` (the remaining part of the head reply's next file range)
    kClose,    // every reply up to one with close_after has been sent: close the connection
  };
  struct Next {
    NextKind kind = NextKind::kNothing;
    std::span<const iovec> iov;  // valid until the next call to any member
    FileSlice file;
  };

  // A slot for the next request's reply, in request order. Returns its sequence number.
  std::uint64_t reserve();
  // Fills a reserved slot. REQUIRES: `seq` reserved and not yet filled (asserted).
  void fill(std::uint64_t seq, Reply reply);
  bool is_filled(std::uint64_t seq) const;

  Next next();
  // `bytes` of what the last next() returned have been transmitted.
  void sent(std::uint64_t bytes);

  // Slots reserved and not fully sent.
  std::size_t slots() const noexcept { return slots_.size(); }
  // Bytes of filled replies not yet sent (the backpressure measure).
  std::uint64_t unsent_bytes() const noexcept { return unsent_bytes_; }
  bool empty() const noexcept { return slots_.empty(); }

 private:
  // A reply is a sequence of pieces, each bytes or a file range: a line reply is head, file,
  // "\r\n" (the last two only with a file); a frame is bytes, file, bytes, ..., bytes.
  struct Piece {
    std::span<const std::byte> bytes;
    const FileSlice* file = nullptr;
    std::uint64_t size() const noexcept { return file != nullptr ? file->length : bytes.size(); }
  };
  struct Slot {
    bool filled = false;
    std::size_t piece = 0;   // the piece being sent
    std::uint64_t done = 0;  // bytes of that piece already sent
    Reply reply;
  };
  static std::size_t piece_count(const Reply& reply) noexcept;
  static Piece piece(const Reply& reply, std::size_t index) noexcept;
  // Moves the head slot's cursor to its next piece with bytes, popping it when it is done.
  void settle_front();

  std::deque<Slot> slots_;
  std::uint64_t first_seq_ = 0;  // sequence number of slots_.front()
  std::uint64_t unsent_bytes_ = 0;
  bool close_now_ = false;
  std::vector<iovec> iov_;
};

}  // namespace ringlog::protocol
