#include "io/uring_setup.h"

#include <cerrno>
#include <string>

namespace ringlog {
namespace {

const char* refusal_hint(int sys_errno) {
  switch (sys_errno) {
    case EPERM:
    case EACCES:
      return " (a seccomp sandbox, or sysctl kernel.io_uring_disabled?)";
    case ENOSYS:
      return " (kernel built without io_uring, or a sandbox hiding it?)";
    case ENOMEM:
      return " (RLIMIT_MEMLOCK too low?)";
    default:
      return "";
  }
}

Error refused(int sys_errno, const char* call) {
  Error e = error_from_errno(sys_errno, std::string(call) + " failed");
  return Error(Errc::kUnsupported, e.message() + refusal_hint(sys_errno), sys_errno);
}

Status check_opcodes(io_uring* ring, std::span<const UringOpcode> needed) {
  io_uring_probe* probe = io_uring_get_probe_ring(ring);
  if (probe == nullptr) {
    return fail(Errc::kUnsupported, "io_uring opcode probe refused (kernel older than 5.6?)");
  }
  Status status;
  for (const UringOpcode& opcode : needed) {
    if (!io_uring_opcode_supported(probe, opcode.op)) {
      status = fail(Errc::kUnsupported, std::string("io_uring opcode ") + opcode.name +
                                            " is not supported by this kernel");
      break;
    }
  }
  io_uring_free_probe(probe);
  return status;
}

Status check_round_trip(io_uring* ring) {
  io_uring_sqe* sqe = io_uring_get_sqe(ring);
  io_uring_prep_nop(sqe);
  int r = io_uring_submit_and_wait(ring, 1);
  if (r < 0) return fail(refused(-r, "io_uring_enter"));
  io_uring_cqe* cqe = nullptr;
  while ((r = io_uring_wait_cqe(ring, &cqe)) == -EINTR) {
  }
  if (r < 0) return fail(refused(-r, "io_uring_enter"));
  io_uring_cqe_seen(ring, cqe);
  return {};
}

}  // namespace

Status uring_init(io_uring* ring, unsigned entries, unsigned flags,
                  std::span<const UringOpcode> needed) {
  int r = io_uring_queue_init(entries, ring, flags);
  if (r < 0) return fail(refused(-r, "io_uring_setup"));
  Status status = check_opcodes(ring, needed);
  if (status) status = check_round_trip(ring);
  if (!status) io_uring_queue_exit(ring);
  return status;
}

}  // namespace ringlog
