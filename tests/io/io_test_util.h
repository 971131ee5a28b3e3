// Helpers shared by the io/ suites: a temporary directory, byte buffers, and the Env makers that
// let one suite run over every Env implementation.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "io/env.h"
#include "io/fault_env.h"
#include "tests/support/files.h"

namespace ringlog::test {

// A fresh directory on a disk file system (the io suites test fallocate and O_DIRECT), removed
// with everything in it by the destructor.
using TempDir = ringlog::testing::TempDir;

inline std::string read_whole_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline iovec iov_of(const std::string& s) {
  return {const_cast<char*>(s.data()), s.size()};
}

// A deterministic pattern of `n` bytes, different for each `seed`.
inline std::string pattern_bytes(std::size_t n, unsigned seed) {
  std::string out(n, '\0');
  for (std::size_t i = 0; i < n; ++i)
    out[i] = static_cast<char>('a' + (i * 7 + seed * 13) % 26);
  return out;
}

// Env makers for TEST_CASE_TEMPLATE: `make()` returns the Env under test, or nullptr (with a
// MESSAGE) when the kernel refuses it.
struct PosixEnvMaker {
  static std::unique_ptr<Env> make() { return make_posix_env(); }
};

struct UringEnvMaker {
  static std::unique_ptr<Env> make() {
    Result<std::unique_ptr<Env>> env = make_uring_env();
    if (!env) MESSAGE("skipped: " << env.error().to_string());
    return env ? std::move(*env) : nullptr;
  }
};

struct FaultOverPosixMaker {
  static std::unique_ptr<Env> make() {
    return std::make_unique<FaultInjectionEnv>(make_posix_env(), 42);
  }
};

struct FaultOverUringMaker {
  static std::unique_ptr<Env> make() {
    std::unique_ptr<Env> base = UringEnvMaker::make();
    if (!base) return nullptr;
    return std::make_unique<FaultInjectionEnv>(std::move(base), 42);
  }
};

}  // namespace ringlog::test

#define RINGLOG_EACH_ENV                                          \
  ::ringlog::test::PosixEnvMaker, ::ringlog::test::UringEnvMaker, \
      ::ringlog::test::FaultOverPosixMaker, ::ringlog::test::FaultOverUringMaker
