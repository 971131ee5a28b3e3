#include "protocol/reply_queue.h"

#include <algorithm>
#include <string_view>

#include "io/assert.h"

namespace ringlog::protocol {

namespace {
constexpr char kCrlf[] = "\r\n";

std::span<const std::byte> bytes_of(std::string_view text) {
  return std::as_bytes(std::span(text.data(), text.size()));
}

bool is_frame(const Reply& reply) {
  return !reply.frame.bytes.empty();
}
}  // namespace

std::uint64_t ReplyQueue::reserve() {
  slots_.emplace_back();
  return first_seq_ + slots_.size() - 1;
}

void ReplyQueue::fill(std::uint64_t seq, Reply reply) {
  RINGLOG_ASSERT(seq >= first_seq_ && seq < first_seq_ + slots_.size());
  RINGLOG_ASSERT(!is_frame(reply) || (reply.head.empty() && reply.file.length == 0));
  Slot& slot = slots_[seq - first_seq_];
  RINGLOG_ASSERT(!slot.filled);
  slot.filled = true;
  slot.reply = std::move(reply);
  const std::size_t pieces = piece_count(slot.reply);
  for (std::size_t i = 0; i < pieces; ++i)
    unsent_bytes_ += piece(slot.reply, i).size();
}

bool ReplyQueue::is_filled(std::uint64_t seq) const {
  if (seq < first_seq_) return true;  // already sent
  if (seq >= first_seq_ + slots_.size()) return false;
  return slots_[seq - first_seq_].filled;
}

std::size_t ReplyQueue::piece_count(const Reply& reply) noexcept {
  if (is_frame(reply)) return 2 * reply.frame.splices.size() + 1;
  return reply.file.length > 0 ? 3 : 1;
}

ReplyQueue::Piece ReplyQueue::piece(const Reply& reply, std::size_t index) noexcept {
  if (!is_frame(reply)) {
    if (index == 0) return {bytes_of(reply.head), nullptr};
    if (index == 1) return {{}, &reply.file};
    return {bytes_of(std::string_view(kCrlf, 2)), nullptr};
  }
  const auto& splices = reply.frame.splices;
  const std::size_t k = index / 2;
  if (index % 2 == 1) return {{}, &splices[k].slice};
  const std::size_t begin = k == 0 ? 0 : splices[k - 1].at;
  const std::size_t end = k < splices.size() ? splices[k].at : reply.frame.bytes.size();
  return {std::span<const std::byte>(reply.frame.bytes).subspan(begin, end - begin), nullptr};
}

void ReplyQueue::settle_front() {
  while (!slots_.empty() && slots_.front().filled) {
    Slot& slot = slots_.front();
    const std::size_t pieces = piece_count(slot.reply);
    while (slot.piece < pieces && slot.done >= piece(slot.reply, slot.piece).size()) {
      ++slot.piece;
      slot.done = 0;
    }
    if (slot.piece < pieces) return;
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
    const std::size_t pieces = piece_count(slot.reply);
    for (std::size_t p = i == 0 ? slot.piece : 0; p < pieces; ++p) {
      const std::uint64_t done = i == 0 && p == slot.piece ? slot.done : 0;
      const Piece part = piece(slot.reply, p);
      if (part.size() <= done) continue;
      if (part.file != nullptr) {
        if (!iov_.empty()) return {NextKind::kBytes, iov_, {}};
        FileSlice rest = *part.file;
        rest.position += done;
        rest.length -= static_cast<std::uint32_t>(done);
        return {NextKind::kFile, {}, std::move(rest)};
      }
      if (iov_.size() == kMaxIov) return {NextKind::kBytes, iov_, {}};
      iov_.push_back({const_cast<std::byte*>(part.bytes.data()) + done, part.bytes.size() - done});
    }
    if (slot.reply.close_after || iov_.size() + 2 > kMaxIov) break;
  }
  if (iov_.empty()) return {};
  return {NextKind::kBytes, iov_, {}};
}

void ReplyQueue::sent(std::uint64_t bytes) {
  RINGLOG_ASSERT(bytes <= unsent_bytes_);
  unsent_bytes_ -= bytes;
  while (bytes > 0) {
    settle_front();
    RINGLOG_ASSERT(!slots_.empty() && slots_.front().filled);
    Slot& slot = slots_.front();
    const std::uint64_t n = std::min(bytes, piece(slot.reply, slot.piece).size() - slot.done);
    slot.done += n;
    bytes -= n;
  }
  settle_front();
}

}  // namespace ringlog::protocol
