// One suite over every Env implementation: posix, io_uring, and the fault wrapper over each with
// no faults armed.
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <map>
#include <set>

#include "io_test_util.h"

namespace ringlog {
namespace {

using test::iov_of;
using test::pattern_bytes;
using test::read_whole_file;
using test::TempDir;

std::unique_ptr<File> create(Env& env, const std::string& path) {
  Result<std::unique_ptr<File>> file = env.open_file(path, OpenMode::kCreateReadWrite);
  REQUIRE_MESSAGE(file.has_value(), file.error().to_string());
  return std::move(*file);
}

void write_string(File& file, FilePos pos, const std::string& s) {
  iovec v = iov_of(s);
  Status status = file.write_at(pos, {&v, 1});
  REQUIRE_MESSAGE(status.has_value(), status.error().to_string());
}

std::string read_string(File& file, FilePos pos, std::size_t n) {
  std::string out(n, '\0');
  Result<std::size_t> got = file.read_at(pos, std::as_writable_bytes(std::span(out)));
  REQUIRE_MESSAGE(got.has_value(), got.error().to_string());
  out.resize(*got);
  return out;
}

}  // namespace

TEST_CASE_TEMPLATE("env: written bytes read back after fdatasync", Maker, RINGLOG_EACH_ENV) {
  std::unique_ptr<Env> env = Maker::make();
  if (!env) return;
  TempDir dir;
  std::unique_ptr<File> file = create(*env, dir / "a.log");
  std::string head = "hello ", tail = "world";
  iovec parts[] = {iov_of(head), iov_of(tail)};
  REQUIRE(file->write_at(FilePos(0), parts));
  REQUIRE(file->sync());
  CHECK(read_string(*file, FilePos(0), 11) == "hello world");
  CHECK(read_string(*file, FilePos(6), 100) == "world");  // short only at end of file
  CHECK(read_string(*file, FilePos(50), 10).empty());
  CHECK(file->size().value() == 11);
  CHECK(file->path() == dir / "a.log");
  CHECK(file->fd() >= 0);
}

TEST_CASE_TEMPLATE("env: a write past the end leaves a zero-filled hole", Maker, RINGLOG_EACH_ENV) {
  std::unique_ptr<Env> env = Maker::make();
  if (!env) return;
  TempDir dir;
  std::unique_ptr<File> file = create(*env, dir / "hole");
  write_string(*file, FilePos(4), "x");
  CHECK(read_whole_file(dir / "hole") == std::string("\0\0\0\0x", 5));
}

TEST_CASE_TEMPLATE("env: allocate with keep_size reserves without growing the file", Maker,
                   RINGLOG_EACH_ENV) {
  std::unique_ptr<Env> env = Maker::make();
  if (!env) return;
  TempDir dir;
  std::unique_ptr<File> file = create(*env, dir / "seg");
  REQUIRE(file->allocate(FilePos(0), 1 << 20, true));
  CHECK(file->size().value() == 0);
  REQUIRE(file->allocate(FilePos(0), 8192, false));
  CHECK(file->size().value() == 8192);
  CHECK(read_string(*file, FilePos(8000), 192) == std::string(192, '\0'));
}

TEST_CASE_TEMPLATE("env: truncate shrinks and grows the file", Maker, RINGLOG_EACH_ENV) {
  std::unique_ptr<Env> env = Maker::make();
  if (!env) return;
  TempDir dir;
  std::unique_ptr<File> file = create(*env, dir / "t");
  write_string(*file, FilePos(0), "0123456789");
  REQUIRE(file->truncate(4));
  CHECK(read_whole_file(dir / "t") == "0123");
  REQUIRE(file->truncate(6));
  CHECK(read_whole_file(dir / "t") == std::string("0123\0\0", 6));
}

TEST_CASE_TEMPLATE("env: open modes demand or forbid an existing file", Maker, RINGLOG_EACH_ENV) {
  std::unique_ptr<Env> env = Maker::make();
  if (!env) return;
  TempDir dir;
  std::string path = dir / "f";
  CHECK(env->open_file(path, OpenMode::kReadOnly).error().code() == Errc::kNotFound);
  CHECK(env->open_file(path, OpenMode::kReadWrite).error().code() == Errc::kNotFound);
  REQUIRE(env->open_file(path, OpenMode::kCreateExclusive));
  CHECK(env->open_file(path, OpenMode::kCreateExclusive).error().code() == Errc::kAlreadyExists);
  REQUIRE(env->open_file(path, OpenMode::kCreateReadWrite));
  Result<std::unique_ptr<File>> ro = env->open_file(path, OpenMode::kReadOnly);
  REQUIRE(ro);
  std::string byte = "x";
  iovec v = iov_of(byte);
  Status denied = (*ro)->write_at(FilePos(0), {&v, 1});
  REQUIRE_FALSE(denied);
  CHECK(denied.error().code() == Errc::kInvalidArgument);  // EBADF
  CHECK(denied.error().message().find(path) != std::string::npos);
}

TEST_CASE_TEMPLATE("env: directory operations create, list, rename and remove", Maker,
                   RINGLOG_EACH_ENV) {
  std::unique_ptr<Env> env = Maker::make();
  if (!env) return;
  TempDir dir;
  std::string sub = dir / "sub";
  REQUIRE(env->create_dir(sub));
  REQUIRE(env->create_dir(sub));  // already there: fine
  CHECK(env->exists(sub).value());
  create(*env, sub + "/a");
  create(*env, sub + "/b");
  REQUIRE(env->rename_file(sub + "/b", sub + "/c"));
  REQUIRE(env->sync_dir(sub));
  std::vector<std::string> names = env->list_dir(sub).value();
  CHECK(std::set<std::string>(names.begin(), names.end()) == std::set<std::string>{"a", "c"});
  CHECK(env->remove_dir(sub).error().code() == Errc::kAlreadyExists);  // ENOTEMPTY
  REQUIRE(env->remove_file(sub + "/a"));
  REQUIRE(env->remove_file(sub + "/c"));
  CHECK(env->remove_file(sub + "/a").error().code() == Errc::kNotFound);
  REQUIRE(env->remove_dir(sub));
  CHECK_FALSE(env->exists(sub).value());
  CHECK(env->list_dir(sub).error().code() == Errc::kNotFound);
  CHECK(env->sync_dir(sub).error().code() == Errc::kNotFound);
}

TEST_CASE_TEMPLATE("env: a second lock on the same file is busy until the first is released", Maker,
                   RINGLOG_EACH_ENV) {
  std::unique_ptr<Env> env = Maker::make();
  if (!env) return;
  TempDir dir;
  std::string path = dir / "LOCK";
  Result<std::unique_ptr<FileLock>> first = env->lock_file(path);
  REQUIRE(first);
  // Each lock_file opens its own file description, so flock conflicts as across processes.
  Result<std::unique_ptr<FileLock>> second = env->lock_file(path);
  REQUIRE_FALSE(second);
  CHECK(second.error().code() == Errc::kBusy);
  CHECK(second.error().message().find("another process holds it") != std::string::npos);
  first->reset();
  CHECK(env->lock_file(path).has_value());
}

TEST_CASE_TEMPLATE("env: a directory lock is busy for a second taker, whatever is removed inside",
                   Maker, RINGLOG_EACH_ENV) {
  std::unique_ptr<Env> env = Maker::make();
  if (!env) return;
  TempDir dir;
  std::string path = dir / "data";
  REQUIRE(env->create_dir(path));
  Result<std::unique_ptr<FileLock>> first = env->lock_dir(path);
  REQUIRE(first);
  REQUIRE(env->lock_file(path + "/LOCK"));  // then removed: the directory lock does not care
  REQUIRE(env->remove_file(path + "/LOCK"));
  Result<std::unique_ptr<FileLock>> second = env->lock_dir(path);
  REQUIRE_FALSE(second);
  CHECK(second.error().code() == Errc::kBusy);
  CHECK(second.error().message().find("another process holds it") != std::string::npos);
  CHECK((*first)->still_at_path().value());
  first->reset();
  CHECK(env->lock_dir(path).has_value());
  CHECK(env->lock_dir(dir / "missing").error().code() == Errc::kNotFound);
}

TEST_CASE_TEMPLATE("env: a file lock knows when its path was removed or replaced", Maker,
                   RINGLOG_EACH_ENV) {
  std::unique_ptr<Env> env = Maker::make();
  if (!env) return;
  TempDir dir;
  std::string path = dir / "LOCK";
  Result<std::unique_ptr<FileLock>> lock = env->lock_file(path);
  REQUIRE(lock);
  CHECK(read_whole_file(path) == std::to_string(::getpid()) + "\n");
  CHECK((*lock)->still_at_path().value());
  REQUIRE(env->remove_file(path));
  CHECK_FALSE((*lock)->still_at_path().value());
  Result<std::unique_ptr<FileLock>> other = env->lock_file(path);  // a new file: lockable
  REQUIRE(other);
  CHECK_FALSE((*lock)->still_at_path().value());  // replaced by another inode
  CHECK((*other)->still_at_path().value());
}

namespace {

// Builds `count` ops spread over `files`, several per file with overlapping ranges so that
// order matters, and the expected final content of each file.
struct WritePlan {
  std::vector<std::string> payloads;
  std::vector<iovec> iovs;
  std::vector<WriteOp> ops;
  std::map<File*, std::string> expected;

  WritePlan(std::vector<std::unique_ptr<File>>& files, std::size_t count) {
    payloads.reserve(count);
    iovs.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
      File* file = files[i % files.size()].get();
      std::string& want = expected[file];
      std::uint64_t pos = (i * 37) % (want.size() + 1);  // overlaps what earlier ops wrote
      payloads.push_back(pattern_bytes(50 + i % 200, static_cast<unsigned>(i)));
      iovs.push_back(iov_of(payloads.back()));
      ops.push_back({file, FilePos(pos), {&iovs.back(), 1}, i % 3 == 0, {}});
      if (want.size() < pos + payloads.back().size()) want.resize(pos + payloads.back().size());
      want.replace(pos, payloads.back().size(), payloads.back());
    }
  }
};

}  // namespace

TEST_CASE_TEMPLATE("env: submit_writes keeps each file's ops in order", Maker, RINGLOG_EACH_ENV) {
  std::unique_ptr<Env> env = Maker::make();
  if (!env) return;
  TempDir dir;
  std::vector<std::unique_ptr<File>> files;
  for (int i = 0; i < 4; ++i)
    files.push_back(create(*env, dir / std::to_string(i)));
  for (std::size_t count : {1, 12, 700}) {  // 700 ops need more than one ring's worth of SQEs
    CAPTURE(count);
    WritePlan plan(files, count);
    env->submit_writes(plan.ops);
    for (WriteOp& op : plan.ops) {
      REQUIRE_MESSAGE(op.result.has_value(), op.result.error().to_string());
    }
    for (auto& [file, want] : plan.expected)
      CHECK(read_whole_file(file->path()) == want);
    for (auto& file : files)
      REQUIRE(file->truncate(0));
  }
}

TEST_CASE_TEMPLATE("env: a failed op in submit_writes leaves the other ops' results alone", Maker,
                   RINGLOG_EACH_ENV) {
  std::unique_ptr<Env> env = Maker::make();
  if (!env) return;
  TempDir dir;
  std::unique_ptr<File> good = create(*env, dir / "good");
  create(*env, dir / "ro");
  Result<std::unique_ptr<File>> read_only = env->open_file(dir / "ro", OpenMode::kReadOnly);
  REQUIRE(read_only);
  std::string a = "aaaa", b = "bbbb";
  iovec va = iov_of(a), vb = iov_of(b);
  WriteOp ops[] = {{good.get(), FilePos(0), {&va, 1}, false, {}},
                   {read_only->get(), FilePos(0), {&va, 1}, true, {}},
                   {good.get(), FilePos(4), {&vb, 1}, true, {}},
                   {read_only->get(), FilePos(4), {&vb, 1}, false, {}}};
  env->submit_writes(ops);
  CHECK(ops[0].result.has_value());
  REQUIRE_FALSE(ops[1].result);
  CHECK(ops[1].result.error().code() == Errc::kInvalidArgument);  // EBADF
  CHECK(ops[2].result.has_value());
  CHECK_FALSE(ops[3].result);
  CHECK(read_whole_file(dir / "good") == "aaaabbbb");
  CHECK(read_whole_file(dir / "ro").empty());
}

TEST_CASE_TEMPLATE("env: a write of more iovecs than IOV_MAX is written whole", Maker,
                   RINGLOG_EACH_ENV) {
  std::unique_ptr<Env> env = Maker::make();
  if (!env) return;
  TempDir dir;
  std::string bytes = pattern_bytes(3 * 3000, 1);
  std::vector<iovec> iovs;
  for (std::size_t i = 0; i < 3000; ++i)
    iovs.push_back({bytes.data() + 3 * i, 3});
  std::unique_ptr<File> a = create(*env, dir / "a");
  std::unique_ptr<File> b = create(*env, dir / "b");
  REQUIRE(a->write_at(FilePos(0), iovs));
  WriteOp ops[] = {{b.get(), FilePos(0), iovs, true, {}},
                   {b.get(), FilePos(1), {&iovs[0], 1}, true, {}}};
  env->submit_writes(ops);
  REQUIRE(ops[0].result);
  REQUIRE(ops[1].result);
  CHECK(read_whole_file(dir / "a") == bytes);
  CHECK(read_whole_file(dir / "b") == bytes.substr(0, 1) + bytes.substr(0, 3) + bytes.substr(4));
}

namespace {

// Lowers RLIMIT_FSIZE for the scope: a write crossing the limit is cut short by the kernel (a
// real short write), and the next one fails with EFBIG.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    old_handler_ = ::signal(SIGXFSZ, SIG_IGN);
    REQUIRE(::getrlimit(RLIMIT_FSIZE, &old_) == 0);
    rlimit lowered = old_;
    lowered.rlim_cur = bytes;
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &lowered) == 0);
  }
  ~FileSizeLimit() {
    ::setrlimit(RLIMIT_FSIZE, &old_);
    ::signal(SIGXFSZ, old_handler_);
  }

 private:
  rlimit old_{};
  sighandler_t old_handler_;
};

}  // namespace

TEST_CASE_TEMPLATE("env: a short write is continued and never reported as success", Maker,
                   RINGLOG_EACH_ENV) {
  std::unique_ptr<Env> env = Maker::make();
  if (!env) return;
  TempDir dir;
  std::unique_ptr<File> file = create(*env, dir / "big");
  std::string data = pattern_bytes(1500, 3);
  iovec v = iov_of(data);
  FileSizeLimit limit(1000);
  SUBCASE("through write_at") {
    Status status = file->write_at(FilePos(0), {&v, 1});
    REQUIRE_FALSE(status);
    CHECK(status.error().code() == Errc::kTooLarge);  // the remainder met EFBIG
  }
  SUBCASE("through submit_writes") {
    WriteOp op{file.get(), FilePos(0), {&v, 1}, true, {}};
    env->submit_writes({&op, 1});
    REQUIRE_FALSE(op.result);
    CHECK(op.result.error().code() == Errc::kTooLarge);
  }
  CHECK(read_whole_file(dir / "big") == data.substr(0, 1000));
}

}  // namespace ringlog
