#include <cerrno>

#include <doctest/doctest.h>
#include <ringlog/error.h>

namespace ringlog {

TEST_CASE("error: errno values map to stable categories") {
  CHECK(error_from_errno(ENOSPC, "write f").code() == Errc::kNoSpace);
  CHECK(error_from_errno(EDQUOT, "write f").code() == Errc::kNoSpace);
  CHECK(error_from_errno(ENOENT, "open f").code() == Errc::kNotFound);
  CHECK(error_from_errno(EIO, "sync f").code() == Errc::kIo);
  CHECK(error_from_errno(EEXIST, "mkdir d").code() == Errc::kAlreadyExists);
  CHECK(error_from_errno(EAGAIN, "lock").code() == Errc::kBusy);
  CHECK(error_from_errno(ENOSYS, "io_uring_setup").code() == Errc::kUnsupported);
  CHECK(error_from_errno(EPERM, "io_uring_setup").code() == Errc::kPermissionDenied);
}

TEST_CASE("error: message names the operation and keeps the errno") {
  Error e = error_from_errno(ENOSPC, "write /d/0.log");
  CHECK(e.sys_errno() == ENOSPC);
  CHECK(e.message().starts_with("write /d/0.log: "));
  CHECK(e.to_string().starts_with("no_space: write /d/0.log"));
  CHECK(e.with_context("append t/0").message().starts_with("append t/0: write /d/0.log"));
}

TEST_CASE("error: fail() builds an unexpected Result") {
  auto f = []() -> Result<int> { return fail(Errc::kOutOfRange, "offset 7 < log start 9"); };
  Result<int> r = f();
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code() == Errc::kOutOfRange);
  CHECK(r.error().sys_errno() == 0);
}

}  // namespace ringlog
