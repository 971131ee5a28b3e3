// Single ownership of a data directory: the directory lock and `@lock` (issue 15, finding 7).
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <filesystem>

#include "engine/file_layout.h"
#include "engine_test_util.h"
#include "tests/support/process.h"

namespace ringlog::test {

namespace {

std::string lock_path(const EngineFixture& f) {
  return f.options.data_dir + "/" + std::string(kLockFileName);
}

// Whether a flock on `path` (opened with `flags`) is refused: someone else holds it.
bool held_by_someone(const std::string& path, int flags) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return false;
  bool busy = ::flock(fd, LOCK_EX | LOCK_NB) != 0;
  ::close(fd);
  return busy;
}

}  // namespace

TEST_CASE("lock: a second open of a directory whose @lock was removed is still busy") {
  EngineFixture f;
  f.open();
  REQUIRE(std::filesystem::remove(lock_path(f)));
  auto second = Engine::open(f.options);
  REQUIRE_FALSE(second);
  CHECK(second.error().code() == Errc::kBusy);
  CHECK(second.error().message().find("in use") != std::string::npos);
  CHECK(held_by_someone(f.options.data_dir, O_RDONLY | O_DIRECTORY));
  // The refused open took nothing and changed nothing: the first engine still works.
  REQUIRE(f.engine->create_topic("t", {}));
  REQUIRE(f.engine->append("t", 0, make_batch("a")));
  REQUIRE(f.engine->close());
  CHECK(Engine::open(f.options).has_value());
}

TEST_CASE("lock: @lock holds the owner's pid and is re-created and re-locked when removed") {
  EngineFixture f;
  f.open();
  const std::string pid = std::to_string(::getpid()) + "\n";
  CHECK(ringlog::testing::read_file(lock_path(f)) == pid);
  CHECK(held_by_someone(lock_path(f), O_RDONLY));
  QuietLog quiet;  // the engine logs an ERROR when it finds @lock gone
  REQUIRE(std::filesystem::remove(lock_path(f)));
  CHECK(ringlog::testing::wait_until(std::chrono::seconds(10),
                                     [&] { return held_by_someone(lock_path(f), O_RDONLY); }));
  CHECK(ringlog::testing::read_file(lock_path(f)) == pid);
}

TEST_CASE("lock: a replaced @lock is re-locked, so older binaries see the directory in use") {
  EngineFixture f;
  f.open();
  QuietLog quiet;
  const std::string stray = lock_path(f) + ".new";
  ringlog::testing::write_file(stray, "");
  std::filesystem::rename(stray, lock_path(f));  // another inode under the name, unlocked
  CHECK(ringlog::testing::wait_until(std::chrono::seconds(10),
                                     [&] { return held_by_someone(lock_path(f), O_RDONLY); }));
}

TEST_CASE("lock: the directory lock is released by close, so the directory can be reopened") {
  EngineFixture f;
  f.open();
  CHECK(held_by_someone(f.options.data_dir, O_RDONLY | O_DIRECTORY));
  REQUIRE(f.engine->close());
  CHECK_FALSE(held_by_someone(f.options.data_dir, O_RDONLY | O_DIRECTORY));
  CHECK_FALSE(held_by_someone(lock_path(f), O_RDONLY));
}

}  // namespace ringlog::test
