#include "protocol/reply_queue.h"

#include <doctest/doctest.h>

#include <string>
#include <utility>
#include <vector>

namespace ringlog::protocol {
namespace {

std::string gather(std::span<const iovec> iov) {
  std::string out;
  for (const iovec& v : iov)
    out.append(static_cast<const char*>(v.iov_base), v.iov_len);
  return out;
}

Reply text(std::string s) {
  Reply r;
  r.head = std::move(s);
  return r;
}

Reply with_file(std::string head, int fd, std::uint64_t position, std::uint32_t length) {
  Reply r;
  r.head = std::move(head);
  r.file.fd = fd;
  r.file.position = position;
  r.file.length = length;
  return r;
}

TEST_CASE("reply_queue: replies go out in request order even when filled out of order") {
  ReplyQueue q;
  const auto a = q.reserve();
  const auto b = q.reserve();
  q.fill(b, text("pong\r\n"));
  CHECK(q.next().kind == ReplyQueue::NextKind::kNothing);
  CHECK(q.unsent_bytes() == 6);
  q.fill(a, text("ok 0\r\n"));
  const auto next = q.next();
  REQUIRE(next.kind == ReplyQueue::NextKind::kBytes);
  CHECK(gather(next.iov) == "ok 0\r\npong\r\n");
  q.sent(12);
  CHECK(q.empty());
  CHECK(q.unsent_bytes() == 0);
  CHECK(q.next().kind == ReplyQueue::NextKind::kNothing);
}

TEST_CASE("reply_queue: a partial send resumes mid-reply") {
  ReplyQueue q;
  q.fill(q.reserve(), text("abcdef"));
  q.fill(q.reserve(), text("gh"));
  q.sent(0);
  auto next = q.next();
  CHECK(gather(next.iov) == "abcdefgh");
  q.sent(4);
  next = q.next();
  CHECK(gather(next.iov) == "efgh");
  q.sent(3);
  CHECK(gather(q.next().iov) == "h");
  CHECK(q.slots() == 1);
}

TEST_CASE("reply_queue: a file part is sent on its own between its head and its CRLF") {
  ReplyQueue q;
  q.fill(q.reserve(), text("pong\r\n"));
  q.fill(q.reserve(), with_file("batches 100 7\r\n", 9, 4096, 100));
  q.fill(q.reserve(), text("ok\r\n"));
  auto next = q.next();
  REQUIRE(next.kind == ReplyQueue::NextKind::kBytes);
  CHECK(gather(next.iov) == "pong\r\nbatches 100 7\r\n");
  q.sent(21);
  next = q.next();
  REQUIRE(next.kind == ReplyQueue::NextKind::kFile);
  CHECK(next.file.fd == 9);
  CHECK(next.file.position == 4096);
  CHECK(next.file.length == 100);
  q.sent(40);
  next = q.next();
  REQUIRE(next.kind == ReplyQueue::NextKind::kFile);
  CHECK(next.file.position == 4136);
  CHECK(next.file.length == 60);
  q.sent(60);
  next = q.next();
  REQUIRE(next.kind == ReplyQueue::NextKind::kBytes);
  CHECK(gather(next.iov) == "\r\nok\r\n");
  q.sent(6);
  CHECK(q.empty());
}

TEST_CASE("reply_queue: close comes once the closing reply is sent, not before") {
  ReplyQueue q;
  q.fill(q.reserve(), text("ok 1\r\n"));
  Reply bye = text("error 400 bad length\r\n");
  bye.close_after = true;
  q.fill(q.reserve(), std::move(bye));
  q.fill(q.reserve(), text("never\r\n"));
  auto next = q.next();
  CHECK(gather(next.iov) == "ok 1\r\nerror 400 bad length\r\n");
  q.sent(10);
  CHECK(q.next().kind == ReplyQueue::NextKind::kBytes);
  q.sent(18);
  CHECK(q.next().kind == ReplyQueue::NextKind::kClose);
}

TEST_CASE("reply_queue: an empty closing reply (quit) closes at once when it is at the head") {
  ReplyQueue q;
  const auto put = q.reserve();
  Reply quit;
  quit.close_after = true;
  q.fill(q.reserve(), std::move(quit));
  CHECK(q.next().kind == ReplyQueue::NextKind::kNothing);
  q.fill(put, text("ok 3\r\n"));
  CHECK(gather(q.next().iov) == "ok 3\r\n");
  q.sent(6);
  CHECK(q.next().kind == ReplyQueue::NextKind::kClose);
}

TEST_CASE("reply_queue: gathering stops at the iovec limit") {
  ReplyQueue q;
  for (int i = 0; i < 200; ++i)
    q.fill(q.reserve(), text("pong\r\n"));
  const auto next = q.next();
  CHECK(next.iov.size() <= ReplyQueue::kMaxIov);
  CHECK(next.iov.size() > 32);
  CHECK(q.is_filled(0));
  CHECK_FALSE(q.is_filled(200));
}

// A Kafka-style frame: `bytes` with file ranges (fd 7) of `lengths` spliced in at `at`.
Reply frame(std::string bytes, std::vector<std::pair<std::size_t, std::uint32_t>> splices) {
  Reply r;
  for (char c : bytes)
    r.frame.bytes.push_back(static_cast<std::byte>(c));
  std::uint64_t position = 0;
  for (auto [at, length] : splices) {
    FileSlice slice;
    slice.fd = 7;
    slice.position = position;
    slice.length = length;
    position += length;
    r.frame.splices.push_back({at, slice});
  }
  return r;
}

TEST_CASE("reply_queue: a frame sends its bytes and file ranges in order, without a CRLF") {
  ReplyQueue q;
  q.fill(q.reserve(), frame("AAbbCC", {{2, 10}, {4, 5}}));
  q.fill(q.reserve(), frame("next", {}));
  CHECK(q.unsent_bytes() == 6 + 15 + 4);
  auto next = q.next();
  REQUIRE(next.kind == ReplyQueue::NextKind::kBytes);
  CHECK(gather(next.iov) == "AA");
  q.sent(2);
  next = q.next();
  REQUIRE(next.kind == ReplyQueue::NextKind::kFile);
  CHECK(next.file.position == 0);
  CHECK(next.file.length == 10);
  q.sent(4);
  next = q.next();
  REQUIRE(next.kind == ReplyQueue::NextKind::kFile);
  CHECK(next.file.position == 4);
  CHECK(next.file.length == 6);
  q.sent(6);
  next = q.next();
  REQUIRE(next.kind == ReplyQueue::NextKind::kBytes);
  CHECK(gather(next.iov) == "bb");
  q.sent(2);
  next = q.next();
  REQUIRE(next.kind == ReplyQueue::NextKind::kFile);
  CHECK(next.file.position == 10);
  q.sent(5);
  next = q.next();
  REQUIRE(next.kind == ReplyQueue::NextKind::kBytes);
  CHECK(gather(next.iov) == "CCnext");
  q.sent(6);
  CHECK(q.empty());
  CHECK(q.unsent_bytes() == 0);
}

TEST_CASE("reply_queue: an empty reply completes its slot without sending anything") {
  ReplyQueue q;
  const auto first = q.reserve();
  const auto empty = q.reserve();
  const auto last = q.reserve();
  q.fill(empty, Reply{});
  q.fill(last, frame("two", {}));
  CHECK(q.next().kind == ReplyQueue::NextKind::kNothing);
  q.fill(first, frame("one", {}));
  auto next = q.next();
  REQUIRE(next.kind == ReplyQueue::NextKind::kBytes);
  CHECK(gather(next.iov) == "onetwo");
  q.sent(6);
  CHECK(q.empty());
}

TEST_CASE("reply_queue: a frame with empty file ranges skips them") {
  ReplyQueue q;
  q.fill(q.reserve(), frame("head|tail", {{5, 0}}));
  auto next = q.next();
  REQUIRE(next.kind == ReplyQueue::NextKind::kBytes);
  CHECK(gather(next.iov) == "head|tail");
  q.sent(9);
  CHECK(q.empty());
}

}  // namespace
}  // namespace ringlog::protocol
