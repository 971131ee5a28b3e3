#include "protocol/reply_queue.h"

#include <doctest/doctest.h>

#include <string>

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

}  // namespace
}  // namespace ringlog::protocol
