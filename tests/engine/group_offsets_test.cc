// `@group-offsets`: per-record CRCs, resynchronisation after damage, torn tails, quarantine of a
// damaged original, the version 1 format (issue 15, finding 3).
#include <filesystem>
#include <fstream>

#include "engine/crc32c.h"
#include "engine/endian.h"
#include "engine/file_layout.h"
#include "engine/group_offsets_file.h"
#include "engine/quarantine.h"
#include "engine_test_util.h"

namespace ringlog::test {

namespace {

std::string offsets_path(const EngineFixture& f) {
  return f.options.data_dir + "/" + std::string(kGroupOffsetsFileName);
}

std::vector<std::string> quarantined(const EngineFixture& f) {
  std::vector<std::string> names;
  std::string dir = quarantine_dir(f.options.data_dir);
  if (!std::filesystem::exists(dir)) return names;
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

void flip_byte(const std::string& path, std::uint64_t at) {
  std::string bytes = ringlog::testing::read_file(path);
  REQUIRE(at < bytes.size());
  bytes[at] = static_cast<char>(bytes[at] ^ 0x5a);
  ringlog::testing::write_file(path, bytes);
}

std::int64_t committed(Engine& e, const std::string& group, std::int32_t partition = 0) {
  auto got = e.committed_offset(group, "t", partition);
  REQUIRE(got.has_value());
  return *got ? (*got)->offset : -1;
}

// A version 1 record (before commit times were stored), encoded by hand from docs/format.md.
std::string v1_record(const std::string& group, const std::string& topic, std::int32_t partition,
                      std::int64_t offset, const std::string& metadata) {
  std::vector<std::byte> body(2 + group.size() + 2 + topic.size() + 4 + 8 + 4 + metadata.size());
  std::byte* p = body.data();
  store_be<std::uint16_t>(p, static_cast<std::uint16_t>(group.size()));
  std::memcpy(p + 2, group.data(), group.size());
  p += 2 + group.size();
  store_be<std::uint16_t>(p, static_cast<std::uint16_t>(topic.size()));
  std::memcpy(p + 2, topic.data(), topic.size());
  p += 2 + topic.size();
  store_be<std::int32_t>(p, partition);
  store_be<std::int64_t>(p + 4, offset);
  store_be<std::uint32_t>(p + 12, static_cast<std::uint32_t>(metadata.size()));
  std::memcpy(p + 16, metadata.data(), metadata.size());
  std::byte header[8];
  store_be<std::uint32_t>(header, static_cast<std::uint32_t>(body.size()));
  store_be<std::uint32_t>(header + 4, crc32c(body));
  return std::string(reinterpret_cast<const char*>(header), 8) +
         std::string(reinterpret_cast<const char*>(body.data()), body.size());
}

std::vector<std::byte> as_bytes(const std::string& s) {
  auto b = std::as_bytes(std::span(s));
  return {b.begin(), b.end()};
}

// Commits offset i for group "g<i>" on t/0, for i in [0, n).
void commit_many(Engine& e, int n) {
  for (int i = 0; i < n; ++i)
    REQUIRE(e.commit_offset("g" + std::to_string(i), "t", 0, i));
}

}  // namespace

TEST_CASE("group offsets: damage in the middle is skipped and every later commit is kept") {
  EngineFixture f;
  Engine& e = f.open();
  REQUIRE(e.create_topic("t", {}));
  commit_many(e, 200);
  REQUIRE(e.close());
  f.engine.reset();
  const std::string path = offsets_path(f);
  const std::uint64_t size_before = std::filesystem::file_size(path);
  flip_byte(path, 354);
  const std::string damaged = ringlog::testing::read_file(path);

  QuietLog quiet;
  Engine& reopened = f.open();
  int lost = 0;
  for (int i = 0; i < 200; ++i) {
    std::int64_t got = committed(reopened, "g" + std::to_string(i));
    if (got == -1) {
      ++lost;
    } else {
      CHECK(got == i);
    }
  }
  CHECK(lost == 1);
  // Reported, naming the file and the byte, and the damaged original kept byte for byte.
  auto stats = reopened.stats();
  REQUIRE(stats->damage.size() == 1);
  CHECK(stats->damage[0].find(path) != std::string::npos);
  // Records of "g0".."g9" take 41 bytes: byte 354 is in the 9th, which starts at byte 328.
  CHECK(stats->damage[0].find("damaged at byte 328 (41 unreadable bytes)") != std::string::npos);
  CHECK(stats->damage[0].find("kept the 199 sound records (8 before the damage, 191 after it)") !=
        std::string::npos);
  auto names = quarantined(f);
  REQUIRE(names.size() == 1);
  CHECK(names[0].starts_with(std::string(kGroupOffsetsFileName) + "-"));
  CHECK(ringlog::testing::read_file(quarantine_dir(f.options.data_dir) + "/" + names[0]) ==
        damaged);
  // The rewritten file holds the 199 commits and is sound again: the next open reports only what
  // is left in quarantine.
  CHECK(std::filesystem::file_size(path) < size_before);
  CHECK(std::filesystem::file_size(path) > size_before * 9 / 10);
  Engine& again = f.reopen();
  auto later = again.stats();
  REQUIRE(later->damage.size() == 1);
  CHECK(later->damage[0].find("still in quarantine") != std::string::npos);
  CHECK(committed(again, "g199") == 199);
}

TEST_CASE("group offsets: a torn last record is cut without a damage report") {
  EngineFixture f;
  Engine& e = f.open();
  REQUIRE(e.create_topic("t", {}));
  REQUIRE(e.commit_offset("g", "t", 0, 41));
  REQUIRE(e.commit_offset("g", "t", 0, 42));
  REQUIRE(e.close());
  f.engine.reset();
  const std::string path = offsets_path(f);
  std::string bytes = ringlog::testing::read_file(path);

  SUBCASE("the last record fails its CRC") {
    flip_byte(path, bytes.size() - 1);
  }
  SUBCASE("the last record is cut short") {
    ringlog::testing::write_file(path, bytes.substr(0, bytes.size() - 5));
  }
  Engine& reopened = f.open();
  CHECK(committed(reopened, "g") == 41);
  CHECK(reopened.stats()->damage.empty());
  CHECK(quarantined(f).empty());
  REQUIRE(reopened.commit_offset("g", "t", 0, 43));
  CHECK(committed(f.reopen(), "g") == 43);
}

TEST_CASE("group offsets: version 1 files still load and are rewritten as version 2") {
  EngineFixture f;
  TopicConfig two;
  two.partitions = 2;
  REQUIRE(f.open().create_topic("t", two));
  REQUIRE(f.engine->close());
  f.engine.reset();
  const std::string path = offsets_path(f);
  ringlog::testing::write_file(path, v1_record("g", "t", 0, 5, "meta") +
                                         v1_record("g", "t", 1, 9, "") +
                                         v1_record("g", "t", 0, 6, "newer"));
  Engine& e = f.open();
  auto got = e.committed_offset("g", "t", 0);
  REQUIRE(got.has_value());
  REQUIRE(got->has_value());
  CHECK((*got)->offset == 6);
  CHECK((*got)->metadata == "newer");
  CHECK(committed(e, "g", 1) == 9);
  CHECK(e.stats()->damage.empty());
  std::string rewritten = ringlog::testing::read_file(path);
  REQUIRE(rewritten.size() > 8);
  CHECK(rewritten[8] == '\x02');  // the first body starts with its version
  CHECK(committed(f.reopen(), "g", 1) == 9);
}

TEST_CASE("group offsets file: records round-trip; every version 1 record still decodes") {
  std::vector<std::byte> bytes;
  OffsetRecord commit{OffsetRecordKind::kCommit, "group", "topic", 3, 77, "m", 1'700'000'000'000};
  OffsetRecord removal{OffsetRecordKind::kDelete, "group", "topic", 3, -1, "", 1'700'000'000'001};
  encode_offset_record(bytes, commit);
  encode_offset_record(bytes, removal);
  auto v1 = as_bytes(v1_record("old", "t", 1, 2, "x"));
  bytes.insert(bytes.end(), v1.begin(), v1.end());
  std::vector<OffsetRecord> seen;
  std::vector<std::uint64_t> positions;
  OffsetFileScan scan = scan_offset_records(bytes, [&](OffsetRecord&& r, std::uint64_t at) {
    seen.push_back(std::move(r));
    positions.push_back(at);
  });
  CHECK(scan.records == 3);
  CHECK(scan.damage.empty());
  CHECK_FALSE(scan.torn_tail);
  CHECK(scan.valid_end == bytes.size());
  REQUIRE(seen.size() == 3);
  CHECK((seen[0].kind == OffsetRecordKind::kCommit && seen[0].group == "group" &&
         seen[0].topic == "topic" && seen[0].partition == 3 && seen[0].offset == 77 &&
         seen[0].metadata == "m" && seen[0].time_ms == 1'700'000'000'000));
  CHECK((seen[1].kind == OffsetRecordKind::kDelete && seen[1].time_ms == 1'700'000'000'001));
  CHECK((seen[2].group == "old" && seen[2].offset == 2 && seen[2].metadata == "x" &&
         seen[2].time_ms == -1));
  CHECK(positions[0] == 0);
}

TEST_CASE("group offsets file: the scan resynchronises after each damaged place") {
  std::vector<std::byte> bytes;
  std::vector<std::uint64_t> starts;
  for (int i = 0; i < 30; ++i) {
    starts.push_back(bytes.size());
    encode_offset_record(bytes, {OffsetRecordKind::kCommit, "g", "t", i, i, "", i});
  }
  bytes[starts[3] + 12] ^= std::byte{1};  // inside record 3's body
  bytes[starts[20] + 1] ^= std::byte{1};  // record 20's length
  bytes[starts[21] + 5] ^= std::byte{1};  // and record 21's CRC
  std::vector<std::int32_t> kept;
  OffsetFileScan scan = scan_offset_records(
      bytes, [&](OffsetRecord&& r, std::uint64_t) { kept.push_back(r.partition); });
  CHECK(scan.records == 27);
  CHECK(scan.records_after == 24);  // 4..19 and 22..29
  REQUIRE(scan.damage.size() == 2);
  CHECK(scan.damage[0].position == starts[3]);
  CHECK(scan.damage[0].bytes == starts[4] - starts[3]);
  CHECK(scan.damage[1].position == starts[20]);
  CHECK(scan.damage[1].bytes == starts[22] - starts[20]);
  CHECK_FALSE(scan.torn_tail);
  CHECK(std::find(kept.begin(), kept.end(), 3) == kept.end());
  CHECK(kept.back() == 29);

  // Damage in the last record, with nothing sound after it, is a torn tail, not damage.
  bytes[bytes.size() - 3] ^= std::byte{1};
  scan = scan_offset_records(bytes);
  CHECK(scan.records == 26);
  CHECK(scan.damage.size() == 2);
  REQUIRE(scan.torn_tail);
  CHECK(scan.torn_tail->position == starts[29]);
  CHECK(scan.valid_end == starts[29]);
}

TEST_CASE("group offsets: a commit to an unknown topic or partition is refused and not stored") {
  EngineFixture f;
  Engine& e = f.open();
  auto no_topic = e.commit_offset("g", "t", 0, 1);
  REQUIRE_FALSE(no_topic);
  CHECK(no_topic.error().code() == Errc::kNotFound);
  CHECK(no_topic.error().message() == "topic 't' does not exist");
  REQUIRE(e.create_topic("t", {}));
  auto no_partition = e.commit_offset("g", "t", 9, 1);
  REQUIRE_FALSE(no_partition);
  CHECK(no_partition.error().code() == Errc::kNotFound);
  CHECK(no_partition.error().message() == "topic 't' has no partition 9 (it has 1)");
  CHECK(e.commit_offset("g", "t", -1, 1).error().code() == Errc::kNotFound);
  CHECK(e.commit_offset("g", "../x", 0, 1).error().code() == Errc::kInvalidArgument);
  CHECK(e.commit_offset("", "t", 0, 1).error().code() == Errc::kInvalidArgument);
  CHECK(e.list_group_offsets("g").value().empty());
  REQUIRE(e.commit_offset("g", "t", 0, 1));
  auto listed = f.reopen().list_group_offsets("g");
  REQUIRE(listed);
  REQUIRE(listed->size() == 1);
  CHECK((*listed)[0].partition == 0);
}

TEST_CASE("group offsets: deleting a topic removes its committed offsets, durably") {
  EngineFixture f;
  Engine& e = f.open();
  REQUIRE(e.create_topic("t", {}));
  REQUIRE(e.create_topic("u", {}));
  REQUIRE(e.commit_offset("g", "t", 0, 5));
  REQUIRE(e.commit_offset("h", "t", 0, 6));
  REQUIRE(e.commit_offset("g", "u", 0, 7));
  REQUIRE(e.delete_topic("t"));
  CHECK(committed(e, "g") == -1);
  CHECK(committed(e, "h") == -1);
  CHECK(e.committed_offset("g", "u", 0).value()->offset == 7);
  // A topic created again under the name starts without offsets, after a crash too.
  REQUIRE(e.create_topic("t", {}));
  Engine& crashed = f.crash_and_reopen();
  CHECK(committed(crashed, "g") == -1);
  CHECK(committed(crashed, "h") == -1);
  CHECK(crashed.list_group_offsets("g").value().size() == 1);
  CHECK(crashed.list_group_offsets("h").value().empty());
}

}  // namespace ringlog::test
