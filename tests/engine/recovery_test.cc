// Recovery: torn tails, indexes, checkpoints, clean shutdown, damaged sealed segments.
#include <filesystem>
#include <fstream>

#include "engine/checkpoint.h"
#include "engine/crc32c.h"
#include "engine/endian.h"
#include "engine/file_layout.h"
#include "engine_test_util.h"
#include "io/log.h"
#include "tests/support/process.h"

namespace ringlog::test {

namespace {
std::string segment_path(EngineFixture& f, std::int64_t base, const char* suffix = ".log") {
  return f.partition_dir("t") + "/" + segment_file_name(base, suffix);
}

std::vector<std::int64_t> segment_bases(EngineFixture& f) {
  std::vector<std::int64_t> bases;
  for (const auto& entry : std::filesystem::directory_iterator(f.partition_dir("t"))) {
    if (auto base = parse_segment_file_name(entry.path().filename().string(), ".log"))
      bases.push_back(*base);
  }
  std::sort(bases.begin(), bases.end());
  return bases;
}

void append_many(Engine& e, int n, std::size_t value_bytes = 200) {
  for (int i = 0; i < n; ++i)
    REQUIRE(e.append("t", 0, make_batch("m" + std::to_string(i), 1, 1000 + i, value_bytes)));
}

void flip_byte(const std::string& path, std::uint64_t at) {
  std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
  file.seekg(static_cast<std::streamoff>(at));
  char c = 0;
  file.read(&c, 1);
  c = static_cast<char>(c ^ 0x5a);
  file.seekp(static_cast<std::streamoff>(at));
  file.write(&c, 1);
}
std::vector<char> file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Opens with logging off: the damage is reported as an error on purpose.
Engine& open_quietly(EngineFixture& f) {
  LogLevel saved = log_level();
  set_log_level(LogLevel::kOff);
  Engine& e = f.open();
  set_log_level(saved);
  return e;
}

// The size of each batch append_many writes (its values all have the same length for i < 10).
std::uint64_t batch_bytes() {
  return make_batch("m0", 1, 1000, 200).size();
}

void check_readable_prefix(EngineFixture& f, int batches) {
  auto values = f.all_values("t");
  REQUIRE(values.size() == static_cast<std::size_t>(batches));
  for (int i = 0; i < batches; ++i)
    CHECK(values[static_cast<std::size_t>(i)].starts_with("m" + std::to_string(i) + "-0"));
}
}  // namespace

TEST_CASE("recovery: a torn trailing batch is truncated and appends continue after it") {
  EngineFixture f;
  f.options.preallocation = Preallocation::kNone;
  f.options.segment_bytes = 1 << 20;
  Engine& e = f.open();
  append_many(e, 3);
  REQUIRE(e.close());
  f.engine.reset();
  auto torn = make_batch("torn", 2);
  {
    std::ofstream out(segment_path(f, 0), std::ios::app | std::ios::binary);
    out.write(reinterpret_cast<const char*>(torn.data()),
              static_cast<std::streamsize>(torn.size() / 2));
  }
  std::filesystem::remove(f.options.data_dir + "/" + std::string(kCleanShutdownFileName));
  Engine& reopened = f.open();
  CHECK(reopened.offsets("t", 0).value().second == 3);
  CHECK(reopened.stats()->recovery_truncated_bytes == torn.size() / 2);
  auto next = reopened.append("t", 0, make_batch("after"));
  REQUIRE(next);
  CHECK(next->first_offset == 3);
  CHECK(f.all_values("t").back() == "after-0");
}

TEST_CASE("recovery: a deleted or damaged index is rebuilt and reads by offset still work") {
  EngineFixture f;
  Engine& e = f.open();
  append_many(e, 60);
  REQUIRE(e.close());
  f.engine.reset();
  auto bases = segment_bases(f);
  REQUIRE(bases.size() >= 3);
  SUBCASE("deleted") {
    REQUIRE(std::filesystem::remove(segment_path(f, bases[0], ".index")));
    REQUIRE(std::filesystem::remove(segment_path(f, bases[1], ".timeindex")));
  }
  SUBCASE("garbage") {
    std::ofstream out(segment_path(f, bases[0], ".index"), std::ios::binary | std::ios::trunc);
    out << "this is not an index at all, it points nowhere useful";
  }
  Engine& reopened = f.open();
  CHECK(reopened.stats()->recovery_scanned_bytes > 0);
  auto values = f.all_values("t");
  REQUIRE(values.size() == 60);
  for (int i = 0; i < 60; ++i)
    CHECK(values[static_cast<std::size_t>(i)].starts_with("m" + std::to_string(i) + "-0"));
  for (std::int64_t offset : {0, 5, 17, 33, 59}) {
    auto bytes = reopened.read("t", 0, offset, 1);
    REQUIRE(bytes);
    CHECK(BatchView(*bytes).base_offset() == offset);
  }
  CHECK(reopened.offset_for_timestamp("t", 0, 1030).value() == 30);
  REQUIRE(reopened.close());
  CHECK(std::filesystem::exists(segment_path(f, bases[0], ".index")));
}

TEST_CASE("recovery: after a clean shutdown nothing is scanned; after a crash only the tail") {
  EngineFixture f;
  f.options.preallocation = Preallocation::kFallocate;
  Engine& e = f.open();
  append_many(e, 80);
  Engine& clean = f.reopen();
  auto stats = clean.stats();
  CHECK(stats->recovered_clean_shutdown);
  CHECK(stats->recovery_scanned_bytes == 0);
  CHECK(f.all_values("t").size() == 80);
  // A checkpoint exists from the close; the crash loses nothing acknowledged (always mode), and
  // recovery reads only what follows the checkpoint, not the whole log.
  append_many(clean, 5);
  auto size = clean.describe_topic("t")->partitions[0].size_bytes;
  Engine& crashed = f.crash_and_reopen();
  stats = crashed.stats();
  CHECK_FALSE(stats->recovered_clean_shutdown);
  CHECK(stats->recovery_scanned_bytes > 0);
  CHECK(stats->recovery_scanned_bytes < size / 2);
  CHECK(f.all_values("t").size() == 85);
}

TEST_CASE("recovery: the end of a preallocated segment is found by scanning to the zeros") {
  for (Preallocation mode : {Preallocation::kNone, Preallocation::kFallocateKeepSize,
                             Preallocation::kFallocate, Preallocation::kZeroFill}) {
    CAPTURE(static_cast<int>(mode));
    EngineFixture f;
    f.options.preallocation = mode;
    f.options.segment_bytes = 64 * 1024;
    Engine& e = f.open();
    append_many(e, 7);
    // The preparer reserves a step (64 KiB, the whole segment here) ahead once it is written.
    if (mode == Preallocation::kFallocate || mode == Preallocation::kZeroFill)
      CHECK(ringlog::testing::wait_until(std::chrono::seconds(10), [&] {
        return std::filesystem::file_size(segment_path(f, 0)) == 64 * 1024;
      }));
    Engine& crashed = f.crash_and_reopen();
    CHECK(crashed.offsets("t", 0).value().second == 7);
    CHECK(crashed.append("t", 0, make_batch("next"))->first_offset == 7);
    CHECK(f.all_values("t").size() == 8);
  }
}

TEST_CASE(
    "recovery: damage inside a sealed segment is reported, readable up to it, appends refused") {
  EngineFixture f;
  Engine& e = f.open();
  append_many(e, 60);
  REQUIRE(e.close());
  f.engine.reset();
  auto bases = segment_bases(f);
  REQUIRE(bases.size() >= 3);
  // Damage the middle of the second segment; without a checkpoint recovery scans it.
  std::uint64_t middle = std::filesystem::file_size(segment_path(f, bases[1])) / 2;
  flip_byte(segment_path(f, bases[1]), middle);
  std::filesystem::remove(f.options.data_dir + "/" + std::string(kCheckpointFileName));
  std::filesystem::remove(f.options.data_dir + "/" + std::string(kCleanShutdownFileName));
  LogLevel saved = log_level();
  set_log_level(LogLevel::kOff);
  Engine& reopened = f.open();
  set_log_level(saved);
  auto info = reopened.describe_topic("t");
  REQUIRE(info);
  const PartitionInfo& p = info->partitions[0];
  REQUIRE(p.corruption.has_value());
  CHECK(p.corruption->find(segment_file_name(bases[1], ".log")) != std::string::npos);
  CHECK(p.high_watermark > bases[1]);
  CHECK(p.high_watermark < bases[2]);
  CHECK(reopened.stats()->corrupt_partitions == 1);
  auto values = f.all_values("t");
  CHECK(values.size() == static_cast<std::size_t>(p.high_watermark));
  auto refused = reopened.append("t", 0, make_batch("x"));
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code() == Errc::kCorruption);
  // Nothing was deleted: the later segment is still on disk.
  CHECK(std::filesystem::exists(segment_path(f, bases.back())));
}

TEST_CASE(
    "recovery: damage in the active segment below the checkpoint's durable point is never cut") {
  EngineFixture f;
  f.options.segment_bytes = 1 << 20;  // everything in one (active) segment
  append_many(f.open(), 10);
  f.reopen();  // a clean close: the checkpoint records all ten batches as durable
  int damaged = 0;
  SUBCASE("in the middle") {
    damaged = 4;
  }
  SUBCASE("in the last batch, with nothing valid after it") {
    damaged = 9;
  }
  CAPTURE(damaged);
  static_cast<EngineImpl&>(*f.engine).crash_for_testing();  // recovery after a crash
  f.engine.reset();
  const std::string path = segment_path(f, 0);
  const std::uint64_t at = static_cast<std::uint64_t>(damaged) * batch_bytes();
  flip_byte(path, at + batch_bytes() / 2);
  const auto damaged_bytes = file_bytes(path);
  // Below the checkpoint the bytes are trusted unread, as in sealed segments (restart time
  // follows the tail, not the log): recovery neither cuts them nor reads them. Consumers see the
  // damage as a CRC mismatch of that batch; `ringlog verify` reports it.
  Engine& e = open_quietly(f);
  const PartitionInfo p = e.describe_topic("t")->partitions[0];
  CHECK_FALSE(p.corruption.has_value());
  CHECK(p.high_watermark == 10);
  // Appends continue after the tenth batch: nothing below the durable point was given up.
  CHECK(e.append("t", 0, make_batch("after"))->first_offset == 10);
  REQUIRE(e.close());
  f.engine.reset();
  // The crash may have left a preallocated tail that the clean close trims: compare the ten
  // batches only.
  const auto after = file_bytes(path);
  REQUIRE(damaged_bytes.size() >= 10 * batch_bytes());
  REQUIRE(after.size() > 10 * batch_bytes());
  CHECK(std::equal(damaged_bytes.begin(),
                   damaged_bytes.begin() + static_cast<std::ptrdiff_t>(10 * batch_bytes()),
                   after.begin()));
}

TEST_CASE("recovery: damage in the active segment followed by a valid batch is reported") {
  EngineFixture f;
  f.options.segment_bytes = 1 << 20;
  append_many(f.open(), 10);
  REQUIRE(f.engine->close());
  f.engine.reset();
  // Without a checkpoint nothing is known to be durable: only the valid batch after the damage
  // tells it from a torn tail.
  std::filesystem::remove(f.options.data_dir + "/" + std::string(kCheckpointFileName));
  std::filesystem::remove(f.options.data_dir + "/" + std::string(kCleanShutdownFileName));
  const std::string path = segment_path(f, 0);
  SUBCASE("a flipped byte inside a batch") {
    flip_byte(path, 4 * batch_bytes() + 100);
  }
  SUBCASE("a batch's base offset (outside its CRC)") {
    flip_byte(path, 4 * batch_bytes() + 7);
  }
  const auto damaged_bytes = file_bytes(path);
  Engine& e = open_quietly(f);
  const PartitionInfo p = e.describe_topic("t")->partitions[0];
  REQUIRE(p.corruption.has_value());
  CHECK(p.corruption->find("byte " + std::to_string(4 * batch_bytes())) != std::string::npos);
  CHECK(p.corruption->find("valid batch at byte " + std::to_string(5 * batch_bytes())) !=
        std::string::npos);
  CHECK(p.high_watermark == 4);
  check_readable_prefix(f, 4);
  REQUIRE(e.close());
  f.engine.reset();
  CHECK(file_bytes(path) == damaged_bytes);
}

TEST_CASE("recovery: a torn tail after a crash is still trimmed in every durability mode") {
  for (std::string mode : {"always", "interval=1", "never"}) {
    CAPTURE(mode);
    for (std::uint64_t seed = 1; seed <= 8; ++seed) {
      CAPTURE(seed);
      EngineFixture f(seed);
      f.options.segment_bytes = 1 << 20;
      f.options.durability = *Durability::parse(mode);
      append_many(f.open(), 5);
      Engine& reopened = f.reopen();  // the clean close checkpoints the first five
      for (int i = 5; i < 10; ++i)
        REQUIRE(reopened.append("t", 0, make_batch("m" + std::to_string(i), 1, 1000 + i, 200)));
      Engine& e = f.crash_and_reopen(/*tear=*/true);
      const PartitionInfo p = e.describe_topic("t")->partitions[0];
      CHECK_FALSE(p.corruption.has_value());
      CHECK(p.high_watermark >= 5);  // the checkpointed part survives whole
      if (mode == "always") CHECK(p.high_watermark == 10);
      check_readable_prefix(f, static_cast<int>(p.high_watermark));
      auto next = e.append("t", 0, make_batch("after"));
      REQUIRE(next);
      CHECK(next->first_offset == p.high_watermark);
    }
  }
}

}  // namespace ringlog::test

namespace ringlog::test {

TEST_CASE("recovery: a torn consumer-offset commit is ignored and the previous value stands") {
  EngineFixture f;
  Engine& e = f.open();
  REQUIRE(e.create_topic("t", {}));
  REQUIRE(e.commit_offset("g", "t", 0, 41, "m"));
  REQUIRE(e.close());
  f.engine.reset();
  {
    std::ofstream out(f.options.data_dir + "/" + std::string(kGroupOffsetsFileName),
                      std::ios::app | std::ios::binary);
    out.write("\x00\x00\x00\x30\x12\x34", 6);  // a record header whose body never made it
  }
  Engine& reopened = f.open();
  auto got = reopened.committed_offset("g", "t", 0);
  REQUIRE(got);
  REQUIRE(got->has_value());
  CHECK((*got)->offset == 41);
  CHECK((*got)->metadata == "m");
  REQUIRE(reopened.commit_offset("g", "t", 0, 42));
  CHECK(f.reopen().committed_offset("g", "t", 0).value()->offset == 42);
}

namespace {

// A checkpoint in the version 1 or 2 layout (one CRC over the whole file), as older ringlog
// versions wrote it.
std::vector<std::byte> old_checkpoint(const Checkpoint& checkpoint, std::uint32_t version) {
  std::vector<std::byte> out;
  auto put = [&](auto value) {
    out.resize(out.size() + sizeof(value));
    store_be(out.data() + out.size() - sizeof(value), value);
  };
  put(std::uint32_t{0x524c4350});
  put(version);
  put(static_cast<std::uint32_t>(checkpoint.size()));
  for (const auto& [key, point] : checkpoint) {
    put(static_cast<std::uint16_t>(key.first.size()));
    for (char c : key.first)
      out.push_back(static_cast<std::byte>(c));
    put(key.second);
    put(point.offset);
    put(point.segment_base);
    put(point.position);
    put(point.max_timestamp_ms);
    if (version >= 2) put(static_cast<std::uint8_t>(point.damaged ? 1 : 0));
  }
  put(crc32c(out));
  return out;
}

}  // namespace

TEST_CASE("checkpoint: entries round-trip with the boot id; versions 1 and 2 still decode") {
  Checkpoint checkpoint;
  checkpoint[{"t", 0}] = RecoveryPoint{10, 0, 2760, 1009, false, 12, 0};
  checkpoint[{"u", 3}] = RecoveryPoint{5, 4, 100, -1, true, 5, 4};
  auto decoded = decode_checkpoint(encode_checkpoint(checkpoint, "boot-1"));
  REQUIRE(decoded);
  CHECK(decoded->points == checkpoint);
  CHECK(decoded->boot_id == "boot-1");
  CHECK(decoded->damage.empty());
  for (std::uint32_t version : {1u, 2u}) {
    CAPTURE(version);
    Checkpoint expected = checkpoint;
    for (auto& [key, point] : expected) {
      point.high_watermark = point.log_start = -1;  // not recorded before version 3
      if (version == 1) point.damaged = false;
    }
    auto old = decode_checkpoint(old_checkpoint(checkpoint, version));
    REQUIRE(old);
    CHECK(old->points == expected);
    CHECK(old->boot_id.empty());
    // A version 2 file with flags it does not know is unusable (recovery then scans all).
    std::vector<std::byte> damaged = old_checkpoint(checkpoint, version);
    damaged[damaged.size() - 10] ^= std::byte{1};
    CHECK(decode_checkpoint(damaged).error().code() == Errc::kCorruption);
  }
}

TEST_CASE("checkpoint: a damaged entry costs only its own partition, and is reported") {
  Checkpoint checkpoint;
  for (int i = 0; i < 5; ++i)
    checkpoint[{"topic-" + std::to_string(i), 0}] = RecoveryPoint{i, 0, 100u * i, -1, false, i, 0};
  auto bytes = encode_checkpoint(checkpoint, "boot");
  // The third entry: flip a byte inside it (the entries are in key order, all the same size).
  // The header: magic, version, count, the boot id's length and bytes, the header CRC.
  const std::size_t header = 4 + 4 + 4 + 2 + std::string("boot").size() + 4;
  const std::size_t entry = (bytes.size() - header) / 5;
  REQUIRE(header + 5 * entry == bytes.size());
  bytes[header + 2 * entry + 20] ^= std::byte{0x40};
  auto decoded = decode_checkpoint(bytes);
  REQUIRE(decoded);
  CHECK(decoded->points.size() == 4);
  CHECK_FALSE(decoded->points.contains({"topic-2", 0}));
  CHECK(decoded->points.at({"topic-4", 0}) == checkpoint.at({"topic-4", 0}));
  REQUIRE_FALSE(decoded->damage.empty());
  SUBCASE("a damaged header makes the whole checkpoint unusable") {
    bytes[9] ^= std::byte{1};
    CHECK(decode_checkpoint(bytes).error().code() == Errc::kCorruption);
  }
}

TEST_CASE("recovery: a damaged checkpoint is ignored and every segment is scanned instead") {
  EngineFixture f;
  Engine& e = f.open();
  for (int i = 0; i < 30; ++i)
    REQUIRE(e.append("t", 0, make_batch("m", 1, 1000, 200)));
  REQUIRE(e.close());
  f.engine.reset();
  {
    std::ofstream out(f.options.data_dir + "/" + std::string(kCheckpointFileName),
                      std::ios::binary | std::ios::trunc);
    out << "RLCP but not really a checkpoint";
  }
  LogLevel saved = log_level();
  set_log_level(LogLevel::kOff);
  Engine& reopened = f.open();
  set_log_level(saved);
  auto stats = reopened.stats();
  CHECK_FALSE(stats->recovered_clean_shutdown);
  CHECK(stats->recovery_scanned_bytes >= reopened.describe_topic("t")->partitions[0].size_bytes);
  CHECK(f.all_values("t").size() == 30);
}

TEST_CASE("recovery: a topic whose creation did not finish is moved aside on open, not removed") {
  EngineFixture f;
  f.open();
  REQUIRE(f.engine->close());
  f.engine.reset();
  std::filesystem::create_directories(f.options.data_dir + "/half/0");
  ringlog::testing::write_file(f.options.data_dir + "/half/0/00000000000000000000.log", "bytes");
  QuietLog quiet;
  Engine& e = f.open();
  CHECK(e.list_topics().empty());
  CHECK_FALSE(std::filesystem::exists(f.options.data_dir + "/half"));
  std::vector<std::string> moved;
  for (const auto& entry : std::filesystem::directory_iterator(f.options.data_dir + "/" +
                                                               std::string(kQuarantineDirName)))
    moved.push_back(entry.path().string());
  REQUIRE(moved.size() == 1);
  CHECK(ringlog::testing::read_file(moved[0] + "/0/00000000000000000000.log") == "bytes");
  REQUIRE(e.create_topic("half", TopicConfig{}));
}

}  // namespace ringlog::test
