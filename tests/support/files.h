// Files for the end-to-end suites and drivers (tests/support/, no doctest): a scratch directory
// and whole-file reads and writes. Failures of this machinery throw std::runtime_error: doctest
// fails the test case with its message, a driver reports it as an infrastructure failure.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ringlog::testing {

// A fresh directory, named after the program, removed with everything in it on destruction.
// Throws std::runtime_error when it cannot be made.
class TempDir {
 public:
  enum class Where {
    kTmp,     // under $TMPDIR (or /tmp): a disk file system, for what needs one
    kMemory,  // under /dev/shm when it exists (else as kTmp): suites that write a lot and fast
  };
  explicit TempDir(Where where = Where::kTmp);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// The bytes of a file; "" if it cannot be read (a log not written yet reads as empty).
std::string read_file(const std::string& path);

// Replaces the file with `bytes`; throws std::runtime_error when the write fails.
void write_file(const std::string& path, const std::string& bytes);

// The disk a directory tree takes (what `du` counts: allocated blocks, holes excluded, blocks
// reserved by fallocate included). Throws std::runtime_error when it cannot be walked.
std::uint64_t disk_usage(const std::string& path);

// Splits text into lines (without the newlines); a final newline adds no empty line.
std::vector<std::string> lines_of(const std::string& text);

}  // namespace ringlog::testing
