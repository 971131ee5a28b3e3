// The plain-POSIX file seam (see io/env.h for the contract), exposed inside io/ so that the
// io_uring Env can reuse its File and directory operations and replace only `submit_writes`.
//
// PosixFile: single calls are plain syscalls (pwritev loop, pread loop, fdatasync, fallocate,
// ftruncate, fstat) and so may be made from any thread. Every descriptor is opened O_CLOEXEC.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "io/env.h"

namespace ringlog {

class PosixFile final : public File {
 public:
  // Takes ownership of `fd`.
  PosixFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~PosixFile() override;

  Status write_at(FilePos pos, std::span<const iovec> data) override;
  Result<std::size_t> read_at(FilePos pos, std::span<std::byte> out) override;
  Status sync() override;
  Status allocate(FilePos pos, std::uint64_t length, bool keep_size) override;
  Status truncate(std::uint64_t size_bytes) override;
  Result<std::uint64_t> size() override;
  int fd() const override { return fd_; }
  const std::string& path() const override { return path_; }

 private:
  int fd_;
  std::string path_;
};

// Runs `ops` one after another with pwritev and fdatasync; the other calls are plain syscalls.
class PosixEnv : public Env {
 public:
  Result<std::unique_ptr<File>> open_file(const std::string& path, OpenMode mode) override;
  void submit_writes(std::span<WriteOp> ops) override;
  Status create_dir(const std::string& path) override;
  Status remove_file(const std::string& path) override;
  Status remove_dir(const std::string& path) override;
  Status rename_file(const std::string& from, const std::string& to) override;
  Status sync_dir(const std::string& path) override;
  Result<std::vector<std::string>> list_dir(const std::string& path) override;
  Result<bool> exists(const std::string& path) override;
  Result<std::unique_ptr<FileLock>> lock_file(const std::string& path) override;
  Result<std::unique_ptr<FileLock>> lock_dir(const std::string& path) override;
};

}  // namespace ringlog
