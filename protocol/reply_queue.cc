#include "protocol/reply_queue.h"

#include "io/assert.h"

namespace ringlog::protocol {

namespace {
constexpr char kCrlf[] = "\r\n";
}

std::uint64_t ReplyQueue::reserve() {
  slots_.emplace_back();
  return first_seq_ + slots_.size() - 1;
}

void ReplyQueue::fill(std::uint64_t seq, Reply reply) {
  RINGLOG_ASSERT(seq >= first_seq_ && seq < first_seq_ + slots_.size());
  Slot& slot = slots_[seq - first_seq_];
  RINGLOG_ASSERT(!slot.filled);
  slot.filled = true;
  slot.reply = std::move(reply);
  unsent_bytes_ += phase_bytes(slot, Phase::kHead) + phase_bytes(slot, Phase::kFile) +
                   phase_bytes(slot, Phase::kTail);
}

bool ReplyQueue::is_filled(std::uint64_t seq) const {
  if (seq < first_seq_) return true;  // already sent
  if (seq >= first_seq_ + slots_.size()) return false;
  return slots_[seq - first_seq_].filled;
}

std::uint64_t ReplyQueue::phase_bytes(const Slot& slot, Phase phase) noexcept {
  switch (phase) {
    case Phase::kHead:
      return slot.reply.head.size();
    case Phase::kFile:
      return slot.reply.file.length;
    case Phase::kTail:
      return slot.reply.file.length > 0 ? 2 : 0;
  }
  return 0;
}

void ReplyQueue::settle_front() {
  while (!slots_.empty() && slots_.front().filled) {
    Slot& slot = slots_.front();
    if (slot.done < phase_bytes(slot, slot.phase)) return;
    if (slot.phase != Phase::kTail) {
      slot.phase = slot.phase == Phase::kHead ? Phase::kFile : Phase::kTail;
      slot.done = 0;
      continue;
    }
    if (slot.reply.close_after) close_now_ = true;
    slots_.pop_front();
    ++first_seq_;
  }
}

ReplyQueue::Next ReplyQueue::next() {
  settle_front();
  if (close_now_) return {NextKind::kClose, {}, {}};
  iov_.clear();
  for (std::size_t i = 0; i < slots_.size() && slots_[i].filled; ++i) {
    const Slot& slot = slots_[i];
    const Reply& reply = slot.reply;
    Phase phase = i == 0 ? slot.phase : Phase::kHead;
    std::uint64_t done = i == 0 ? slot.done : 0;
    if (phase == Phase::kHead) {
      if (done < reply.head.size()) {
        iov_.push_back({const_cast<char*>(reply.head.data()) + done, reply.head.size() - done});
      }
      phase = Phase::kFile;
      done = 0;
    }
    if (phase == Phase::kFile && reply.file.length > 0) {
      if (!iov_.empty()) break;
      FileSlice rest = reply.file;
      rest.position += done;
      rest.length -= static_cast<std::uint32_t>(done);
      return {NextKind::kFile, {}, std::move(rest)};
    }
    if (phase == Phase::kFile) done = 0;
    if (reply.file.length > 0 && done < 2) {
      iov_.push_back({const_cast<char*>(kCrlf) + done, 2 - done});
    }
    if (reply.close_after || iov_.size() + 2 > kMaxIov) break;
  }
  if (iov_.empty()) return {};
  return {NextKind::kBytes, iov_, {}};
}

void ReplyQueue::sent(std::uint64_t bytes) {
  RINGLOG_ASSERT(bytes <= unsent_bytes_);
  unsent_bytes_ -= bytes;
  while (bytes > 0) {
    RINGLOG_ASSERT(!slots_.empty() && slots_.front().filled);
    settle_front();
    Slot& slot = slots_.front();
    const std::uint64_t n = std::min(bytes, phase_bytes(slot, slot.phase) - slot.done);
    slot.done += n;
    bytes -= n;
    settle_front();
  }
  settle_front();
}

}  // namespace ringlog::protocol
