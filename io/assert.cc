#include "io/assert.h"

#include <cstdio>
#include <cstdlib>

namespace ringlog::detail {

void assert_failed(const char* expression, const char* file, int line,
                   const char* message) noexcept {
  std::fprintf(stderr, "ringlog: assertion failed at %s:%d: %s%s%s\n", file, line, expression,
               message ? ": " : "", message ? message : "");
  std::fflush(stderr);
  std::abort();
}

}  // namespace ringlog::detail
