#include "io/posix_env.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>

#include "io/iov_cursor.h"

namespace ringlog {
namespace {

Error errno_error(std::string_view what, const std::string& path) {
  std::string context(what);
  context += ' ';
  context += path;
  return error_from_errno(errno, context);
}

int open_flags(OpenMode mode) {
  switch (mode) {
    case OpenMode::kReadOnly:
      return O_RDONLY;
    case OpenMode::kReadWrite:
      return O_RDWR;
    case OpenMode::kCreateReadWrite:
      return O_RDWR | O_CREAT;
    case OpenMode::kCreateExclusive:
      return O_RDWR | O_CREAT | O_EXCL;
  }
  RINGLOG_UNREACHABLE("unknown OpenMode");
}

// Retries a syscall returning -1/errno while it fails with EINTR.
template <typename Call>
auto retry_eintr(Call call) {
  for (;;) {
    auto r = call();
    if (r != -1 || errno != EINTR) return r;
  }
}

class PosixLock final : public FileLock {
 public:
  PosixLock(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~PosixLock() override { ::close(fd_); }  // closing the descriptor releases the flock

  Result<bool> still_at_path() override {
    struct stat held {
    }, named{};
    if (::fstat(fd_, &held) != 0) return fail(errno_error("fstat", path_));
    if (::stat(path_.c_str(), &named) != 0) {
      if (errno == ENOENT) return false;
      return fail(errno_error("stat", path_));
    }
    return held.st_dev == named.st_dev && held.st_ino == named.st_ino;
  }

 private:
  int fd_;
  std::string path_;
};

// flock(LOCK_EX | LOCK_NB) on `fd` (opened on `path`): the lock, or kBusy; closes `fd` on failure.
Result<std::unique_ptr<FileLock>> take_lock(int fd, const std::string& path) {
  if (retry_eintr([&] { return ::flock(fd, LOCK_EX | LOCK_NB); }) != 0) {
    int lock_errno = errno;
    ::close(fd);
    if (lock_errno == EWOULDBLOCK) {
      return fail(error_from_errno(lock_errno, "lock " + path + ": another process holds it"));
    }
    return fail(error_from_errno(lock_errno, "lock " + path));
  }
  return std::unique_ptr<FileLock>(std::make_unique<PosixLock>(fd, path));
}

// Replaces the content of the lock file `fd` with "<pid>\n".
Status write_pid(int fd, const std::string& path) {
  std::string pid = std::to_string(::getpid()) + "\n";
  if (retry_eintr([&] { return ::ftruncate(fd, 0); }) != 0)
    return fail(errno_error("ftruncate", path));
  ssize_t n = retry_eintr([&] { return ::pwrite(fd, pid.data(), pid.size(), 0); });
  if (n != static_cast<ssize_t>(pid.size())) return fail(errno_error("write", path));
  return {};
}

}  // namespace

PosixFile::~PosixFile() {
  ::close(fd_);
}

Status PosixFile::write_at(FilePos pos, std::span<const iovec> data) {
  IovCursor cursor(data);
  while (!cursor.done()) {
    std::span<const iovec> rest = cursor.rest(IOV_MAX);
    ssize_t n = retry_eintr([&] {
      return ::pwritev(fd_, rest.data(), static_cast<int>(rest.size()),
                       static_cast<off_t>(pos.bytes));
    });
    if (n < 0) return fail(errno_error("write", path_));
    if (n == 0) return fail(Errc::kIo, "write " + path_ + ": the kernel accepted 0 bytes");
    cursor.advance(static_cast<std::size_t>(n));
    pos = pos + static_cast<std::uint64_t>(n);
  }
  return {};
}

Result<std::size_t> PosixFile::read_at(FilePos pos, std::span<std::byte> out) {
  std::size_t done = 0;
  while (done < out.size()) {
    ssize_t n = retry_eintr([&] {
      return ::pread(fd_, out.data() + done, out.size() - done,
                     static_cast<off_t>(pos.bytes + done));
    });
    if (n < 0) return fail(errno_error("read", path_));
    if (n == 0) break;  // end of file
    done += static_cast<std::size_t>(n);
  }
  return done;
}

Status PosixFile::sync() {
  if (retry_eintr([&] { return ::fdatasync(fd_); }) != 0)
    return fail(errno_error("fdatasync", path_));
  return {};
}

Status PosixFile::allocate(FilePos pos, std::uint64_t length, bool keep_size) {
  int mode = keep_size ? FALLOC_FL_KEEP_SIZE : 0;
  int r = retry_eintr([&] {
    return ::fallocate(fd_, mode, static_cast<off_t>(pos.bytes), static_cast<off_t>(length));
  });
  if (r != 0) return fail(errno_error("fallocate", path_));
  return {};
}

Status PosixFile::truncate(std::uint64_t size_bytes) {
  int r = retry_eintr([&] { return ::ftruncate(fd_, static_cast<off_t>(size_bytes)); });
  if (r != 0) return fail(errno_error("ftruncate", path_));
  return {};
}

Result<std::uint64_t> PosixFile::size() {
  struct stat st {};
  if (::fstat(fd_, &st) != 0) return fail(errno_error("fstat", path_));
  return static_cast<std::uint64_t>(st.st_size);
}

Result<std::unique_ptr<File>> PosixEnv::open_file(const std::string& path, OpenMode mode) {
  int fd = retry_eintr([&] { return ::open(path.c_str(), open_flags(mode) | O_CLOEXEC, 0644); });
  if (fd < 0) return fail(errno_error("open", path));
  return std::make_unique<PosixFile>(fd, path);
}

void PosixEnv::submit_writes(std::span<WriteOp> ops) {
  for (WriteOp& op : ops) {
    RINGLOG_ASSERT(op.file != nullptr);
    op.result = op.file->write_at(op.pos, op.data);
    if (op.result && op.sync_after) op.result = op.file->sync();
  }
}

Status PosixEnv::create_dir(const std::string& path) {
  if (::mkdir(path.c_str(), 0755) == 0) return {};
  if (errno != EEXIST) return fail(errno_error("mkdir", path));
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return {};
  return fail(Errc::kAlreadyExists, "mkdir " + path + ": exists and is not a directory");
}

Status PosixEnv::remove_file(const std::string& path) {
  if (::unlink(path.c_str()) != 0) return fail(errno_error("unlink", path));
  return {};
}

Status PosixEnv::remove_dir(const std::string& path) {
  if (::rmdir(path.c_str()) != 0) return fail(errno_error("rmdir", path));
  return {};
}

Status PosixEnv::rename_file(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0)
    return fail(errno_error("rename " + from + " to", to));
  return {};
}

Status PosixEnv::sync_dir(const std::string& path) {
  int fd = retry_eintr([&] { return ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); });
  if (fd < 0) return fail(errno_error("open directory", path));
  int r = retry_eintr([&] { return ::fsync(fd); });
  Status status;
  if (r != 0) status = fail(errno_error("fsync directory", path));
  ::close(fd);
  return status;
}

Result<std::vector<std::string>> PosixEnv::list_dir(const std::string& path) {
  DIR* dir = ::opendir(path.c_str());  // glibc opens it O_CLOEXEC
  if (dir == nullptr) return fail(errno_error("opendir", path));
  std::vector<std::string> names;
  errno = 0;
  while (dirent* entry = ::readdir(dir)) {
    std::string_view name(entry->d_name);
    if (name != "." && name != "..") names.emplace_back(name);
  }
  int read_errno = errno;
  ::closedir(dir);
  if (read_errno != 0) return fail(error_from_errno(read_errno, "readdir " + path));
  return names;
}

Result<bool> PosixEnv::exists(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) return true;
  if (errno == ENOENT) return false;
  return fail(errno_error("stat", path));
}

Result<std::unique_ptr<FileLock>> PosixEnv::lock_file(const std::string& path) {
  int fd = retry_eintr([&] { return ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644); });
  if (fd < 0) return fail(errno_error("open lock file", path));
  auto lock = take_lock(fd, path);
  if (!lock) return lock;
  if (auto s = write_pid(fd, path); !s) return fail(s.error());
  return lock;
}

Result<std::unique_ptr<FileLock>> PosixEnv::lock_dir(const std::string& path) {
  int fd = retry_eintr([&] { return ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); });
  if (fd < 0) return fail(errno_error("open directory", path));
  return take_lock(fd, path);
}

std::unique_ptr<Env> make_posix_env() {
  return std::make_unique<PosixEnv>();
}

}  // namespace ringlog
