#include "io/env.h"

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

std::unique_ptr<Env> make_default_env(std::string* why_not) {
  Result<std::unique_ptr<Env>> uring = make_uring_env();
  if (uring) return std::move(*uring);
  if (why_not != nullptr) *why_not = uring.error().to_string();
  return make_posix_env();
}

}  // namespace ringlog
