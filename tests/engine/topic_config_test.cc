// `<topic>/@topic`: its checksum (version 2), the version 1 format, and what open and
// create_topic do with a topic directory whose config is missing or damaged: move it aside into
// `@quarantine/`, never delete it (issue 15, finding 4).
#include <filesystem>
#include <map>

#include "engine/file_layout.h"
#include "engine/quarantine.h"
#include "engine/topic_config.h"
#include "engine_test_util.h"

namespace ringlog::test {

namespace {

namespace fs = std::filesystem;

// Every regular file under `dir`, by path relative to it, with its bytes.
std::map<std::string, std::string> tree_of(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    out[fs::relative(entry.path(), dir).string()] = ringlog::testing::read_file(entry.path());
  }
  return out;
}

std::vector<std::string> quarantined(const EngineFixture& f) {
  std::vector<std::string> paths;
  std::string dir = quarantine_dir(f.options.data_dir);
  if (!fs::exists(dir)) return paths;
  for (const auto& entry : fs::directory_iterator(dir))
    paths.push_back(entry.path().string());
  std::sort(paths.begin(), paths.end());
  return paths;
}

std::string config_path(const EngineFixture& f, const std::string& topic) {
  return f.options.data_dir + "/" + topic + "/" + std::string(kTopicConfigFileName);
}

// Topic "t" with two partitions and 40 records in each (several segments), then closed.
void make_topic(EngineFixture& f) {
  TopicConfig config;
  config.partitions = 2;
  config.retention_ms = 123'456;
  Engine& e = f.open();
  REQUIRE(e.create_topic("t", config));
  for (int i = 0; i < 40; ++i) {
    REQUIRE(e.append("t", 0, make_batch("zero-" + std::to_string(i), 1, 1000, 300)));
    REQUIRE(e.append("t", 1, make_batch("one-" + std::to_string(i), 1, 1000, 300)));
  }
  REQUIRE(e.close());
  f.engine.reset();
}

}  // namespace

TEST_CASE("topic config: version 2 round-trips and carries a checksum of every byte before it") {
  TopicConfig config;
  config.partitions = 3;
  config.durability = Durability{Durability::Mode::kInterval, 100};
  config.segment_bytes = 8192;
  config.retention_ms = 5;
  config.retention_bytes = -1;
  std::string text = encode_topic_config(config);
  CHECK(text.starts_with("ringlog-topic 2\npartitions=3\n"));
  CHECK(text.ends_with("\nend\n"));
  CHECK(text.find("\ncrc32c=") != std::string::npos);
  auto decoded = decode_topic_config(text);
  REQUIRE(decoded);
  CHECK(decoded->partitions == 3);
  CHECK(decoded->durability == config.durability);
  CHECK(decoded->segment_bytes == 8192);
  CHECK(decoded->retention_ms == 5);
  CHECK(decoded->retention_bytes == -1);

  for (std::size_t at = 0; at < text.size(); ++at) {
    std::string damaged = text;
    damaged[at] = static_cast<char>(damaged[at] ^ 0x01);
    CAPTURE(at);
    auto result = decode_topic_config(damaged);
    CHECK_FALSE(result.has_value());
  }
  CHECK(decode_topic_config(text.substr(0, text.size() - 4)).error().code() == Errc::kCorruption);
  CHECK(decode_topic_config(text + "x").error().code() == Errc::kCorruption);
  std::string later = text;
  later.replace(0, 15, "ringlog-topic 3");
  CHECK(decode_topic_config(later).error().code() == Errc::kUnsupported);
}

TEST_CASE("topic config: version 1 files (no checksum) still decode") {
  auto decoded = decode_topic_config("ringlog-topic 1\npartitions=4\nsegment_bytes=4096\nend\n");
  REQUIRE(decoded);
  CHECK(decoded->partitions == 4);
  CHECK(decoded->segment_bytes == 4096);
  CHECK_FALSE(decoded->durability);
  // A checksum line cannot come from a version 1 writer: a damaged version number is not trusted.
  CHECK(
      decode_topic_config("ringlog-topic 1\npartitions=4\ncrc32c=00000000\nend\n").error().code() ==
      Errc::kCorruption);
}

TEST_CASE("recovery: a version 1 @topic still opens its topic") {
  EngineFixture f;
  make_topic(f);
  ringlog::testing::write_file(config_path(f, "t"),
                               "ringlog-topic 1\npartitions=2\nretention_ms=123456\nend\n");
  Engine& e = f.open();
  auto info = e.describe_topic("t");
  REQUIRE(info);
  CHECK(info->partitions.size() == 2);
  CHECK(info->retention_ms == 123'456);
  CHECK(f.all_values("t", 1).size() == 40);
  CHECK(e.stats()->damage.empty());
}

TEST_CASE("recovery: a damaged or missing @topic moves the topic aside and deletes nothing") {
  EngineFixture f;
  make_topic(f);
  const std::string topic_dir = f.options.data_dir + "/t";
  std::string why;
  SUBCASE("a flipped byte: the checksum fails") {
    std::string text = ringlog::testing::read_file(config_path(f, "t"));
    std::size_t at = text.find("partitions=2") + 11;
    text[at] = '3';
    ringlog::testing::write_file(config_path(f, "t"), text);
    why = "checksum mismatch";
  }
  SUBCASE("the file is gone") {
    REQUIRE(fs::remove(config_path(f, "t")));
    why = "has no @topic";
  }
  const auto before = tree_of(topic_dir);
  REQUIRE(before.size() > 6);

  QuietLog quiet;
  Engine& e = f.open();
  CHECK(e.list_topics().empty());
  CHECK_FALSE(fs::exists(topic_dir));
  auto moved = quarantined(f);
  REQUIRE(moved.size() == 1);
  CHECK(fs::path(moved[0]).filename().string().starts_with("t-"));
  CHECK(tree_of(moved[0]) == before);  // every byte, the damaged config included
  auto damage = e.stats()->damage;
  REQUIRE(damage.size() == 1);
  CHECK(damage[0].find(topic_dir) != std::string::npos);
  CHECK(damage[0].find(why) != std::string::npos);
  CHECK(damage[0].find("moved to " + moved[0]) != std::string::npos);

  // Putting it back with a sound config brings every record back.
  REQUIRE(e.close());
  f.engine.reset();
  fs::rename(moved[0], topic_dir);
  TopicConfig config;
  config.partitions = 2;
  ringlog::testing::write_file(config_path(f, "t"), encode_topic_config(config));
  Engine& restored = f.open();
  CHECK(f.all_values("t", 0).size() == 40);
  CHECK(f.all_values("t", 1).size() == 40);
  CHECK(restored.stats()->damage.empty());
}

TEST_CASE("recovery: a topic created again after its directory was moved aside starts afresh") {
  EngineFixture f;
  {
    Engine& old = f.open();
    REQUIRE(old.create_topic("t", {}));
    for (int i = 0; i < 3; ++i)  // one segment: the checkpoint's point is in segment 0
      REQUIRE(old.append("t", 0, make_batch("old-" + std::to_string(i))));
    REQUIRE(old.close());
    f.engine.reset();
  }
  REQUIRE(fs::remove(config_path(f, "t")));
  QuietLog quiet;
  Engine& e = f.open();
  REQUIRE(e.create_topic("t", {}));
  REQUIRE(e.append("t", 0, make_batch("fresh")));
  // The old topic's recovery points must not be applied to the new one, even after a crash.
  Engine& crashed = f.crash_and_reopen();
  auto info = crashed.describe_topic("t");
  REQUIRE(info);
  CHECK_FALSE(info->partitions[0].corruption);
  CHECK(f.all_values("t") == std::vector<std::string>{"fresh-0"});
}

TEST_CASE("topics: create_topic moves a leftover directory aside instead of deleting it") {
  EngineFixture f;
  Engine& e = f.open();
  fs::create_directories(f.options.data_dir + "/x/0");
  ringlog::testing::write_file(f.options.data_dir + "/x/0/keep-me", "data");
  QuietLog quiet;
  REQUIRE(e.create_topic("x", {}));
  auto moved = quarantined(f);
  REQUIRE(moved.size() == 1);
  CHECK(ringlog::testing::read_file(moved[0] + "/0/keep-me") == "data");
  CHECK_FALSE(fs::exists(f.options.data_dir + "/x/0/keep-me"));
  REQUIRE(e.stats()->damage.size() == 1);
  CHECK(e.stats()->damage[0].find("existed when topic 'x' was created") != std::string::npos);
}

TEST_CASE("topics: a creation that fails halfway removes only what it created") {
  EngineFixture f;
  Engine& e = f.open();
  f.fault.fail_next_writes(ENOSPC);  // the config file's write: the partitions exist by then
  auto created = e.create_topic("t", with_partitions(3));
  REQUIRE_FALSE(created);
  CHECK(created.error().code() == Errc::kNoSpace);
  CHECK_FALSE(fs::exists(f.options.data_dir + "/t"));
  CHECK(quarantined(f).empty());
  CHECK(e.list_topics().empty());
  REQUIRE(e.create_topic("t", with_partitions(3)));
  REQUIRE(e.append("t", 2, make_batch("a")));
  CHECK(f.reopen().describe_topic("t")->partitions.size() == 3);
  CHECK(f.engine->stats()->damage.empty());
}

}  // namespace ringlog::test
