// What happens where a sandbox refuses io_uring: a forked child installs a seccomp filter that
// fails io_uring_setup with EPERM (as Docker's default profile does), then asks for a Ring and
// the uring Env.
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstddef>
#include <string>

#include "io/ring.h"
#include "io_test_util.h"

namespace ringlog {
namespace {

bool refuse_io_uring_setup() {
  sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog program{static_cast<unsigned short>(std::size(filter)), filter};
  return ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
         ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) == 0;
}

// Runs in the sandboxed child; returns what went wrong, or "" if everything behaved.
std::string check_refusals() {
  if (!refuse_io_uring_setup()) return "could not install the seccomp filter";
  const std::string expected = "io_uring_setup failed: Operation not permitted (a seccomp sandbox";
  Result<std::unique_ptr<Ring>> ring = Ring::create(8);
  if (ring) return "Ring::create succeeded under the filter";
  if (ring.error().code() != Errc::kUnsupported) return "Ring: " + ring.error().to_string();
  if (ring.error().message().find(expected) == std::string::npos) {
    return "Ring message: " + ring.error().message();
  }
  Result<std::unique_ptr<Env>> uring = make_uring_env();
  if (uring) return "make_uring_env succeeded under the filter";
  if (uring.error().message().find(expected) == std::string::npos) {
    return "Env message: " + uring.error().message();
  }
  std::string why_not;
  std::unique_ptr<Env> fallback = make_default_env(&why_not);
  if (fallback == nullptr) return "make_default_env returned nothing";
  if (why_not.find(expected) == std::string::npos) return "why_not: " + why_not;
  return "";
}

// Runs `check` in a child process and returns its verdict.
std::string in_child(std::string (*check)()) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    std::string verdict = check();
    [[maybe_unused]] ssize_t n = ::write(fds[1], verdict.data(), verdict.size());
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string verdict;
  char buf[512];
  ssize_t n = 0;
  while ((n = ::read(fds[0], buf, sizeof(buf))) > 0)
    verdict.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  REQUIRE(WIFEXITED(status));
  return verdict;
}

}  // namespace

TEST_CASE("probe: a sandbox that refuses io_uring gets a message that says so, and POSIX") {
  CHECK(in_child(&check_refusals) == "");
}

TEST_CASE("probe: the default Env is the io_uring one where the kernel allows it") {
  std::string why_not = "unset";
  std::unique_ptr<Env> env = make_default_env(&why_not);
  REQUIRE(env != nullptr);
  if (make_uring_env()) CHECK(why_not == "unset");  // untouched when io_uring works
}

}  // namespace ringlog
