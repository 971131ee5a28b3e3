// RINGLOG_ASSERT: always-on checks for programmer errors (broken invariants), never for the
// world's failures, which are Errors. A failed assertion prints where and why, then aborts.
#pragma once

namespace ringlog::detail {
[[noreturn]] void assert_failed(const char* expression, const char* file, int line,
                                const char* message) noexcept;
}  // namespace ringlog::detail

#define RINGLOG_ASSERT(cond)                                                \
  do {                                                                      \
    if (!(cond)) [[unlikely]]                                               \
      ::ringlog::detail::assert_failed(#cond, __FILE__, __LINE__, nullptr); \
  } while (0)

#define RINGLOG_ASSERT_MSG(cond, msg)                                     \
  do {                                                                    \
    if (!(cond)) [[unlikely]]                                             \
      ::ringlog::detail::assert_failed(#cond, __FILE__, __LINE__, (msg)); \
  } while (0)

// Marks a point the code can never reach (the end of a switch over every enumerator): aborts
// with `msg` if it is reached; the compiler knows it does not return.
#define RINGLOG_UNREACHABLE(msg) \
  ::ringlog::detail::assert_failed("unreachable", __FILE__, __LINE__, (msg))
