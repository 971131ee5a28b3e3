// The io_uring Ring: phases, short transfers, links, errors, sockets, timers, wake-ups.
#include "io/ring.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>

#include "io/socket.h"
#include "io/uring_setup.h"
#include "io_test_util.h"
#include "ring_test_util.h"

namespace ringlog {

using namespace std::chrono_literals;
using test::bytes_of;
using test::make_ring;
using test::Op;
using test::pattern_bytes;
using test::read_exactly;
using test::read_whole_file;
using test::run_until;
using test::shrink_send_buffer;
using test::TcpPair;
using test::TempDir;

TEST_CASE("ring: the probe names the opcode or call the kernel refuses") {
  io_uring ring{};
  UringOpcode bogus[] = {{250, "IORING_OP_BOGUS"}};
  Status refused = uring_init(&ring, 8, 0, bogus);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code() == Errc::kUnsupported);
  CHECK(refused.error().message().find("IORING_OP_BOGUS") != std::string::npos);
  Status bad_setup = uring_init(&ring, 0, 0, {});  // io_uring_setup says EINVAL
  REQUIRE_FALSE(bad_setup);
  CHECK(bad_setup.error().code() == Errc::kUnsupported);
  CHECK(bad_setup.error().message().starts_with("io_uring_setup failed: "));
}

TEST_CASE("ring: a write linked to fdatasync reads back the same bytes") {
  std::unique_ptr<Ring> ring = make_ring();
  if (!ring) return;
  TempDir dir;
  std::string path = dir / "f";
  Op open, write, sync, read;
  ring->openat(open.c, AT_FDCWD, path.c_str(), O_RDWR | O_CREAT, 0644);
  run_until(*ring, open);
  REQUIRE(open.c.result().has_value());
  UniqueFd fd(static_cast<int>(*open.c.result()));
  std::string data = pattern_bytes(10000, 1);
  ring->write(write.c, fd.get(), bytes_of(data), 0, Link::kNext);
  ring->fsync(sync.c, fd.get(), SyncKind::kData);
  run_until(*ring, sync);
  CHECK(write.calls == 1);
  CHECK(write.c.result().value() == data.size());
  CHECK(sync.c.result().has_value());
  std::string back(20000, '\0');
  ring->read(read.c, fd.get(), std::as_writable_bytes(std::span(back)), 0);
  run_until(*ring, read);
  CHECK(read.c.result().value() == data.size());  // short only at end of file
  back.resize(data.size());
  CHECK((back == data));
}

TEST_CASE("ring: writev, fallocate and write_fixed to a registered file") {
  std::unique_ptr<Ring> ring = make_ring();
  if (!ring) return;
  TempDir dir;
  UniqueFd fd(::open((dir / "f").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  std::string a = "head:", b = "body";
  iovec parts[] = {test::iov_of(a), test::iov_of(b)};
  Op writev, alloc, fixed;
  ring->writev(writev.c, fd.get(), parts, 0);
  ring->fallocate(alloc.c, fd.get(), 0, 0, 4096);
  run_until(*ring, alloc);
  run_until(*ring, writev);
  REQUIRE(writev.c.result().value() == 9);
  REQUIRE(alloc.c.result().has_value());
  std::string registered = "FIXED";
  iovec buffer = test::iov_of(registered);
  REQUIRE(ring->register_buffers({&buffer, 1}));
  int fds[] = {fd.get()};
  REQUIRE(ring->register_files(fds));
  ring->write_fixed(fixed.c, Fd::fixed(0), bytes_of(registered), 9, 0);
  run_until(*ring, fixed);
  REQUIRE(fixed.c.result().value() == 5);
  std::string content = read_whole_file(dir / "f");
  CHECK(content.size() == 4096);
  CHECK(content.substr(0, 14) == "head:bodyFIXED");
}

TEST_CASE("ring: short write is resubmitted for the remainder") {
  std::unique_ptr<Ring> ring = make_ring();
  if (!ring) return;
  TcpPair pair;
  shrink_send_buffer(pair.server.get());
  std::string data = pattern_bytes(4 << 20, 2);
  std::string received;
  std::thread reader([&] { received = read_exactly(pair.client.get(), data.size(), true); });
  Op send;
  SUBCASE("send") {
    ring->send(send.c, pair.server.get(), bytes_of(data));
  }
  std::string head = data.substr(0, 100), body = data.substr(100);
  iovec parts[] = {test::iov_of(head), test::iov_of(body)};
  SUBCASE("sendmsg of a header and a body") {
    ring->sendv(send.c, pair.server.get(), parts);
  }
  run_until(*ring, send);
  reader.join();
  CHECK(send.c.result().value() == data.size());
  CHECK(send.c.submissions() > 1);  // it did come back short, and was continued
  CHECK(received.size() == data.size());
  CHECK((received == data));
  CHECK(parts[0].iov_len == 100);  // the caller's iovecs are left alone
}

TEST_CASE("ring: a short file write is continued and its error reported, not the short count") {
  std::unique_ptr<Ring> ring = make_ring();
  if (!ring) return;
  TempDir dir;
  UniqueFd fd(::open((dir / "f").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  rlimit old{};
  REQUIRE(::getrlimit(RLIMIT_FSIZE, &old) == 0);
  auto old_handler = ::signal(SIGXFSZ, SIG_IGN);
  rlimit lowered = old;
  lowered.rlim_cur = 1000;  // the kernel cuts a write crossing it short, then says EFBIG
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &lowered) == 0);
  std::string data = pattern_bytes(1500, 3);
  Op write, sync;
  ring->write(write.c, fd.get(), bytes_of(data), 0, Link::kNext);
  ring->fsync(sync.c, fd.get());
  run_until(*ring, sync);
  ::setrlimit(RLIMIT_FSIZE, &old);
  ::signal(SIGXFSZ, old_handler);
  REQUIRE_FALSE(write.c.result());
  CHECK(write.c.result().error().code() == Errc::kTooLarge);
  CHECK(write.c.submissions() == 2);
  CHECK(sync.c.sys_errno() == ECANCELED);  // never runs after a failed write
  CHECK(read_whole_file(dir / "f") == data.substr(0, 1000));
}

TEST_CASE("ring: a linked op waits for the remainder of a short predecessor") {
  std::unique_ptr<Ring> ring = make_ring();
  if (!ring) return;
  TcpPair pair;
  shrink_send_buffer(pair.server.get());
  std::string big = pattern_bytes(2 << 20, 4), end = "END";
  std::string received;
  std::thread reader([&] { received = read_exactly(pair.client.get(), big.size() + 3, true); });
  Op first, second;
  ring->send(first.c, pair.server.get(), bytes_of(big), Link::kNext);
  ring->send(second.c, pair.server.get(), bytes_of(end));
  run_until(*ring, second);
  reader.join();
  CHECK(first.calls == 1);
  CHECK(first.c.result().value() == big.size());
  CHECK(second.c.result().value() == 3);
  CHECK(received.size() == big.size() + 3);
  CHECK((received == big + end));
}

TEST_CASE("ring: errno comes back as the mapped error") {
  std::unique_ptr<Ring> ring = make_ring();
  if (!ring) return;
  TempDir dir;
  Op open, write, sync;
  SUBCASE("a missing file is kNotFound, and the message names it") {
    std::string path = dir / "missing";
    ring->openat(open.c, AT_FDCWD, path.c_str(), O_RDONLY, 0);
    run_until(*ring, open);
    REQUIRE_FALSE(open.c.result());
    CHECK(open.c.result().error().code() == Errc::kNotFound);
    CHECK(open.c.result().error().message().find(path) != std::string::npos);
  }
  SUBCASE("a write to a read-only descriptor is kInvalidArgument (EBADF)") {
    UniqueFd fd(::open((dir / "ro").c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0644));
    std::string data = "x";
    ring->write(write.c, fd.get(), bytes_of(data), 0, Link::kNext);
    ring->fsync(sync.c, fd.get());
    run_until(*ring, sync);
    CHECK(write.c.sys_errno() == EBADF);
    CHECK(write.c.result().error().code() == Errc::kInvalidArgument);
    CHECK(sync.c.result().error().code() == Errc::kClosed);  // ECANCELED by the failed link
  }
}

TEST_CASE("ring: accept, recv and send over loopback") {
  std::unique_ptr<Ring> ring = make_ring();
  if (!ring) return;
  UniqueFd listener = listen_on(parse_address("127.0.0.1:0").value()).value();
  SocketAddress address = local_address(listener.get()).value();
  Op accept, recv, send;
  ring->accept(accept.c, listener.get());
  REQUIRE(ring->submit());
  UniqueFd client = connect_to(address).value();
  REQUIRE(set_nodelay(client.get()));
  run_until(*ring, accept);
  UniqueFd conn(static_cast<int>(accept.c.result().value()));
  char buf[64];
  ring->recv(recv.c, conn.get(), std::as_writable_bytes(std::span(buf)));
  REQUIRE(::write(client.get(), "ping", 4) == 4);
  run_until(*ring, recv);
  REQUIRE(recv.c.result().value() == 4);
  CHECK(std::string(buf, 4) == "ping");
  std::string pong = "pong";
  ring->send(send.c, conn.get(), bytes_of(pong));
  run_until(*ring, send);
  CHECK(read_exactly(client.get(), 4) == "pong");
  client.reset();
  Op closed;
  ring->recv(closed.c, conn.get(), std::as_writable_bytes(std::span(buf)));
  run_until(*ring, closed);
  CHECK(closed.c.result().value() == 0);  // the peer closed
}

TEST_CASE("ring: a timeout fires after its delay, and a cancelled one stops early") {
  std::unique_ptr<Ring> ring = make_ring();
  if (!ring) return;
  auto start = std::chrono::steady_clock::now();
  Op timer;
  ring->timeout(timer.c, 20ms);
  run_until(*ring, timer);
  CHECK(std::chrono::steady_clock::now() - start >= 20ms);
  CHECK(timer.c.result().has_value());
  Op long_timer, cancel;
  ring->timeout(long_timer.c, 10s);
  REQUIRE(ring->submit());
  ring->cancel(cancel.c, long_timer.c);
  run_until(*ring, long_timer);
  run_until(*ring, cancel);
  CHECK(long_timer.c.result().error().code() == Errc::kClosed);
  CHECK(cancel.c.result().has_value());
  CHECK(std::chrono::steady_clock::now() - start < 5s);
}

TEST_CASE("ring: cancelling an op not yet submitted settles it at once") {
  std::unique_ptr<Ring> ring = make_ring();
  if (!ring) return;
  Op timer, cancel;
  ring->timeout(timer.c, 10s);
  ring->cancel(cancel.c, timer.c);
  CHECK(ring->run_callbacks() == 2);
  CHECK(timer.c.sys_errno() == ECANCELED);
  CHECK(cancel.c.result().has_value());
  CHECK(ring->active() == 0);
}

TEST_CASE("ring: wake() from another thread makes run_once return") {
  std::unique_ptr<Ring> ring = make_ring();
  if (!ring) return;
  Op guard;  // fails the test instead of hanging it if the wake-up is lost
  ring->timeout(guard.c, 5s);
  auto start = std::chrono::steady_clock::now();
  std::thread waker([&] {
    std::this_thread::sleep_for(50ms);
    ring->wake();
  });
  REQUIRE(ring->run_once(true).has_value());
  waker.join();
  CHECK(guard.calls == 0);
  CHECK(std::chrono::steady_clock::now() - start >= 40ms);
  Op cancel;
  ring->cancel(cancel.c, guard.c);
  run_until(*ring, guard);
  run_until(*ring, cancel);  // both idle before they go (ring.h, Lifetime)
}

TEST_CASE("ring: callbacks run after reaping, so a callback can enqueue the next op") {
  std::unique_ptr<Ring> ring = make_ring();
  if (!ring) return;
  struct Chain {
    Completion c;
    int steps = 0;
  } chain;
  chain.c.context = &chain;
  chain.c.callback = [](Ring& r, Completion& c) {
    auto& self = *static_cast<Chain*>(c.context);
    if (++self.steps < 3) r.timeout(c, 1ms);  // re-enqueues the Completion that just finished
  };
  ring->timeout(chain.c, 1ms);
  REQUIRE(ring->submit());
  std::this_thread::sleep_for(20ms);
  ring->reap();
  CHECK(chain.steps == 0);  // reaped, not yet called back
  CHECK(ring->run_callbacks() == 1);
  CHECK(chain.steps == 1);
  while (chain.steps < 3)
    REQUIRE(ring->run_once().has_value());
  CHECK(ring->active() == 0);
}

TEST_CASE("ring: more ops than entries wait in the queue and all complete") {
  std::unique_ptr<Ring> ring = make_ring(4);
  if (!ring) return;
  Op ops[20];
  for (Op& op : ops)
    ring->timeout(op.c, 1ms);
  REQUIRE(ring->submit());
  CHECK(ring->in_flight() <= ring->entries() + 1);  // + the wake-up read
  CHECK(ring->active() == 20);
  REQUIRE(ring->run_for(200ms));
  for (Op& op : ops)
    CHECK(op.calls == 1);
  CHECK(ring->active() == 0);
}

TEST_CASE("ring: a chain of linked ops longer than the ring still runs in order") {
  std::unique_ptr<Ring> ring = make_ring(4);
  if (!ring) return;
  TempDir dir;
  UniqueFd fd(::open((dir / "f").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  std::string data = pattern_bytes(10, 6);
  Op ops[10];
  for (std::size_t i = 0; i < 10; ++i) {
    Link link = i + 1 < 10 ? Link::kNext : Link::kNone;
    ring->write(ops[i].c, fd.get(), bytes_of(data).subspan(i, 1), i, link);
  }
  run_until(*ring, ops[9]);
  for (Op& op : ops)
    CHECK(op.c.result().value() == 1);
  CHECK(read_whole_file(dir / "f") == data);
}

}  // namespace ringlog
