// Issue 16, point 3: the disk-space guard on a real small file system. A tmpfs of a few MiB is
// mounted for each test (root only: without root, or if the mount fails, the test fails unless
// RINGLOG_SKIP_MOUNT_TESTS=1), `ringlog serve` runs on it with a small --min-free-space, and the
// test fills it through the line protocol and through Kafka Produce: appends are refused (507 /
// KAFKA_STORAGE_ERROR) before the file system is full, reads, offsets and commits keep working,
// and appends resume without a restart once a topic is deleted. Every acknowledged message reads
// back byte for byte.
#include <doctest/doctest.h>

#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/hardening/hardening_support.h"
#include "tests/kafka/kafka_server_support.h"

namespace ringlog::hardening {
namespace {

constexpr std::uint64_t kMiB = 1 << 20;
constexpr std::size_t kValueBytes = 4000;

bool skip_mount_tests() {
  const char* skip = std::getenv("RINGLOG_SKIP_MOUNT_TESTS");
  return skip != nullptr && std::string(skip) == "1";
}

// A tmpfs of `size` mounted on `dir` (created) for the guard's lifetime; unmounted (lazily, so
// that a failed test cannot leave it behind) in every case.
class TmpfsMount {
 public:
  TmpfsMount(std::string dir, const std::string& size) : dir_(std::move(dir)) {
    std::filesystem::create_directories(dir_);
    const std::string data = "size=" + size + ",mode=0700";
    if (::mount("tmpfs", dir_.c_str(), "tmpfs", 0, data.c_str()) == 0) {
      mounted_ = true;
      return;
    }
    why_not_ = "mount -t tmpfs -o " + data + " tmpfs " + dir_ + ": " + std::strerror(errno) +
               (::geteuid() == 0 ? "" : " (the disk-space tests need root)");
  }
  ~TmpfsMount() {
    if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
  }
  TmpfsMount(const TmpfsMount&) = delete;
  TmpfsMount& operator=(const TmpfsMount&) = delete;

  bool mounted() const { return mounted_; }
  const std::string& why_not() const { return why_not_; }
  const std::string& path() const { return dir_; }

 private:
  std::string dir_;
  bool mounted_ = false;
  std::string why_not_;
};

// True when the test may go on; otherwise it failed (or was skipped on request) with the reason.
bool require_mount(const TmpfsMount& fs) {
  if (fs.mounted()) return true;
  if (skip_mount_tests()) {
    MESSAGE("skipped (RINGLOG_SKIP_MOUNT_TESTS=1): " << fs.why_not());
    return false;
  }
  FAIL(fs.why_not() << "; set RINGLOG_SKIP_MOUNT_TESTS=1 to skip");
  return false;
}

std::uint64_t free_bytes(const std::string& path) {
  struct statvfs st {};
  REQUIRE(::statvfs(path.c_str(), &st) == 0);
  return static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
}

// A distinct value per index, kValueBytes long, so that any mix-up or damage shows.
std::string value_for(const std::string& tag, std::size_t i) {
  std::string v = tag + "-" + std::to_string(i) + ":";
  v.reserve(kValueBytes);
  while (v.size() < kValueBytes)
    v.push_back(static_cast<char>('a' + (i * 7 + v.size()) % 26));
  return v;
}

// One line-protocol connection with the verbs of these tests.
class LineClient {
 public:
  explicit LineClient(const std::string& address) : conn_(address) {}

  std::string put(const std::string& topic, const std::string& value) {
    conn_.send("put " + topic + " 0 " + std::to_string(value.size()) + "\r\n" + value + "\r\n");
    return conn_.line();
  }
  std::string call(const std::string& command) {
    conn_.send(command + "\r\n");
    return conn_.line();
  }
  // Every value of partition 0 of `topic` from offset 0, through `get`.
  std::vector<std::string> values(const std::string& topic) {
    std::vector<std::string> out;
    std::int64_t next = 0;
    while (true) {
      conn_.send("get " + topic + " 0 " + std::to_string(next) + " 1048576\r\n");
      std::size_t before = out.size();
      while (true) {
        const std::string head = conn_.line();
        if (head.starts_with("end ")) {
          next = std::stoll(head.substr(4));
          break;
        }
        REQUIRE_MESSAGE(head.starts_with("msg "), head);
        // msg <offset> <timestamp_ms> <length> [key...]
        std::istringstream fields(head.substr(4));
        std::int64_t offset = 0, timestamp = 0;
        std::size_t length = 0;
        fields >> offset >> timestamp >> length;
        std::string body = conn_.bytes(length + 2);
        REQUIRE(body.size() == length + 2);
        out.push_back(body.substr(0, length));
      }
      if (out.size() == before) return out;
    }
  }

 private:
  RawConnection conn_;
};

std::int16_t produce_code(kafka::test::KafkaConnection& kafka, const std::string& topic,
                          const std::vector<std::string>& values) {
  const auto response = kafka.call<kafka::ProduceResponse>(
      kafka::test::produce_request(topic, kafka::test::batch_of(values)), 7);
  return response.responses.at(0).partitions.at(0).error_code;
}

std::vector<std::string> kafka_values(kafka::test::KafkaConnection& kafka,
                                      const std::string& topic) {
  std::vector<std::string> out;
  while (true) {
    const auto fetched = kafka.call<kafka::FetchResponse>(
        kafka::test::fetch_request(topic, static_cast<std::int64_t>(out.size())), 11);
    const auto& partition = fetched.responses.at(0).partitions.at(0);
    REQUIRE(partition.error_code == kafka::error::kNone);
    auto values =
        kafka::test::values_in(partition.records.bytes, static_cast<std::int64_t>(out.size()));
    if (values.empty()) return out;
    out.insert(out.end(), values.begin(), values.end());
  }
}

std::size_t count_of(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
    ++n;
  return n;
}

// The serve flags of these tests: small segments (64 KiB, each preallocated) on an 8 MiB tmpfs.
std::vector<std::string> small_fs_args(const std::string& reserve) {
  return {"--min-free-space", reserve, "--segment-size", "64KiB"};
}

}  // namespace

TEST_CASE(
    "disk space: line puts are refused with 507 before the file system is full, and resume "
    "when a topic is deleted") {
  TempDir dir;
  TmpfsMount fs(dir.path() + "/fs", "8m");
  if (!require_mount(fs)) return;
  Served served(fs.path(), small_fs_args("3MiB"));
  LineClient line(served.line_address());
  std::vector<std::string> spare, kept;
  for (std::size_t i = 0; spare.size() * kValueBytes < 3 * kMiB; ++i) {
    const std::string v = value_for("spare", i);
    REQUIRE(line.put("spare", v).starts_with("ok "));
    spare.push_back(v);
  }
  std::string refusal;
  for (std::size_t i = 0; i < 3000; ++i) {
    const std::string v = value_for("kept", i);
    const std::string reply = line.put("kept", v);
    if (!reply.starts_with("ok ")) {
      refusal = reply;
      break;
    }
    kept.push_back(v);
  }
  CAPTURE(refusal);
  REQUIRE(refusal.starts_with("error 507 "));
  CHECK(refusal.find("disk space low") != std::string::npos);
  CHECK(refusal.find("below the reserve of 3 MiB") != std::string::npos);
  CHECK(refusal.find(fs.path()) != std::string::npos);
  CHECK(free_bytes(fs.path()) > kMiB);  // refused well before the file system is full
  CHECK(kept.size() > 10);
  // Still refused (and no topic created) while low; reads, offsets and commits work.
  CHECK(line.put("kept", "x").starts_with("error 507 "));
  CHECK(line.call("create fresh 1").starts_with("error 507 "));
  CHECK(line.put("fresh", "x").starts_with("error 507 "));
  CHECK_FALSE(std::filesystem::exists(fs.path() + "/fresh"));
  CHECK(line.call("offsets kept 0") == "offsets 0 " + std::to_string(kept.size()));
  CHECK(line.call("commit g kept 0 7") == "ok");
  CHECK(line.call("committed g kept 0") == "offset 7");
  const std::string stats = line_listing(served.line_address(), "stats");
  CHECK(stats.find("stat appends_refused_for_space 1") != std::string::npos);
  CHECK(stats.find("stat min_free_space_bytes 3145728") != std::string::npos);
  CHECK(line.values("kept") == kept);
  const std::string log = served.log();
  CHECK(count_of(log, "disk space getting low") == 1);
  CHECK(count_of(log, "refusing appends") == 1);
  // Space returns: appends resume by themselves.
  REQUIRE(line.call("delete spare") == "ok");
  std::string resumed;
  CHECK(kafka::test::eventually([&] {
    resumed = line.put("kept", value_for("kept", kept.size()));
    return resumed.starts_with("ok ");
  }));
  CHECK(resumed == "ok " + std::to_string(kept.size()));
  kept.push_back(value_for("kept", kept.size()));
  CHECK(line.put("fresh", "new topic").starts_with("ok "));
  CHECK(line.values("kept") == kept);
  CHECK(served.stop() == 0);
  std::string report;
  CHECK_MESSAGE(run_verify(fs.path(), &report) == 0, report);
}

TEST_CASE(
    "disk space: Kafka Produce gets KAFKA_STORAGE_ERROR before the file system is full, "
    "fetches and commits work, and produce resumes when a topic is deleted") {
  TempDir dir;
  TmpfsMount fs(dir.path() + "/fs", "8m");
  if (!require_mount(fs)) return;
  Served served(fs.path(), small_fs_args("3MiB"));
  kafka::test::KafkaConnection kafka(served.kafka_address());
  std::vector<std::string> spare, kept;
  for (std::size_t i = 0; spare.size() * kValueBytes < 3 * kMiB; i += 4) {
    std::vector<std::string> values;
    for (std::size_t j = 0; j < 4; ++j)
      values.push_back(value_for("spare", i + j));
    REQUIRE(produce_code(kafka, "spare", values) == kafka::error::kNone);
    spare.insert(spare.end(), values.begin(), values.end());
  }
  std::int16_t refused = kafka::error::kNone;
  for (std::size_t i = 0; i < 3000; i += 4) {
    std::vector<std::string> values;
    for (std::size_t j = 0; j < 4; ++j)
      values.push_back(value_for("kept", i + j));
    refused = produce_code(kafka, "kept", values);
    if (refused != kafka::error::kNone) break;
    kept.insert(kept.end(), values.begin(), values.end());
  }
  REQUIRE(refused == kafka::error::kKafkaStorageError);
  CHECK(free_bytes(fs.path()) > kMiB);
  CHECK(kept.size() > 10);
  // Metadata's auto-creation is refused too, and makes nothing on disk.
  kafka::MetadataRequest metadata;
  metadata.topics = std::vector<std::string>{"fresh"};
  const auto described = kafka.call<kafka::MetadataResponse>(metadata, 4);
  CHECK(described.topics.at(0).error_code == kafka::error::kKafkaStorageError);
  CHECK_FALSE(std::filesystem::exists(fs.path() + "/fresh"));
  kafka::OffsetCommitRequest commit;
  commit.group_id = "g";
  commit.topics = {{"kept", {{0, 5, -1, -1, std::string("m")}}}};
  CHECK(
      kafka.call<kafka::OffsetCommitResponse>(commit, 2).topics.at(0).partitions.at(0).error_code ==
      kafka::error::kNone);
  CHECK(line_reply(served.line_address(), "committed g kept 0") == "offset 5");
  CHECK(kafka_values(kafka, "kept") == kept);
  REQUIRE(line_reply(served.line_address(), "delete spare") == "ok");
  const std::vector<std::string> more{value_for("kept", 100000)};
  CHECK(kafka::test::eventually(
      [&] { return produce_code(kafka, "kept", more) == kafka::error::kNone; }));
  kept.push_back(more.front());
  CHECK(kafka_values(kafka, "kept") == kept);
  CHECK(served.stop() == 0);
}

TEST_CASE(
    "disk space: without a reserve a real ENOSPC fails the appends it hits only, never takes "
    "the partition out of service, and loses nothing acknowledged") {
  TempDir dir;
  TmpfsMount fs(dir.path() + "/fs", "8m");
  if (!require_mount(fs)) return;
  // A ballast file beside the data directory is what the test frees: on a file system full to
  // the last page, even delete_topic may fail (it writes the recovery checkpoint first), which
  // is why the reserve is on by default.
  const std::string ballast = fs.path() + "/ballast";
  {
    std::ofstream out(ballast, std::ios::binary);
    const std::string mib(kMiB, 'b');
    out << mib << mib;
    REQUIRE(out.good());
  }
  const std::string data = fs.path() + "/data";
  Served served(data, small_fs_args("0"));
  LineClient line(served.line_address());
  std::vector<std::string> kept;
  std::string refusal;
  for (std::size_t i = 0; i < 4000; ++i) {
    const std::string v = value_for("kept", i);
    const std::string reply = line.put("kept", v);
    if (!reply.starts_with("ok ")) {
      refusal = reply;
      break;
    }
    kept.push_back(v);
  }
  CAPTURE(refusal);
  REQUIRE(refusal.starts_with("error 507 "));
  CHECK(refusal.find("disk space low") == std::string::npos);  // the kernel's ENOSPC
  CHECK(kept.size() > 100);
  const std::string stats = line_listing(served.line_address(), "stats kept");
  CHECK(stats.find("write_failure") == std::string::npos);
  CHECK(line.values("kept") == kept);
  std::filesystem::remove(ballast);
  const std::string next = value_for("kept", kept.size());
  CHECK(line.put("kept", next) == "ok " + std::to_string(kept.size()));
  kept.push_back(next);
  CHECK(line.values("kept") == kept);
  CHECK(served.stop() == 0);
  std::string report;
  CHECK_MESSAGE(run_verify(data, &report) == 0, report);
}

}  // namespace ringlog::hardening
