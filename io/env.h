// The file seam: every byte the storage engine reads or writes, and every directory operation it
// makes, goes through an `Env`. Three implementations exist:
//   - `make_uring_env()`  : io_uring (writes, linked fdatasync, fallocate) - the default;
//   - `make_posix_env()`  : plain POSIX calls, for kernels or sandboxes without io_uring;
//   - `FaultInjectionEnv` : a wrapper (io/fault_env.h) that fails, shortens, drops or tears
//                           writes on command, for tests.
// The same test suite runs over all three.
//
// Threading: an Env may be shared by threads; each call is independent. `submit_writes` is
// called by one thread at a time per Env (the engine's writer), other calls from any thread.
// A File may be read (`read_at`) from any thread while one thread writes it.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <ringlog/error.h>

namespace ringlog {

// A byte position inside a file. Deliberately not an integer alias, so that a logical record
// offset (an int64 in the engine) can never be passed where a byte position is expected.
struct FilePos {
  std::uint64_t bytes = 0;

  constexpr FilePos() = default;
  constexpr explicit FilePos(std::uint64_t b) : bytes(b) {}
  constexpr auto operator<=>(const FilePos&) const = default;
  constexpr FilePos operator+(std::uint64_t n) const { return FilePos(bytes + n); }
  constexpr std::uint64_t operator-(FilePos other) const { return bytes - other.bytes; }
};

enum class OpenMode : std::uint8_t {
  kReadOnly,         // must exist
  kReadWrite,        // must exist
  kCreateReadWrite,  // created if missing (never truncated)
  kCreateExclusive,  // must not exist
};

// An open file. Owned by whoever opened it; closing happens in the destructor.
class File {
 public:
  virtual ~File() = default;
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  // Writes every byte of `data` at `pos`, or fails. A short write is continued internally and
  // never reported as success. On failure some prefix of the data may have reached the file.
  virtual Status write_at(FilePos pos, std::span<const iovec> data) = 0;

  // Reads up to `out.size()` bytes at `pos`; returns the count, which is short only at end of file.
  virtual Result<std::size_t> read_at(FilePos pos, std::span<std::byte> out) = 0;

  // fdatasync: every completed write_at is durable when this returns success.
  virtual Status sync() = 0;

  // fallocate(2). `keep_size` = FALLOC_FL_KEEP_SIZE (reserve blocks, leave st_size alone).
  virtual Status allocate(FilePos pos, std::uint64_t length, bool keep_size) = 0;

  virtual Status truncate(std::uint64_t size_bytes) = 0;
  virtual Result<std::uint64_t> size() = 0;

  // The kernel descriptor, for zero-copy sends (sendfile/splice). Valid while the File lives.
  virtual int fd() const = 0;
  virtual const std::string& path() const = 0;

 protected:
  File() = default;
};

// One write of a group commit: `data` at `pos` of `file`, then, if `sync_after`, an fdatasync of
// that file ordered after the write (an io_uring link in the uring Env). `result` is filled in
// by `Env::submit_writes`. The caller owns the op and everything it points to until that returns.
struct WriteOp {
  File* file = nullptr;
  FilePos pos;
  std::span<const iovec> data;
  bool sync_after = false;
  Status result;
};

// An advisory exclusive lock (flock) on a file or a directory, held through an open descriptor;
// released by the destructor.
class FileLock {
 public:
  virtual ~FileLock() = default;

  // Whether the path the lock was taken on still names the locked file or directory (same
  // st_dev and st_ino as the held descriptor). false when it was removed or replaced: another
  // process opening the path now would lock something else. Errors other than "no such file"
  // (which is false) come from stat.
  virtual Result<bool> still_at_path() = 0;

 protected:
  FileLock() = default;
};

// The space of the file system holding a path (statvfs): what an unprivileged writer may still
// use (f_bavail * f_frsize) and the file system's size (f_blocks * f_frsize).
struct FsSpace {
  std::uint64_t free_bytes = 0;
  std::uint64_t total_bytes = 0;
};

class Env {
 public:
  virtual ~Env() = default;

  virtual Result<std::unique_ptr<File>> open_file(const std::string& path, OpenMode mode) = 0;

  // Runs every op and sets each op's `result`. Ops on different files may run concurrently; for
  // each op, its write completes before its sync starts, and a sync covers every earlier write
  // to that file. The uring Env submits all ops in one io_uring_enter.
  virtual void submit_writes(std::span<WriteOp> ops) = 0;

  virtual Status create_dir(const std::string& path) = 0;  // succeeds if it already exists
  virtual Status remove_file(const std::string& path) = 0;
  virtual Status remove_dir(const std::string& path) = 0;  // must be empty
  virtual Status rename_file(const std::string& from, const std::string& to) = 0;
  // fsync of a directory, so that creations, renames and removals in it are durable.
  virtual Status sync_dir(const std::string& path) = 0;
  // Names (not paths) of the entries of a directory, without "." and "..", unsorted.
  virtual Result<std::vector<std::string>> list_dir(const std::string& path) = 0;
  virtual Result<bool> exists(const std::string& path) = 0;
  // Takes an exclusive lock on the file `path` (created if missing) and writes this process's id
  // into it ("<pid>\n", for operators). kBusy if another process (or another lock in this
  // process) holds it. A stray `rm` of the file defeats such a lock: a new file gets the name
  // and can be locked again; see lock_dir and FileLock::still_at_path.
  virtual Result<std::unique_ptr<FileLock>> lock_file(const std::string& path) = 0;
  // Takes an exclusive lock on the directory `path` itself (flock on an O_RDONLY|O_DIRECTORY
  // descriptor), which must exist. kBusy if another process (or another lock in this process)
  // holds it. Nothing removed inside the directory releases it.
  virtual Result<std::unique_ptr<FileLock>> lock_dir(const std::string& path) = 0;

  // Names this boot of the machine: the same until the kernel restarts, so that a recovery can
  // tell a process crash (the page cache survived: everything written is still there) from a
  // machine crash (what was not fdatasync'ed may be gone). The default reads the kernel's
  // /proc/sys/kernel/random/boot_id; "" when unknown (then every restart counts as a new boot).
  // FaultInjectionEnv makes each simulated power loss a new boot.
  virtual std::string boot_id();

  // The free space of the file system that holds `path` (one statvfs; cheap, but not for every
  // append). The default asks the kernel; wrappers such as FaultInjectionEnv pass it through.
  virtual Result<FsSpace> fs_space(const std::string& path);

 protected:
  Env() = default;
};

// io_uring implementation. Probes io_uring and the opcodes it uses; where the kernel or a sandbox
// refuses them, returns kUnsupported with a message that says which.
Result<std::unique_ptr<Env>> make_uring_env();

// Plain POSIX implementation (pwritev, fdatasync, ...).
std::unique_ptr<Env> make_posix_env();

// The uring Env when io_uring works, the POSIX one otherwise. `why_not` (optional) receives the
// reason the uring Env could not be used.
std::unique_ptr<Env> make_default_env(std::string* why_not = nullptr);

}  // namespace ringlog
