// The Ring's lifetime contract (ring.h, "Lifetime"): a Completion must be idle when destroyed,
// which ~Completion asserts; owners that must go early take their ops back with abandon(), or
// cancel them and wait for the callbacks; ~Ring leaves every Completion idle and untouched.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <memory>
#include <string>

#include "io_test_util.h"
#include "ring_test_util.h"

namespace ringlog {

using namespace std::chrono_literals;
using test::bytes_of;
using test::make_ring;
using test::Op;
using test::run_until;
using test::TcpPair;
using test::TempDir;

namespace {

enum class Busy { kQueued, kInFlight, kAwaitingCallback };

// In a child process: leaves an op of `busy` kind on a Completion and destroys it. Returns
// normally only if nothing stopped the destruction.
void destroy_busy_completion(Busy busy) {
  std::unique_ptr<Ring> ring = std::move(Ring::create(8).value());
  auto op = std::make_unique<Op>();
  Op cancel;
  ring->timeout(op->c, 10s);
  if (busy == Busy::kInFlight) (void)ring->submit();
  if (busy == Busy::kAwaitingCallback) ring->cancel(cancel.c, op->c);  // settles both at once
  // The bug under test:
  op.reset();
}

struct ChildOutcome {
  bool aborted = false;
  std::string stderr_text;
};

// Runs `busy` in a forked child with its stderr captured (doctest has no death tests).
ChildOutcome run_in_child(Busy busy) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    std::signal(SIGABRT, SIG_DFL);  // not doctest's crash handler: die as abort() dies
    ::dup2(fds[1], STDERR_FILENO);
    ::close(fds[0]);
    destroy_busy_completion(busy);
    ::_exit(0);
  }
  ::close(fds[1]);
  ChildOutcome outcome;
  char buf[512];
  ssize_t n = 0;
  while ((n = ::read(fds[0], buf, sizeof(buf))) > 0)
    outcome.stderr_text.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  outcome.aborted = WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
  return outcome;
}

}  // namespace

TEST_CASE("ring: destroying a Completion that is not idle aborts with a message") {
  if (!make_ring()) return;
  Busy busy{};
  SUBCASE("queued, not yet submitted") {
    busy = Busy::kQueued;
  }
  SUBCASE("in flight in the kernel") {
    busy = Busy::kInFlight;
  }
  SUBCASE("finished, callback not yet run") {
    busy = Busy::kAwaitingCallback;
  }
  ChildOutcome outcome = run_in_child(busy);
  CAPTURE(outcome.stderr_text);
  CHECK(outcome.aborted);
  CHECK(outcome.stderr_text.find("Completion destroyed while its op is queued") !=
        std::string::npos);
}

TEST_CASE("ring: abandon drops a queued op without running its callback") {
  std::unique_ptr<Ring> ring = make_ring();
  if (!ring) return;
  auto op = std::make_unique<Op>();
  ring->timeout(op->c, 10s);
  CHECK_FALSE(op->c.idle());
  ring->abandon(op->c);
  CHECK(op->c.idle());
  CHECK(ring->active() == 0);
  op.reset();  // safe now
  Op next;     // the Ring's queue still works
  ring->timeout(next.c, 1ms);
  run_until(*ring, next);
  CHECK(ring->run_callbacks() == 0);
}

TEST_CASE("ring: abandon cancels an op in flight and the kernel no longer touches its buffer") {
  std::unique_ptr<Ring> ring = make_ring();
  if (!ring) return;
  TcpPair pair;
  auto op = std::make_unique<Op>();
  auto buffer = std::make_unique<char[]>(64);
  ring->recv(op->c, pair.server.get(), std::as_writable_bytes(std::span(buffer.get(), 64)));
  REQUIRE(ring->submit());
  ring->abandon(op->c);
  CHECK(op->c.idle());
  CHECK(op->calls == 0);
  CHECK(ring->active() == 0);
  op.reset();
  buffer.reset();
  // Bytes sent now are not taken by the abandoned recv: a plain read still gets them.
  REQUIRE(::send(pair.client.get(), "late", 4, 0) == 4);
  REQUIRE(ring->run_for(20ms));
  char got[4] = {};
  REQUIRE(::recv(pair.server.get(), got, sizeof(got), MSG_WAITALL) == 4);
  CHECK(std::string(got, 4) == "late");
}

TEST_CASE("ring: abandon drops a finished op whose callback has not run yet") {
  std::unique_ptr<Ring> ring = make_ring();
  if (!ring) return;
  Op timer, cancel;
  ring->timeout(timer.c, 10s);
  ring->cancel(cancel.c, timer.c);  // both finish now; their callbacks wait
  ring->abandon(timer.c);
  CHECK(timer.c.idle());
  CHECK(ring->run_callbacks() == 1);
  CHECK(cancel.calls == 1);
  CHECK(timer.calls == 0);
}

TEST_CASE("ring: a callback may abandon another op that is ready in the same round") {
  std::unique_ptr<Ring> ring = make_ring();
  if (!ring) return;
  Op cancel;
  struct Owner {
    Completion timer;
    Op* other = nullptr;
    bool ran = false;
  } owner;
  owner.other = &cancel;
  owner.timer.context = &owner;
  owner.timer.callback = [](Ring& r, Completion& c) {
    auto& self = *static_cast<Owner*>(c.context);
    self.ran = true;
    r.abandon(self.other->c);  // ready right behind this one
  };
  ring->timeout(owner.timer, 10s);
  ring->cancel(cancel.c, owner.timer);  // ready in this order: the timer, then the cancel
  CHECK(ring->run_callbacks() == 1);
  CHECK(owner.ran);
  CHECK(cancel.calls == 0);
  CHECK(cancel.c.idle());
  CHECK(ring->active() == 0);
}

TEST_CASE("ring: abandoning an op with a linked successor cancels the successor") {
  std::unique_ptr<Ring> ring = make_ring();
  if (!ring) return;
  TempDir dir;
  UniqueFd fd(::open((dir / "f").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  std::string data = "abandoned";
  Op write, sync;
  ring->write(write.c, fd.get(), bytes_of(data), 0, Link::kNext);
  ring->fsync(sync.c, fd.get());
  ring->abandon(write.c);
  run_until(*ring, sync);
  CHECK(write.calls == 0);
  CHECK(sync.c.sys_errno() == ECANCELED);
  CHECK(ring->active() == 0);
}

TEST_CASE("ring: an owner cancels its op and waits for the callback before it goes") {
  std::unique_ptr<Ring> ring = make_ring();
  if (!ring) return;
  TcpPair pair;
  auto owner = std::make_unique<Op>();
  char buf[16];
  ring->recv(owner->c, pair.server.get(), std::as_writable_bytes(std::span(buf)));
  REQUIRE(ring->submit());
  Op cancel;
  ring->cancel(cancel.c, owner->c);
  run_until(*ring, *owner);
  run_until(*ring, cancel);
  CHECK(owner->c.sys_errno() == ECANCELED);
  CHECK(owner->c.idle());
  owner.reset();
  CHECK(ring->active() == 0);
}

TEST_CASE("ring: destroying the Ring takes back every op and leaves the Completions idle") {
  std::unique_ptr<Ring> ring = make_ring();
  if (!ring) return;
  TcpPair pair;
  Op in_flight, queued, finished, cancel;
  char buf[16];
  ring->recv(in_flight.c, pair.server.get(), std::as_writable_bytes(std::span(buf)));
  REQUIRE(ring->submit());
  ring->timeout(finished.c, 10s);
  ring->cancel(cancel.c, finished.c);
  ring->timeout(queued.c, 10s);
  ring.reset();
  for (Op* op : {&in_flight, &queued, &finished, &cancel}) {
    CHECK(op->c.idle());
    CHECK(op->calls == 0);
  }
  // The recv was cancelled, not left to take bytes sent afterwards.
  REQUIRE(::send(pair.client.get(), "late", 4, 0) == 4);
  char got[4] = {};
  REQUIRE(::recv(pair.server.get(), got, sizeof(got), MSG_WAITALL) == 4);
  CHECK(std::string(got, 4) == "late");
}

}  // namespace ringlog
