// The recovery checkpoint guards against lost files (issue 15, findings 5 and 6): a partition
// whose files hold less than what it handed out, or that has a hole between segment files, is
// damaged and reported; its lost offsets answer kDataLoss, never kOutOfRange; its high watermark
// stays where it was, and it refuses appends, so no acknowledged offset is ever handed out again.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <thread>

#include "engine/file_layout.h"
#include "engine_test_util.h"
#include "io/log.h"

namespace ringlog::test {
namespace {

namespace fs = std::filesystem;

// Quiet: these tests make recovery log errors on purpose.
struct Quiet {
  LogLevel saved = log_level();
  Quiet() { set_log_level(LogLevel::kOff); }
  ~Quiet() { set_log_level(saved); }
};

struct LostFilesFixture : EngineFixture {
  // 60 batches of one 200-byte record each over 4 KiB segments: about 19 per segment.
  std::int64_t fill(int batches = 60) {
    Engine& e = engine ? *engine : open();
    for (int i = 0; i < batches; ++i)
      REQUIRE(e.append("t", 0, make_batch("m" + std::to_string(i), 1, 1000, 200)));
    return e.offsets("t", 0)->second;
  }
  std::vector<std::int64_t> segment_bases() const {
    std::vector<std::int64_t> bases;
    for (const auto& entry : fs::directory_iterator(partition_dir("t"))) {
      if (auto found = parse_segment_file_name(entry.path().filename().string(), kLogSuffix))
        bases.push_back(*found);
    }
    std::sort(bases.begin(), bases.end());
    return bases;
  }
  void remove_segment(std::int64_t first) {
    for (std::string_view suffix : {kLogSuffix, kIndexSuffix, kTimeIndexSuffix})
      fs::remove(partition_dir("t") + "/" + segment_file_name(first, suffix));
  }
  PartitionInfo info() { return engine->describe_topic("t")->partitions.at(0); }
  Errc fetch_error(std::int64_t offset) {
    auto r = engine->fetch("t", 0, offset, 1 << 20);
    REQUIRE_FALSE(r.has_value());
    return r.error().code();
  }
  void check_appends_refused() {
    auto r = engine->append("t", 0, make_batch("late"));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code() == Errc::kCorruption);
  }
};

}  // namespace

TEST_CASE_FIXTURE(LostFilesFixture,
                  "lost files: a missing sealed segment is a hole that answers kDataLoss while "
                  "the data around it is served") {
  Quiet quiet;
  const std::int64_t end = fill();
  REQUIRE(engine->close());
  engine.reset();
  const auto bases = segment_bases();
  REQUIRE(bases.size() >= 4);
  remove_segment(bases[1]);
  open();
  const PartitionInfo p = info();
  REQUIRE(p.corruption.has_value());
  CHECK(p.corruption->find("are lost") != std::string::npos);
  REQUIRE(p.lost.size() == 1);
  CHECK(p.lost[0] == std::pair<std::int64_t, std::int64_t>{bases[1], bases[2]});
  CHECK(p.high_watermark == end);
  CHECK(fetch_error(bases[1]) == Errc::kDataLoss);
  CHECK(fetch_error(bases[2] - 1) == Errc::kDataLoss);
  CHECK(engine->fetch("t", 0, 0, 1 << 20).has_value());
  CHECK(engine->fetch("t", 0, bases[2], 1 << 20).has_value());
  CHECK(engine->fetch("t", 0, end - 1, 1 << 20).has_value());
  check_appends_refused();
  CHECK(engine->stats()->corrupt_partitions == 1);
  CHECK_FALSE(engine->stats()->damage.empty());
  SUBCASE("and it is still reported after another restart") {
    reopen();
    CHECK(info().lost == p.lost);
    CHECK(fetch_error(bases[1]) == Errc::kDataLoss);
  }
}

TEST_CASE_FIXTURE(LostFilesFixture,
                  "lost files: a missing active segment after a clean stop keeps the high "
                  "watermark and refuses appends") {
  Quiet quiet;
  const std::int64_t end = fill();
  REQUIRE(engine->close());
  engine.reset();
  const auto bases = segment_bases();
  remove_segment(bases.back());
  open();
  const PartitionInfo p = info();
  REQUIRE(p.corruption.has_value());
  REQUIRE(p.lost.size() == 1);
  CHECK(p.lost[0] == std::pair<std::int64_t, std::int64_t>{bases.back(), end});
  CHECK(p.high_watermark == end);
  CHECK(fetch_error(bases.back()) == Errc::kDataLoss);
  CHECK(fetch_error(end - 1) == Errc::kDataLoss);
  CHECK(engine->fetch("t", 0, bases.back() - 1, 1 << 20).has_value());
  check_appends_refused();
  reopen();
  CHECK(info().high_watermark == end);
  check_appends_refused();
}

TEST_CASE_FIXTURE(LostFilesFixture,
                  "lost files: an active segment cut after a process crash (same boot) is damage "
                  "even above the durable point") {
  Quiet quiet;
  options.durability = Durability{Durability::Mode::kInterval, 600'000};  // no sync meanwhile
  options.checkpoint_interval_ms = 20;
  open();
  const std::int64_t end = fill();
  // A checkpoint that saw every append (its high watermark is `end`, above its durable point):
  // the maintenance thread writes one within a tick after a change.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  REQUIRE(engine->stats()->checkpoints >= 1);
  static_cast<EngineImpl&>(*engine).crash_for_testing();  // the page cache survives
  engine.reset();
  const auto bases = segment_bases();
  fs::resize_file(partition_dir("t") + "/" + segment_file_name(bases.back(), kLogSuffix), 0);
  open();
  const PartitionInfo p = info();
  REQUIRE(p.corruption.has_value());
  CHECK(p.high_watermark == end);
  REQUIRE(p.lost.size() == 1);
  CHECK(p.lost[0] == std::pair<std::int64_t, std::int64_t>{bases.back(), end});
  CHECK(fetch_error(end - 1) == Errc::kDataLoss);
  check_appends_refused();
}

TEST_CASE_FIXTURE(LostFilesFixture,
                  "lost files: after a machine crash an interval partition may lose its unsynced "
                  "tail without being damaged") {
  options.durability = Durability{Durability::Mode::kInterval, 60'000};
  open();
  fill(5);
  REQUIRE(engine->sync());
  REQUIRE(engine->close());  // a checkpoint at 5, durable
  engine.reset();
  open();
  const std::int64_t end = fill(10);  // 10 more, acknowledged, not synced
  REQUIRE(end == 15);
  Engine& e = crash_and_reopen();  // a power loss: a new boot, the unsynced tail gone
  const PartitionInfo p = e.describe_topic("t")->partitions.at(0);
  CHECK_FALSE(p.corruption.has_value());
  CHECK(p.lost.empty());
  CHECK(p.high_watermark >= 5);
  CHECK(p.high_watermark <= end);
  CHECK(e.append("t", 0, make_batch("after")).has_value());
}

TEST_CASE_FIXTURE(LostFilesFixture,
                  "lost files: a missing partition directory is made anew at the offset it had "
                  "reached, damaged") {
  Quiet quiet;
  const std::int64_t end = fill();
  REQUIRE(engine->close());
  engine.reset();
  fs::remove_all(partition_dir("t"));
  open();
  const PartitionInfo p = info();
  REQUIRE(p.corruption.has_value());
  CHECK(p.log_start == 0);
  CHECK(p.high_watermark == end);
  REQUIRE(p.lost.size() == 1);
  CHECK(p.lost[0] == std::pair<std::int64_t, std::int64_t>{0, end});
  CHECK(fetch_error(0) == Errc::kDataLoss);
  CHECK(fs::exists(partition_dir("t") + "/" + segment_file_name(end, kLogSuffix)));
  check_appends_refused();
  reopen();
  CHECK(info().high_watermark == end);
  CHECK(fetch_error(end - 1) == Errc::kDataLoss);
}

TEST_CASE_FIXTURE(LostFilesFixture,
                  "lost files: a missing oldest segment is damage, since retention records the "
                  "log start first") {
  Quiet quiet;
  const std::int64_t end = fill();
  REQUIRE(engine->close());
  engine.reset();
  const auto bases = segment_bases();
  remove_segment(bases.front());
  open();
  const PartitionInfo p = info();
  REQUIRE(p.corruption.has_value());
  CHECK(p.log_start == 0);
  CHECK(p.high_watermark == end);
  REQUIRE(p.lost.size() == 1);
  CHECK(p.lost[0] == std::pair<std::int64_t, std::int64_t>{0, bases[1]});
  CHECK(fetch_error(0) == Errc::kDataLoss);
  CHECK(engine->fetch("t", 0, bases[1], 1 << 20).has_value());
}

TEST_CASE_FIXTURE(LostFilesFixture,
                  "lost files: segments retention expired but had no time to delete are removed "
                  "on recovery, without damage") {
  options.retention_bytes = 8192;
  const std::int64_t end = fill(120);
  const auto before = segment_bases();
  REQUIRE(before.size() >= 5);
  // Keep copies of what retention will delete, to put back as a crash before the delete would.
  const fs::path keep = dir / "kept";
  fs::create_directories(keep);
  for (const auto& entry : fs::directory_iterator(partition_dir("t")))
    fs::copy_file(entry.path(), keep / entry.path().filename());
  REQUIRE(engine->enforce_retention());
  const auto after = segment_bases();
  REQUIRE(after.front() > before.front());
  static_cast<EngineImpl&>(*engine).crash_for_testing();
  engine.reset();
  for (const auto& entry : fs::directory_iterator(keep)) {
    const fs::path target = fs::path(partition_dir("t")) / entry.path().filename();
    if (!fs::exists(target)) fs::copy_file(entry.path(), target);
  }
  REQUIRE(segment_bases() == before);
  open();
  const PartitionInfo p = info();
  CHECK_FALSE(p.corruption.has_value());
  CHECK(p.log_start == after.front());
  CHECK(p.high_watermark == end);
  CHECK(segment_bases() == after);
}

}  // namespace ringlog::test
