#include "io/env.h"

#include <sys/statvfs.h>

#include <cerrno>
#include <fstream>

namespace ringlog {

std::string Env::boot_id() {
  static const std::string id = [] {
    std::ifstream in("/proc/sys/kernel/random/boot_id");
    std::string line;
    std::getline(in, line);
    return line;
  }();
  return id;
}

Result<FsSpace> Env::fs_space(const std::string& path) {
  struct statvfs st {};
  if (::statvfs(path.c_str(), &st) != 0) return fail(error_from_errno(errno, "statvfs " + path));
  return FsSpace{static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize,
                 static_cast<std::uint64_t>(st.f_blocks) * st.f_frsize};
}

std::unique_ptr<Env> make_default_env(std::string* why_not) {
  Result<std::unique_ptr<Env>> uring = make_uring_env();
  if (uring) return std::move(*uring);
  if (why_not != nullptr) *why_not = uring.error().to_string();
  return make_posix_env();
}

}  // namespace ringlog
