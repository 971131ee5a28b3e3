// The write path under a slow device: interval syncs off the writer thread, append
// backpressure, and removing the visibility listener while it runs.
#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "engine_test_util.h"
#include "gated_env.h"

namespace ringlog::test {

namespace {

// An EngineFixture whose engine runs over a GatedEnv (over the fixture's FaultInjectionEnv).
// The gates are opened, and the engine closed, before the GatedEnv goes away.
struct GatedFixture : EngineFixture {
  GatedFixture() { options.env = &gated; }
  ~GatedFixture() {
    gated.hold_syncs(false);
    gated.hold_writes(false);
    engine.reset();
  }
  GatedEnv gated{fault};
};

template <typename Pred>
bool eventually(Pred done, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// Counts the outcomes of append_async calls.
struct Outcomes {
  std::atomic<int> ok{0}, busy{0}, other{0};
  Engine::AppendCallback callback() {
    return [this](Result<AppendResult> r) {
      if (r)
        ok++;
      else if (r.error().code() == Errc::kBusy)
        busy++;
      else
        other++;
    };
  }
};

PartitionInfo partition_info(Engine& e) {
  auto info = e.describe_topic("t");
  REQUIRE(info);
  return info->partitions[0];
}

}  // namespace

TEST_CASE("durability: interval appends are written and acknowledged while a sync is in flight") {
  GatedFixture f;
  f.options.durability = Durability{Durability::Mode::kInterval, 1};
  Engine& e = f.open();
  REQUIRE(e.create_topic("t", TopicConfig{}));
  f.gated.hold_syncs(true);
  Outcomes outcomes;
  e.append_async("t", 0, make_batch("first"), outcomes.callback());
  const bool sync_started = f.gated.wait_held_syncs(1);  // the interval sync of "first"
  const int kMore = 20;
  for (int i = 0; i < kMore; ++i)
    e.append_async("t", 0, make_batch("m" + std::to_string(i)), outcomes.callback());
  const bool all_acked = eventually([&] { return outcomes.ok.load() == 1 + kMore; });
  const PartitionInfo during = partition_info(e);
  f.gated.hold_syncs(false);
  CHECK(sync_started);
  CHECK(all_acked);  // no acknowledgement waited for the held sync
  CHECK(outcomes.other.load() == 0);
  CHECK(during.high_watermark == 1 + kMore);
  CHECK(during.durable == 0);  // ... and nothing counts as durable before a sync completes
  // Once syncs complete, the durable offset catches up (the next interval sync covers the rest).
  CHECK(eventually([&] { return partition_info(e).durable == 1 + kMore; }));
  REQUIRE(e.append("t", 0, make_batch("last")));
  REQUIRE(e.sync());
  CHECK(partition_info(e).durable == 2 + kMore);
}

TEST_CASE("durability: sync() waits for a sync in flight and covers every acknowledged append") {
  GatedFixture f;
  f.options.durability = Durability{Durability::Mode::kNever, 0};
  Engine& e = f.open();
  REQUIRE(e.create_topic("t", TopicConfig{}));
  REQUIRE(e.append("t", 0, make_batch("a", 3)));
  f.gated.hold_syncs(true);
  std::atomic<bool> synced{false};
  std::thread syncer([&] {
    CHECK(e.sync());
    synced = true;
  });
  const bool held = f.gated.wait_held_syncs(1);
  const bool synced_while_held = synced.load();
  f.gated.hold_syncs(false);
  syncer.join();
  CHECK(held);
  CHECK_FALSE(synced_while_held);
  CHECK(partition_info(e).durable == 3);
  REQUIRE(e.append("t", 0, make_batch("b", 1)));
  f.crash_and_reopen();  // "b" was never synced: lost; "a" survives
  CHECK(f.all_values("t") == std::vector<std::string>{"a-0", "a-1", "a-2"});
}

TEST_CASE(
    "backpressure: beyond max_pending_bytes append_async is refused with kBusy and append "
    "waits for room") {
  GatedFixture f;
  f.options.segment_bytes = 1 << 20;
  f.options.max_pending_bytes = 8 * 1024;
  Engine& e = f.open();
  REQUIRE(e.create_topic("t", TopicConfig{}));
  const auto batch = make_batch("p", 1, kTimestampNow, 1000);
  f.gated.hold_writes(true);  // the writer blocks in its first write: nothing completes
  Outcomes outcomes;
  e.append_async("t", 0, batch, outcomes.callback());
  REQUIRE(f.gated.wait_held_writes(1));
  int calls = 1;
  while (outcomes.busy.load() == 0 && calls < 100) {
    e.append_async("t", 0, batch, outcomes.callback());
    ++calls;
  }
  // The refusal came at once, on this thread, with the queue at its bound.
  CHECK(outcomes.busy.load() == 1);
  CHECK(outcomes.ok.load() == 0);
  auto stats = e.stats();
  REQUIRE(stats);
  CHECK(stats->max_pending_bytes == 8 * 1024);
  CHECK(stats->pending_bytes <= 8 * 1024);
  CHECK(stats->pending_bytes + batch.size() > 8 * 1024);
  CHECK(stats->append_busy == 1);
  const int accepted = calls - 1;
  CHECK(accepted == static_cast<int>(stats->pending_bytes / batch.size()));
  // The blocking append waits for room instead of failing.
  std::atomic<bool> started{false};
  Result<AppendResult> blocking = fail(Errc::kIo, "not run");
  std::thread producer([&] {
    started = true;
    blocking = e.append("t", 0, batch);
  });
  REQUIRE(eventually([&] { return started.load(); }));
  f.gated.hold_writes(false);
  producer.join();
  REQUIRE(blocking);
  CHECK(blocking->first_offset == accepted);
  CHECK(eventually([&] { return outcomes.ok.load() == accepted; }));
  CHECK(outcomes.other.load() == 0);
  CHECK(partition_info(e).high_watermark == accepted + 1);  // the refused one was never stored
  CHECK(eventually([&] { return e.stats()->pending_bytes == 0; }));
}

TEST_CASE("backpressure: a request larger than max_pending_bytes still goes through alone") {
  EngineFixture f;
  f.options.segment_bytes = 1 << 20;
  f.options.max_pending_bytes = 100;
  Engine& e = f.open();
  auto r = e.append("t", 0, make_batch("big", 1, kTimestampNow, 1000));
  REQUIRE(r);
  CHECK(r->first_offset == 0);
  // Its acknowledgement freed the room: the next request is accepted at once.
  Outcomes outcomes;
  e.append_async("t", 0, make_batch("big", 1, kTimestampNow, 1000), outcomes.callback());
  CHECK(outcomes.busy.load() == 0);
  CHECK(eventually([&] { return outcomes.ok.load() == 1; }));
}

TEST_CASE("listener: removing it waits for a call in progress, and it is not called again") {
  EngineFixture f;
  Engine& e = f.open();
  REQUIRE(e.create_topic("t", TopicConfig{}));
  std::atomic<bool> entered{false}, release{false}, finished{false};
  std::atomic<int> calls{0};
  e.set_visibility_listener([&](std::string_view, std::int32_t, std::int64_t) {
    calls++;
    entered = true;
    while (!release.load())
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    finished = true;
  });
  Outcomes outcomes;
  e.append_async("t", 0, make_batch("a"), outcomes.callback());
  REQUIRE(eventually([&] { return entered.load(); }));
  std::atomic<bool> returned{false};
  bool finished_when_returned = false;
  std::thread remover([&] {
    e.set_visibility_listener(nullptr);
    finished_when_returned = finished.load();
    returned = true;
  });
  // While the listener is held, the removal must not return (a bounded look, not a sync point:
  // with the wait in place it cannot return here whatever the timing).
  const bool returned_early =
      eventually([&] { return returned.load(); }, std::chrono::milliseconds(200));
  release = true;
  remover.join();
  CHECK_FALSE(returned_early);
  CHECK(finished_when_returned);
  REQUIRE(e.append("t", 0, make_batch("b")));
  CHECK(calls.load() == 1);
  CHECK(eventually([&] { return outcomes.ok.load() == 1; }));
}

}  // namespace ringlog::test

namespace ringlog::test {

TEST_CASE(
    "completions: callbacks run in offset order, after the listener heard their high watermark, "
    "whether a cycle completes a few appends or hundreds") {
  GatedFixture f;
  Engine& e = f.open();
  REQUIRE(e.create_topic("t", TopicConfig{}));
  std::atomic<std::int64_t> heard{0};
  e.set_visibility_listener(
      [&](std::string_view, std::int32_t, std::int64_t hw) { heard.store(hw); });
  std::mutex mu;
  std::vector<std::pair<std::int64_t, std::int64_t>> order;  // (first, last) as called
  int not_heard_first = 0;
  std::atomic<int> done{0};
  int failed = 0;
  auto callback = [&](Result<AppendResult> r) {
    std::lock_guard lock(mu);
    if (!r) {
      ++failed;
      done++;
      return;
    }
    if (heard.load() < r->last_offset + 1) ++not_heard_first;
    order.emplace_back(r->first_offset, r->last_offset);
    done++;
  };
  // Hold the first write so that the next cycle completes hundreds of appends at once; then
  // alternate small and large cycles.
  int issued = 0;
  for (int round = 0; round < 6; ++round) {
    f.gated.hold_writes(true);
    e.append_async("t", 0, make_batch("head" + std::to_string(round)), callback);
    ++issued;
    REQUIRE(f.gated.wait_held_writes(1));
    const int burst = round % 2 == 0 ? 300 : 2;
    for (int i = 0; i < burst; ++i, ++issued)
      e.append_async("t", 0, make_batch("r" + std::to_string(round) + "." + std::to_string(i), 2),
                     callback);
    f.gated.hold_writes(false);
    REQUIRE(eventually([&] { return done.load() == issued; }));
  }
  std::lock_guard lock(mu);
  REQUIRE(failed == 0);
  CHECK(not_heard_first == 0);
  REQUIRE(order.size() == static_cast<std::size_t>(issued));
  std::int64_t next = 0;
  for (const auto& [first, last] : order) {
    REQUIRE(first == next);
    next = last + 1;
  }
}

TEST_CASE("completions: close returns only after every accepted append's callback ran") {
  EngineFixture f;
  Engine& e = f.open();
  REQUIRE(e.create_topic("t", TopicConfig{}));
  std::atomic<int> called{0};
  const int kAppends = 2000;
  for (int i = 0; i < kAppends; ++i)
    e.append_async("t", 0, make_batch("v" + std::to_string(i)),
                   [&](Result<AppendResult>) { called++; });
  REQUIRE(e.close());
  CHECK(called.load() == kAppends);
}

}  // namespace ringlog::test
