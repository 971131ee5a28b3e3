// Maintenance does work in proportion to what changed (docs/design.md, "Maintenance"): the
// checkpoint asks only the partitions written, synced, created or deleted since the last one,
// retention visits the partitions written since its last pass and those whose oldest segment
// falls due, and the syncer keeps only the partitions written within their interval.
#include <chrono>
#include <functional>
#include <thread>

#include "engine/checkpoint.h"
#include "engine/file_layout.h"
#include "engine_test_util.h"
#include "support/files.h"

namespace ringlog::test {
namespace {

// Polls `done` every 5 ms for up to 10 s.
bool eventually(const std::function<bool()>& done) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return done();
}

Durability interval(std::uint32_t ms) {
  return Durability{Durability::Mode::kInterval, ms};
}

Checkpoint read_checkpoint(const EngineFixture& f) {
  std::string text =
      testing::read_file(f.options.data_dir + "/" + std::string(kCheckpointFileName));
  if (text.empty()) return {};  // none written yet
  auto decoded = decode_checkpoint(std::as_bytes(std::span(text.data(), text.size())));
  REQUIRE(decoded.has_value());
  return decoded->points;
}

std::int64_t checkpointed_hw(const EngineFixture& f, const std::string& topic, int partition) {
  Checkpoint points = read_checkpoint(f);
  auto it = points.find({topic, partition});
  return it == points.end() ? -2 : it->second.high_watermark;
}

}  // namespace

TEST_CASE("checkpoint: a write to one partition of many reaches the next periodic checkpoint") {
  EngineFixture f;
  f.options.checkpoint_interval_ms = 10;
  Engine& e = f.open();
  for (int t = 0; t < 20; ++t)
    REQUIRE(e.create_topic("t" + std::to_string(t), with_partitions(5)));
  REQUIRE(eventually([&] { return read_checkpoint(f).size() == 100; }));
  for (int i = 0; i < 3; ++i)
    REQUIRE(e.append("t7", 3, make_batch("x")));
  CHECK(eventually([&] { return checkpointed_hw(f, "t7", 3) == 3; }));
  CHECK(checkpointed_hw(f, "t7", 2) == 0);
  CHECK(checkpointed_hw(f, "t8", 3) == 0);

  // Written later: the checkpoint follows again.
  REQUIRE(e.append("t19", 4, make_batch("y")));
  CHECK(eventually([&] { return checkpointed_hw(f, "t19", 4) == 1; }));
  CHECK(checkpointed_hw(f, "t7", 3) == 3);
}

TEST_CASE("checkpoint: an interval sync moves the checkpointed durable point without a write") {
  EngineFixture f;
  f.options.checkpoint_interval_ms = 10;
  Engine& e = f.open();
  REQUIRE(e.create_topic("lazy", with_partitions(3, interval(50))));
  REQUIRE(e.append("lazy", 1, make_batch("x", 4)));
  auto durable_in_checkpoint = [&] {
    Checkpoint points = read_checkpoint(f);
    auto it = points.find({"lazy", 1});
    return it != points.end() && it->second.offset == 4;
  };
  CHECK(eventually(durable_in_checkpoint));
  auto info = e.describe_topic("lazy");
  REQUIRE(info.has_value());
  CHECK(info->partitions[1].durable == 4);
}

TEST_CASE("checkpoint: a deleted topic leaves it, and a new topic of that name starts clean") {
  EngineFixture f;
  f.options.checkpoint_interval_ms = 10;
  Engine& e = f.open();
  REQUIRE(e.create_topic("gone", with_partitions(2)));
  REQUIRE(e.create_topic("kept", with_partitions(1)));
  REQUIRE(e.append("gone", 0, make_batch("x", 5)));
  REQUIRE(eventually([&] { return checkpointed_hw(f, "gone", 0) == 5; }));
  REQUIRE(e.delete_topic("gone"));
  CHECK(checkpointed_hw(f, "gone", 0) == -2);
  CHECK(checkpointed_hw(f, "gone", 1) == -2);
  CHECK(checkpointed_hw(f, "kept", 0) == 0);

  REQUIRE(e.create_topic("gone", with_partitions(2)));
  CHECK(eventually([&] { return checkpointed_hw(f, "gone", 0) == 0; }));
  Engine& again = f.crash_and_reopen();
  auto range = again.offsets("gone", 0);
  REQUIRE(range.has_value());
  CHECK(range->second == 0);
}

TEST_CASE("retention: an idle partition's oldest segment goes when it expires, with no new write") {
  EngineFixture f;
  f.options.retention_ms = 300;
  f.options.retention_check_interval_ms = 20;
  Engine& e = f.open();
  REQUIRE(e.create_topic("idle", with_partitions(1)));
  REQUIRE(e.create_topic("other", with_partitions(1)));
  // Several segments (4 KiB each), written now: nothing has expired yet.
  for (int i = 0; i < 40; ++i)
    REQUIRE(e.append("idle", 0, make_batch("x", 1, kTimestampNow, 400)));
  auto start = [&] { return e.offsets("idle", 0)->first; };
  REQUIRE(e.describe_topic("idle")->partitions[0].segments > 2);
  CHECK(start() == 0);
  // Only the other topic is written from now on: the schedule brings retention back to "idle".
  for (int i = 0; i < 10; ++i) {
    REQUIRE(e.append("other", 0, make_batch("y")));
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  CHECK(eventually([&] { return start() > 0; }));
  CHECK(eventually([&] { return e.describe_topic("idle")->partitions[0].segments == 1; }));
  CHECK(f.all_values("idle").size() < 40);
}

TEST_CASE("syncer: interval partitions written again after a pause are synced again") {
  EngineFixture f;
  Engine& e = f.open();
  REQUIRE(e.create_topic("lazy", with_partitions(4, interval(20))));
  auto durable = [&](int p) { return e.describe_topic("lazy")->partitions[p].durable; };
  for (int round = 1; round <= 3; ++round) {
    for (int p = 0; p < 4; ++p)
      REQUIRE(e.append("lazy", p, make_batch("x", p + 1)));
    for (int p = 0; p < 4; ++p)
      CHECK(eventually([&] { return durable(p) == round * (p + 1); }));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // past the interval: forgotten
  }
  std::uint64_t syncs = e.stats()->syncs;
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK(e.stats()->syncs == syncs);  // nothing written, nothing synced
}

}  // namespace ringlog::test
