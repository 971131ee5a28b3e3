// A full disk over real sockets (issue 7, item 5): producers get 507, the server keeps serving
// reads, nothing acknowledged is lost, and appends work again once space returns. Twice: through
// the fault-injecting file seam (everywhere), and on a real 8 MiB tmpfs (where mount works).
#include <doctest/doctest.h>
#include <sys/mount.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <thread>

#include "io/env.h"
#include "io/fault_env.h"
#include "tests/reliability/reliability_support.h"

namespace ringlog::reliability {
namespace {

using namespace std::chrono_literals;

// A producer that fills a partition and remembers what was acknowledged.
class Filler {
 public:
  explicit Filler(const std::string& address) {
    auto client = protocol::Client::connect({.address = address, .io_timeout_ms = 10000});
    REQUIRE(client);
    client_ = std::move(*client);
  }

  // Puts `value_bytes` messages until one is refused; returns the refusal's status code.
  std::optional<protocol::StatusCode> fill_until_refused(std::size_t value_bytes, int max_puts) {
    for (int i = 0; i < max_puts; ++i) {
      std::string value =
          "fill-" + std::to_string(acked_.size()) + "-" + std::string(value_bytes, 'f');
      auto offset = client_->put("fill", 0, bytes_of(value));
      if (!offset) {
        last_error_ = offset.error().to_string();
        return protocol::server_status(offset.error());
      }
      acked_.emplace(*offset, std::move(value));
    }
    return std::nullopt;
  }

  // Puts one message, retrying for up to `patience` while the server says the disk is full.
  bool put_eventually(std::chrono::milliseconds patience) {
    const auto until = std::chrono::steady_clock::now() + patience;
    do {
      std::string value = "after-" + std::to_string(acked_.size());
      auto offset = client_->put("fill", 0, bytes_of(value));
      if (offset) {
        acked_.emplace(*offset, std::move(value));
        return true;
      }
      last_error_ = offset.error().to_string();
      std::this_thread::sleep_for(50ms);
    } while (std::chrono::steady_clock::now() < until);
    return false;
  }

  // Every acknowledged message reads back intact.
  void check() {
    for (const auto& [offset, value] : acked_) {
      auto reply = client_->get("fill", 0, offset, 1);
      REQUIRE_MESSAGE(reply, (reply ? "" : reply.error().to_string()));
      REQUIRE(!reply->messages.empty());
      CHECK(reply->messages.front().offset == offset);
      CHECK(reply->messages.front().value == value);
    }
  }

  std::size_t acked() const { return acked_.size(); }
  const std::string& last_error() const { return last_error_; }

 private:
  std::unique_ptr<protocol::Client> client_;
  std::map<std::int64_t, std::string> acked_;
  std::string last_error_;
};

TEST_CASE("disk full: producers get 507, reads go on, appends resume when space returns") {
  const std::uint64_t seed = std::random_device{}();
  CAPTURE(seed);
  std::unique_ptr<Env> base = make_posix_env();
  FaultInjectionEnv env(*base, seed);
  EngineOptions engine;
  engine.env = &env;
  engine.segment_bytes = 256 << 10;
  SUBCASE("segments grow as written") {
    engine.preallocation = Preallocation::kNone;
  }
  SUBCASE("segments preallocated") {
    engine.preallocation = Preallocation::kFallocate;
  }
  InProcessServer server({}, engine);
  Ledger ledger(server.address());
  ledger.produce(20);

  env.set_space_limit(env.used_bytes() + (600 << 10));
  Filler filler(server.address());
  auto refused = filler.fill_until_refused(4000, 2000);
  REQUIRE_MESSAGE(refused.has_value(), "the disk never filled up");
  CAPTURE(filler.last_error());
  CHECK(*refused == protocol::StatusCode::kDiskFull);
  CHECK(filler.acked() > 10);

  // Still full: a second producer is refused too, while reads and other commands work.
  Filler second(server.address());
  CHECK(second.fill_until_refused(4000, 50) == protocol::StatusCode::kDiskFull);
  CHECK(server_answers(server.address()));
  ledger.check();
  filler.check();

  env.clear_space_limit();
  CHECK_MESSAGE(filler.put_eventually(5s), filler.last_error());
  ledger.produce(5);
  ledger.check();
  filler.check();
  CHECK(server.running());
}

// Mounts a tmpfs of `bytes` at `path` for the lifetime of the object, if the system allows.
class SmallTmpfs {
 public:
  SmallTmpfs(const std::string& path, std::size_t bytes) : path_(path) {
    std::filesystem::create_directories(path);
    const std::string options = "size=" + std::to_string(bytes);
    mounted_ = ::mount("tmpfs", path.c_str(), "tmpfs", 0, options.c_str()) == 0;
  }
  ~SmallTmpfs() {
    if (mounted_) ::umount2(path_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }

 private:
  std::string path_;
  bool mounted_ = false;
};

TEST_CASE("disk full: on a real 8 MiB file system the server says 507 and recovers") {
  TempDir dir;
  SmallTmpfs tmpfs(dir.path() + "/small", 8 << 20);
  if (!tmpfs.mounted()) {
    MESSAGE("skipped: cannot mount a tmpfs here (needs root / CAP_SYS_ADMIN)");
    return;
  }
  // Ballast to delete later, giving space back the way an operator would.
  const std::string ballast = dir.path() + "/small/ballast";
  {
    std::ofstream out(ballast, std::ios::binary);
    const std::string chunk(1 << 20, 'b');
    for (int i = 0; i < 3; ++i)
      out << chunk;
  }
  std::optional<ServerSubprocess> server;
  server.emplace(dir.path() + "/small/data", std::vector<std::string>{"--segment-size", "1MiB"});
  Ledger ledger(server->address());
  ledger.produce(20);
  Filler filler(server->address());
  auto refused = filler.fill_until_refused(16000, 2000);
  REQUIRE_MESSAGE(refused.has_value(), "the disk never filled up");
  CAPTURE(filler.last_error());
  CHECK(*refused == protocol::StatusCode::kDiskFull);
  CHECK(server->running());
  ledger.check();
  filler.check();

  std::filesystem::remove(ballast);
  CHECK_MESSAGE(filler.put_eventually(5s), filler.last_error());
  ledger.produce(5);
  ledger.check();
  filler.check();
  CHECK(server->stop() == 0);

  // What the full disk left behind verifies clean.
  const std::string binary = ringlog_binary();
  const std::string command = binary + " verify " + dir.path() + "/small/data >/dev/null 2>&1";
  CHECK(std::system(command.c_str()) == 0);
}

}  // namespace
}  // namespace ringlog::reliability
