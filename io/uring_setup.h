// Setting up an io_uring and checking that the kernel (or a sandbox around it) lets us use it.
// Shared by the uring Env and the Ring; internal to io/.
#pragma once

#include <liburing.h>

#include <span>

#include <ringlog/error.h>

namespace ringlog {

// An opcode a component needs, with the name its error message uses.
struct UringOpcode {
  int op;
  const char* name;  // "IORING_OP_WRITEV"
};

// Initialises `ring` with `entries` submission entries and `flags`, checks with a probe that every
// opcode of `needed` is supported and that a NOP makes the round trip. On failure `ring` is left
// uninitialised and the Error is kUnsupported, naming what was refused:
// "io_uring_setup failed: Operation not permitted (a seccomp sandbox, or sysctl
// kernel.io_uring_disabled?)".
Status uring_init(io_uring* ring, unsigned entries, unsigned flags,
                  std::span<const UringOpcode> needed);

}  // namespace ringlog
