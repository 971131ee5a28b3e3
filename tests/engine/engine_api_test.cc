// The public API: topics, appends, reads, fetch slice rules, offsets, errors.
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "engine/file_layout.h"
#include "engine_test_util.h"

namespace ringlog::test {

TEST_CASE("names: topic names outside [A-Za-z0-9._-]{1,249} or equal to . or .. are refused") {
  CHECK(is_valid_topic_name("orders"));
  CHECK(is_valid_topic_name("a.b_c-D9"));
  CHECK(is_valid_topic_name(std::string(249, 'x')));
  CHECK_FALSE(is_valid_topic_name(""));
  CHECK_FALSE(is_valid_topic_name("."));
  CHECK_FALSE(is_valid_topic_name(".."));
  CHECK_FALSE(is_valid_topic_name("a/b"));
  CHECK_FALSE(is_valid_topic_name("@lock"));
  CHECK_FALSE(is_valid_topic_name("sp ace"));
  CHECK_FALSE(is_valid_topic_name(std::string(250, 'x')));
  CHECK_FALSE(is_valid_topic_name("caf\xc3\xa9"));
  CHECK(is_valid_topic_name("..."));
}

TEST_CASE("names: group ids are 1 to 249 bytes of printable ASCII without spaces") {
  CHECK(is_valid_group_id("readers"));
  CHECK(is_valid_group_id("../g"));  // Kafka clients use such ids; they never become paths
  CHECK(is_valid_group_id("a/b"));
  CHECK(is_valid_group_id("app:consumer@host#1"));
  CHECK(is_valid_group_id(std::string(249, '~')));
  CHECK_FALSE(is_valid_group_id(""));
  CHECK_FALSE(is_valid_group_id("two words"));
  CHECK_FALSE(is_valid_group_id("tab\there"));
  CHECK_FALSE(is_valid_group_id("caf\xc3\xa9"));
  CHECK_FALSE(is_valid_group_id(std::string(250, 'g')));
  CHECK(group_id_problem("two words").find("printable ASCII without spaces") != std::string::npos);
}

TEST_CASE("names: segment files are named by a 20-digit base offset") {
  CHECK(segment_file_name(42, ".log") == "00000000000000000042.log");
  CHECK(parse_segment_file_name("00000000000000000042.log", ".log") == 42);
  CHECK_FALSE(parse_segment_file_name("0000000000000000042.log", ".log"));
  CHECK_FALSE(parse_segment_file_name("00000000000000000042.index", ".log"));
  CHECK_FALSE(parse_segment_file_name("0000000000000000004x.log", ".log"));
}

TEST_CASE("durability: parses always, interval=<ms> and never, and nothing else") {
  CHECK(Durability::parse("always")->mode == Durability::Mode::kAlways);
  CHECK(Durability::parse("never")->mode == Durability::Mode::kNever);
  auto interval = Durability::parse("interval=250");
  REQUIRE(interval);
  CHECK(interval->interval_ms == 250);
  CHECK(interval->to_string() == "interval=250");
  for (const char* bad : {"", "sometimes", "interval=", "interval=0", "interval=5x", "ALWAYS"}) {
    CAPTURE(bad);
    auto parsed = Durability::parse(bad);
    REQUIRE_FALSE(parsed);
    CHECK(parsed.error().code() == Errc::kInvalidArgument);
  }
}

TEST_CASE("engine: topics are created, listed, described and deleted") {
  EngineFixture f;
  Engine& e = f.open();
  TopicConfig config;
  config.partitions = 3;
  config.durability = Durability{Durability::Mode::kNever, 0};
  REQUIRE(e.create_topic("orders", config));
  REQUIRE(e.create_topic("audit", TopicConfig{}));
  CHECK(e.create_topic("orders", config).error().code() == Errc::kAlreadyExists);
  CHECK(e.list_topics() == std::vector<std::string>{"audit", "orders"});
  auto info = e.describe_topic("orders");
  REQUIRE(info);
  CHECK(info->partitions.size() == 3);
  CHECK(info->durability.mode == Durability::Mode::kNever);
  CHECK(info->partitions[2].high_watermark == 0);

  Engine& again = f.reopen();
  CHECK(again.list_topics() == std::vector<std::string>{"audit", "orders"});
  CHECK(again.describe_topic("orders")->durability.mode == Durability::Mode::kNever);
  REQUIRE(again.delete_topic("orders"));
  CHECK(again.describe_topic("orders").error().code() == Errc::kNotFound);
  CHECK(again.list_topics() == std::vector<std::string>{"audit"});
  CHECK_FALSE(std::filesystem::exists(f.options.data_dir + "/orders"));
  Engine& third = f.reopen();
  CHECK(third.list_topics() == std::vector<std::string>{"audit"});
}

TEST_CASE("engine: invalid topic names are refused before touching the file system") {
  EngineFixture f;
  Engine& e = f.open();
  for (const char* name : {"", ".", "..", "../escape", "a/b", "with space", "@lock"}) {
    CAPTURE(name);
    auto created = e.create_topic(name, TopicConfig{});
    REQUIRE_FALSE(created);
    CHECK(created.error().code() == Errc::kInvalidArgument);
    CHECK(created.error().message().find("[A-Za-z0-9._-]") != std::string::npos);
    auto appended = e.append(name, 0, make_batch("x"));
    REQUIRE_FALSE(appended);
    CHECK(appended.error().code() == Errc::kInvalidArgument);
  }
  CHECK_FALSE(std::filesystem::exists(f.dir / "escape"));
  CHECK(e.list_topics().empty());
}

TEST_CASE("engine: unknown topics and partitions are not found; appends auto-create topics") {
  EngineFixture f;
  f.options.auto_create_topics = false;
  Engine& e = f.open();
  CHECK(e.append("ghost", 0, make_batch("x")).error().code() == Errc::kNotFound);
  CHECK(e.fetch("ghost", 0, 0, 100).error().code() == Errc::kNotFound);
  REQUIRE(e.create_topic("t", TopicConfig{}));
  CHECK(e.append("t", 1, make_batch("x")).error().code() == Errc::kNotFound);
  CHECK(e.offsets("t", -1).error().code() == Errc::kNotFound);

  f.options.auto_create_topics = true;
  f.options.default_partitions = 2;
  Engine& auto_engine = f.reopen();
  auto appended = auto_engine.append("fresh", 1, make_batch("x"));
  REQUIRE(appended);
  CHECK(auto_engine.describe_topic("fresh")->partitions.size() == 2);
}

TEST_CASE("engine: appends get contiguous offsets and read back byte for byte") {
  EngineFixture f;
  Engine& e = f.open();
  auto first = e.append("t", 0, make_batch("a", 3));
  REQUIRE(first);
  CHECK(first->first_offset == 0);
  CHECK(first->last_offset == 2);
  const auto sent = make_batch("b", 2, 1'700'000'000'000);
  auto second = e.append("t", 0, concat(sent, make_batch("c", 1)));
  REQUIRE(second);
  CHECK(second->first_offset == 3);
  CHECK(second->last_offset == 5);
  std::vector<std::int64_t> offsets;
  CHECK(f.all_values("t", 0, &offsets) ==
        std::vector<std::string>{"a-0", "a-1", "a-2", "b-0", "b-1", "c-0"});
  CHECK(offsets == std::vector<std::int64_t>{0, 1, 2, 3, 4, 5});
  CHECK(e.offsets("t", 0).value() == std::pair<std::int64_t, std::int64_t>{0, 6});
  // The stored batch is the producer's batch with only baseOffset rewritten.
  auto stored = e.read("t", 0, 3, 1);
  REQUIRE(stored);
  REQUIRE(stored->size() == sent.size());
  CHECK(std::equal(stored->begin() + 8, stored->end(), sent.begin() + 8));
  CHECK(BatchView(*stored).base_offset() == 3);
  CHECK(BatchView(*stored).crc_matches());
}

TEST_CASE("engine: malformed, oversized and control batches are refused") {
  EngineFixture f;
  f.options.max_batch_bytes = 1024;
  Engine& e = f.open();
  auto batch = make_batch("x");
  SUBCASE("bad CRC") {
    batch.back() ^= std::byte{1};
    CHECK(e.append("t", 0, batch).error().code() == Errc::kCorruption);
  }
  SUBCASE("truncated") {
    batch.pop_back();
    CHECK(e.append("t", 0, batch).error().code() == Errc::kCorruption);
  }
  SUBCASE("too large") {
    CHECK(e.append("t", 0, make_batch("big", 1, kTimestampNow, 2000)).error().code() ==
          Errc::kTooLarge);
  }
  SUBCASE("control batch") {
    BatchOptions control;
    control.control = true;
    BatchBuilder builder(control);
    builder.add("k", "v");
    auto bytes = builder.finish();
    CHECK(e.append("t", 0, {bytes.begin(), bytes.end()}).error().code() == Errc::kInvalidArgument);
  }
  SUBCASE("empty") {
    CHECK(e.append("t", 0, std::vector<std::byte>{}).error().code() == Errc::kInvalidArgument);
  }
  // Nothing of a refused append is stored: not even the topic it would have auto-created.
  CHECK(e.offsets("t", 0).error().code() == Errc::kNotFound);
}

TEST_CASE(
    "engine: fetch starts at the batch containing the offset and keeps the first batch whole") {
  EngineFixture f;
  f.options.segment_bytes = 1 << 20;
  Engine& e = f.open();
  auto big = make_batch("big", 5, kTimestampNow, 100);  // offsets 0-4
  REQUIRE(e.append("t", 0, big));
  auto small = make_batch("s", 1);  // offset 5
  REQUIRE(e.append("t", 0, small));
  REQUIRE(e.append("t", 0, make_batch("s2", 1)));  // offset 6

  SUBCASE("an offset inside a batch returns the whole batch from its base") {
    auto fetched = e.fetch("t", 0, 3, 10);
    REQUIRE(fetched);
    CHECK(fetched->slice.position == 0);
    CHECK(fetched->slice.length == big.size());  // larger than max_bytes, still whole
    CHECK(fetched->high_watermark == 7);
    CHECK(fetched->slice.fd >= 0);
  }
  SUBCASE("max_bytes beyond the first batch may cut the last one") {
    auto fetched = e.fetch("t", 0, 0, static_cast<std::uint32_t>(big.size() + 10));
    REQUIRE(fetched);
    CHECK(fetched->slice.length == big.size() + 10);
  }
  SUBCASE("never past the high watermark") {
    auto fetched = e.fetch("t", 0, 5, 1 << 20);
    REQUIRE(fetched);
    CHECK(fetched->slice.length == small.size() + make_batch("s2", 1).size());
    CHECK(values_of(*e.read("t", 0, 5, 1 << 20)) == std::vector<std::string>{"s-0", "s2-0"});
  }
  SUBCASE("at the high watermark: empty") {
    auto fetched = e.fetch("t", 0, 7, 100);
    REQUIRE(fetched);
    CHECK(fetched->slice.length == 0);
  }
  SUBCASE("past the high watermark or below the log start: out of range, naming the range") {
    auto fetched = e.fetch("t", 0, 8, 100);
    REQUIRE_FALSE(fetched);
    CHECK(fetched.error().code() == Errc::kOutOfRange);
    CHECK(fetched.error().message().find("[0, 7]") != std::string::npos);
    CHECK(e.fetch("t", 0, -1, 100).error().code() == Errc::kOutOfRange);
  }
  SUBCASE("the slice's bytes are the file's bytes") {
    auto fetched = e.fetch("t", 0, 5, 1 << 20);
    REQUIRE(fetched);
    std::vector<std::byte> bytes(fetched->slice.length);
    REQUIRE(::pread(fetched->slice.fd, bytes.data(), bytes.size(),
                    static_cast<off_t>(fetched->slice.position)) ==
            static_cast<ssize_t>(bytes.size()));
    CHECK(values_of(bytes) == std::vector<std::string>{"s-0", "s2-0"});
  }
}

TEST_CASE("engine: fetch never crosses a segment; the next fetch continues in the next one") {
  EngineFixture f;
  Engine& e = f.open();
  for (int i = 0; i < 40; ++i)
    REQUIRE(e.append("t", 0, make_batch("m" + std::to_string(i), 1, kTimestampNow, 200)));
  auto info = e.describe_topic("t");
  REQUIRE(info);
  CHECK(info->partitions[0].segments > 1);
  std::vector<std::string> values = f.all_values("t");
  REQUIRE(values.size() == 40);
  CHECK(values.front().starts_with("m0-0"));
  CHECK(values.back().starts_with("m39-0"));
  auto fetched = e.fetch("t", 0, 0, 1 << 20);
  REQUIRE(fetched);
  CHECK(fetched->slice.length <= f.options.segment_bytes);
}

TEST_CASE("engine: reads by timestamp find the first batch at or after the time") {
  EngineFixture f;
  Engine& e = f.open();
  for (int i = 0; i < 30; ++i)
    REQUIRE(e.append("t", 0, make_batch("m" + std::to_string(i), 2, 1000 + 10 * i, 100)));
  CHECK(e.offset_for_timestamp("t", 0, 0).value() == 0);
  CHECK(e.offset_for_timestamp("t", 0, 1000).value() == 0);
  CHECK(e.offset_for_timestamp("t", 0, 1001).value() == 2);
  CHECK(e.offset_for_timestamp("t", 0, 1150).value() == 30);
  CHECK(e.offset_for_timestamp("t", 0, 1290).value() == 58);
  CHECK(e.offset_for_timestamp("t", 0, 5000).value() == 60);  // none: the high watermark
  Engine& again = f.reopen();
  CHECK(again.offset_for_timestamp("t", 0, 1150).value() == 30);
}

TEST_CASE("engine: a second engine on the same directory gets kBusy") {
  EngineFixture f;
  f.open();
  EngineOptions second = f.options;
  auto other = Engine::open(second);
  REQUIRE_FALSE(other);
  CHECK(other.error().code() == Errc::kBusy);
  CHECK(other.error().message().find("in use") != std::string::npos);
  REQUIRE(f.engine->close());
  auto after_close = Engine::open(second);
  CHECK(after_close.has_value());
}

TEST_CASE("engine: committed offsets survive reopen and a crash, with their metadata") {
  EngineFixture f;
  Engine& e = f.open();
  TopicConfig two;
  two.partitions = 2;
  REQUIRE(e.create_topic("t", two));
  CHECK(e.committed_offset("g", "t", 0).value() == std::nullopt);
  REQUIRE(e.commit_offset("g", "t", 0, 10, "meta"));
  REQUIRE(e.commit_offset("g", "t", 0, 12));
  REQUIRE(e.commit_offset("g2", "t", 1, 5, "x"));
  CHECK(e.commit_offset("", "t", 0, 1).error().code() == Errc::kInvalidArgument);
  Engine& reopened = f.reopen();
  auto got = reopened.committed_offset("g", "t", 0);
  REQUIRE(got);
  REQUIRE(got->has_value());
  CHECK((*got)->offset == 12);
  CHECK((*got)->metadata.empty());
  REQUIRE(reopened.commit_offset("g2", "t", 1, 6, "y"));
  Engine& crashed = f.crash_and_reopen();
  CHECK(crashed.committed_offset("g2", "t", 1).value()->offset == 6);
  CHECK(crashed.committed_offset("g2", "t", 1).value()->metadata == "y");
  CHECK(crashed.committed_offset("g", "t", 0).value()->offset == 12);
}

TEST_CASE("engine: list_group_offsets returns every committed offset of a group, across reopen") {
  EngineFixture f;
  Engine& e = f.open();
  TopicConfig two;
  two.partitions = 2;
  REQUIRE(e.create_topic("t", two));
  REQUIRE(e.create_topic("u", {}));
  CHECK(e.list_group_offsets("g").value().empty());
  REQUIRE(e.commit_offset("g", "t", 1, 7));
  REQUIRE(e.commit_offset("g", "t", 0, 5, "a"));
  REQUIRE(e.commit_offset("g", "u", 0, 9, "m"));
  REQUIRE(e.commit_offset("g", "t", 0, 6, "b"));  // replaces t/0
  REQUIRE(e.commit_offset("g2", "t", 0, 1));      // other groups stay out,
  REQUIRE(e.commit_offset("g0", "t", 0, 2));      // even those sharing a prefix
  REQUIRE(e.commit_offset("f", "t", 0, 3));
  auto check = [](Engine& engine) {
    auto listed = engine.list_group_offsets("g");
    REQUIRE(listed);
    REQUIRE(listed->size() == 3);
    const auto& l = *listed;
    CHECK((l[0].topic == "t" && l[0].partition == 0 && l[0].offset == 6 && l[0].metadata == "b"));
    CHECK((l[1].topic == "t" && l[1].partition == 1 && l[1].offset == 7 && l[1].metadata.empty()));
    CHECK((l[2].topic == "u" && l[2].partition == 0 && l[2].offset == 9 && l[2].metadata == "m"));
  };
  check(e);
  check(f.reopen());
  check(f.crash_and_reopen());
  CHECK(f.engine->list_group_offsets("nobody").value().empty());
  CHECK(f.engine->list_group_offsets("").error().code() == Errc::kInvalidArgument);
}

TEST_CASE("engine: topic overrides are stored with the topic however it was created") {
  EngineFixture f;
  TopicConfig config;
  config.partitions = 2;
  config.durability = Durability{Durability::Mode::kNever, 0};
  config.segment_bytes = 8192;
  config.retention_ms = 123'456;
  config.retention_bytes = 99'999;
  SUBCASE("by create_topic") {
    REQUIRE(f.open().create_topic("t", config));
  }
  SUBCASE("auto-created by an append, with the configured overrides") {
    f.options.auto_create_topic_config = config;
    REQUIRE(f.open().append("t", 1, make_batch("a")));
  }
  REQUIRE(std::filesystem::exists(f.options.data_dir + "/t/" + std::string(kTopicConfigFileName)));
  // Reopen (after a crash, then cleanly) with other engine-wide defaults: the overrides stand.
  f.options.auto_create_topic_config.reset();
  f.options.durability = Durability{Durability::Mode::kInterval, 50};
  f.options.segment_bytes = 16384;
  f.options.retention_ms = 1000;
  f.options.retention_bytes = 5;
  for (int open = 0; open < 2; ++open) {
    CAPTURE(open);
    Engine& e = open == 0 ? f.crash_and_reopen() : f.reopen();
    auto info = e.describe_topic("t");
    REQUIRE(info);
    CHECK(info->partitions.size() == 2);
    CHECK(info->durability == Durability{Durability::Mode::kNever, 0});
    CHECK(info->segment_bytes == 8192);
    CHECK(info->retention_ms == 123'456);
    CHECK(info->retention_bytes == 99'999);
  }
  // A topic auto-created without overrides follows the engine's defaults of each open.
  REQUIRE(f.engine->append("plain", 0, make_batch("p")));
  CHECK(f.engine->describe_topic("plain")->durability ==
        Durability{Durability::Mode::kInterval, 50});
  f.options.durability = Durability{};
  CHECK(f.reopen().describe_topic("plain")->durability == Durability{});
}

TEST_CASE("engine: the visibility listener hears every advance of the high watermark") {
  EngineFixture f;
  Engine& e = f.open();
  std::atomic<std::int64_t> last{-1};
  e.set_visibility_listener([&](std::string_view topic, std::int32_t partition, std::int64_t hw) {
    if (topic == "t" && partition == 0) last = hw;
  });
  REQUIRE(e.append("t", 0, make_batch("a", 4)));
  CHECK(last.load() == 4);
}

TEST_CASE("engine: appends after close fail with kClosed") {
  EngineFixture f;
  Engine& e = f.open();
  REQUIRE(e.close());
  CHECK(e.close().has_value());  // idempotent
  CHECK(e.append("t", 0, make_batch("a")).error().code() == Errc::kClosed);
}

}  // namespace ringlog::test

namespace ringlog::test {

TEST_CASE("engine: runs over the default Env (io_uring where the kernel allows it)") {
  ScratchDir dir;
  EngineOptions options;
  options.data_dir = dir / "data";
  options.segment_bytes = 8192;
  for (int round = 0; round < 2; ++round) {
    auto opened = Engine::open(options);
    REQUIRE_MESSAGE(opened.has_value(), (opened ? "" : opened.error().to_string()));
    Engine& e = **opened;
    MESSAGE("env: " << e.stats()->env);
    TopicConfig config;
    config.partitions = 3;
    if (round == 0) REQUIRE(e.create_topic("t", config));
    std::atomic<int> done{0};
    for (int i = 0; i < 90; ++i)
      e.append_async("t", i % 3, make_batch("r" + std::to_string(i), 2, kTimestampNow, 300),
                     [&](Result<AppendResult> r) {
                       CHECK(r.has_value());
                       done++;
                     });
    while (done.load() < 90)
      std::this_thread::yield();
    for (int p = 0; p < 3; ++p)
      CHECK(e.offsets("t", p).value().second == 60 * (round + 1));
    REQUIRE(e.close());
  }
}

}  // namespace ringlog::test
