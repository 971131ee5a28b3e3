// End to end: `ringlog verify` on clean and damaged directories.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "cli/cli_support.h"
#include "engine/group_offsets_file.h"

namespace ringlog::cli::test {

namespace {

// Small segments so that a few KiB of messages span several of them.
void produce_across_segments(const TempDir& dir) {
  REQUIRE(run_ringlog(dir.path(), {"topics", "create", "t", "--segment-size", "8KiB"}).exit_code ==
          0);
  std::string input;
  for (int i = 0; i < 3000; ++i)
    input += "message number " + std::to_string(i) + "\n";
  // Small batches: many batches per segment, so indexes get entries.
  RunResult r = run_ringlog(dir.path(), {"produce", "t", "--batch-size", "1KiB"}, input);
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
}

void flip_byte(const std::string& path, std::uint64_t position) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  REQUIRE(f.good());
  f.seekg(static_cast<std::streamoff>(position));
  char c = 0;
  f.get(c);
  f.seekp(static_cast<std::streamoff>(position));
  f.put(static_cast<char>(c ^ 0x20));
}

}  // namespace

TEST_CASE("cli: verify exits 0 on a clean directory") {
  TempDir dir;
  produce_across_segments(dir);
  RunResult r = run_ringlog(dir.path(), {"verify", "ringlog-data"});
  CHECK_MESSAGE(r.exit_code == 0, (r.out + r.err));
  CHECK(r.out.find(": clean") != std::string::npos);

  RunResult json = run_ringlog(dir.path(), {"verify", "--data", "ringlog-data", "--json"});
  CHECK(json.exit_code == 0);
  Json report = parse_json(json.out);
  CHECK(report["clean"].boolean);
  CHECK(report["segments"].number > 2);
  CHECK(report["records"].number == 3000);
  CHECK(report["damage"].array.empty());
}

TEST_CASE("cli: verify finds a flipped byte and names the file and batch position") {
  TempDir dir;
  produce_across_segments(dir);
  const std::string segment = dir / "ringlog-data/t/0/00000000000000000000.log";
  SUBCASE("in a record of the first segment (a sealed one)") {
    flip_byte(segment, 200);
    RunResult r = run_ringlog(dir.path(), {"verify", "ringlog-data"});
    CHECK_MESSAGE(r.exit_code == 3, (r.out + r.err));
    CHECK(r.out.find("DAMAGED ringlog-data/t/0/00000000000000000000.log at byte 0: crc_mismatch") !=
          std::string::npos);
    CHECK(r.out.find("1 damaged place(s) found") != std::string::npos);

    Json report = parse_json(run_ringlog(dir.path(), {"verify", "ringlog-data", "--json"}).out);
    CHECK_FALSE(report["clean"].boolean);
    REQUIRE(report["damage"].array.size() == 1);
    CHECK(report["damage"].array[0]["position"].number == 0);

    RunResult dump = run_ringlog(dir.path(), {"dump", segment});
    CHECK(dump.exit_code == 3);
    CHECK(dump.out.find("MISMATCH") != std::string::npos);
  }
  SUBCASE("in an offset index entry") {
    const std::string index = dir / "ringlog-data/t/0/00000000000000000000.index";
    REQUIRE(std::filesystem::file_size(index) >= 8);
    flip_byte(index, 7);  // the position of entry 0
    RunResult r = run_ringlog(dir.path(), {"verify", "ringlog-data"});
    CHECK_MESSAGE(r.exit_code == 3, (r.out + r.err));
    CHECK(r.out.find("00000000000000000000.index at byte 0: index entry 0") != std::string::npos);
  }
  SUBCASE("consume reports the damage too, with exit code 3") {
    flip_byte(segment, 200);
    RunResult r = run_ringlog(dir.path(), {"consume", "t", "--data", "ringlog-data"});
    // Either consume's CRC check catches the batch, or recovery marked the partition damaged:
    // in both cases the exit code says corruption and nothing damaged is printed as good.
    CHECK(r.exit_code == 3);
    CHECK(r.err.find("damaged") != std::string::npos);
    CHECK(r.out.find("message number 0\n") == std::string::npos);
  }
}

TEST_CASE("cli: verify tells a crash's torn tail (warning) from damage in the last segment") {
  TempDir dir;
  produce_across_segments(dir);
  // One more batch: whether it fills the active segment or rolls a new one, the last segment
  // then ends with it.
  REQUIRE(run_ringlog(dir.path(), {"produce", "t"}, "one last message of the test\n").exit_code ==
          0);
  // The active segment is the one with the highest base offset.
  std::string active;
  for (const auto& entry : std::filesystem::directory_iterator(dir / "ringlog-data/t/0")) {
    std::string name = entry.path().filename();
    if (name.ends_with(".log") && name > std::filesystem::path(active).filename().string())
      active = entry.path();
  }
  REQUIRE_FALSE(active.empty());
  auto batches =
      lines_of(run_ringlog(dir.path(), {"dump", active, "--json", "--batches-only"}).out);
  REQUIRE(batches.size() >= 2);
  Json last = parse_json(batches[batches.size() - 2]);
  auto position = static_cast<std::uint64_t>(last["position"].number);
  auto size = static_cast<std::uint64_t>(last["size_bytes"].number);
  SUBCASE("the last batch's second half never reached the disk") {
    std::fstream f(active, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(position + size / 2));
    f << std::string(size - size / 2, '\0');
    f.close();
    // A crash before the checkpoint covered that batch (a checkpoint saying it was written
    // would make the cut batch lost data, as the next test shows): the one of the clean close
    // goes, as if the process had been killed before writing it.
    std::filesystem::remove(dir / "ringlog-data/@recovery-checkpoint");
    RunResult r = run_ringlog(dir.path(), {"verify", "ringlog-data"});
    CHECK_MESSAGE(r.exit_code == 0, r.out);
    CHECK(r.out.find("warning: " + active.substr(dir.path().size() + 1) + " at byte " +
                     std::to_string(position)) != std::string::npos);
    CHECK(r.out.find("cut by a crash") != std::string::npos);
  }
  SUBCASE("a flipped byte in the last batch is damage") {
    flip_byte(active, position + size / 2);
    RunResult r = run_ringlog(dir.path(), {"verify", "ringlog-data"});
    CHECK_MESSAGE(r.exit_code == 3, r.out);
    CHECK(r.out.find("DAMAGED") != std::string::npos);
  }
}

TEST_CASE("cli: verify checks every @group-offsets record: damage in the middle vs a torn tail") {
  TempDir dir;
  produce_across_segments(dir);
  std::vector<std::byte> records;
  std::vector<std::size_t> starts;
  for (int i = 0; i < 20; ++i) {
    starts.push_back(records.size());
    encode_offset_record(records, {OffsetRecordKind::kCommit, "g" + std::to_string(i), "t", 0, i,
                                   "", 1'700'000'000'000 + i});
  }
  std::string bytes(reinterpret_cast<const char*>(records.data()), records.size());
  const std::string path = dir / "ringlog-data/@group-offsets";
  SUBCASE("a flipped byte in the middle is damage, named by file and byte") {
    bytes[starts[5] + 12] ^= 0x20;
    write_file(path, bytes);
    RunResult r = run_ringlog(dir.path(), {"verify", "ringlog-data"});
    CHECK_MESSAGE(r.exit_code == 3, r.out);
    CHECK(r.out.find("DAMAGED ringlog-data/@group-offsets at byte " + std::to_string(starts[5]) +
                     ": " + std::to_string(starts[6] - starts[5]) +
                     " bytes hold no sound record") != std::string::npos);
    Json report = parse_json(run_ringlog(dir.path(), {"verify", "ringlog-data", "--json"}).out);
    CHECK(report["offset_records"].number == 19);
  }
  SUBCASE("a last record cut short is a torn commit: a warning") {
    write_file(path, bytes.substr(0, bytes.size() - 7));
    RunResult r = run_ringlog(dir.path(), {"verify", "ringlog-data"});
    CHECK_MESSAGE(r.exit_code == 0, r.out);
    CHECK(r.out.find("warning: ringlog-data/@group-offsets at byte " + std::to_string(starts[19]) +
                     ": the last") != std::string::npos);
  }
  SUBCASE("sound records are clean") {
    write_file(path, bytes);
    RunResult r = run_ringlog(dir.path(), {"verify", "ringlog-data"});
    CHECK_MESSAGE(r.exit_code == 0, r.out);
  }
}

TEST_CASE("cli: verify reports a topic directory without a sound @topic") {
  TempDir dir;
  produce_across_segments(dir);
  const std::string config = dir / "ringlog-data/t/@topic";
  SUBCASE("a flipped byte fails the checksum") {
    std::string text = read_file(config);
    text[text.find("partitions=") + 11] ^= 0x01;
    write_file(config, text);
    RunResult r = run_ringlog(dir.path(), {"verify", "ringlog-data"});
    CHECK_MESSAGE(r.exit_code == 3, r.out);
    CHECK(r.out.find("DAMAGED ringlog-data/t/@topic at byte 0: topic config: checksum mismatch") !=
          std::string::npos);
  }
  SUBCASE("no @topic at all") {
    std::filesystem::remove(config);
    RunResult r = run_ringlog(dir.path(), {"verify", "ringlog-data"});
    CHECK_MESSAGE(r.exit_code == 3, r.out);
    CHECK(r.out.find("DAMAGED ringlog-data/t at byte 0: no @topic") != std::string::npos);
  }
  SUBCASE("a version 1 @topic (no checksum) is sound") {
    write_file(config, "ringlog-topic 1\npartitions=1\nsegment_bytes=8192\nend\n");
    RunResult r = run_ringlog(dir.path(), {"verify", "ringlog-data"});
    CHECK_MESSAGE(r.exit_code == 0, r.out);
  }
}

TEST_CASE("cli: verify reports what is left in @quarantine as damage") {
  TempDir dir;
  produce_across_segments(dir);
  std::filesystem::create_directories(dir / "ringlog-data/@quarantine/t-1700000000000/0");
  write_file(dir / "ringlog-data/@quarantine/@group-offsets-1700000000001", "x");
  RunResult r = run_ringlog(dir.path(), {"verify", "ringlog-data"});
  CHECK_MESSAGE(r.exit_code == 3, r.out);
  CHECK(r.out.find("DAMAGED ringlog-data/@quarantine/t-1700000000000 at byte 0: moved aside") !=
        std::string::npos);
  CHECK(r.out.find("DAMAGED ringlog-data/@quarantine/@group-offsets-1700000000001") !=
        std::string::npos);
  CHECK(r.out.find("2 damaged place(s) found") != std::string::npos);
}

TEST_CASE("cli: verify reports files the recovery checkpoint says were there and are gone") {
  TempDir dir;
  produce_across_segments(dir);
  const std::filesystem::path partition = dir / "ringlog-data/t/0";
  std::vector<std::filesystem::path> logs;
  for (const auto& entry : std::filesystem::directory_iterator(partition))
    if (entry.path().extension() == ".log" && !entry.path().filename().string().starts_with('@'))
      logs.push_back(entry.path());  // not @next.log, a prepared segment
  std::sort(logs.begin(), logs.end());
  REQUIRE(logs.size() > 2);
  REQUIRE(std::filesystem::exists(dir / "ringlog-data/@recovery-checkpoint"));
  SUBCASE("the active segment") {
    std::filesystem::remove(logs.back());
    RunResult r = run_ringlog(dir.path(), {"verify", "ringlog-data"});
    CHECK_MESSAGE(r.exit_code == 3, r.out);
    CHECK(r.out.find("the files end at offset") != std::string::npos);
    CHECK(r.out.find("offsets up to 2999 were") != std::string::npos);
    // Opening the directory marks the partition damaged, and verify keeps saying so.
    RunResult consume = run_ringlog(dir.path(), {"consume", "t", "--from", "0", "--count", "1"});
    CHECK_MESSAGE(consume.exit_code == 0, consume.err);
    RunResult again = run_ringlog(dir.path(), {"verify", "ringlog-data"});
    CHECK_MESSAGE(again.exit_code == 3, again.out);
    CHECK(again.out.find("recorded as damaged by an earlier recovery") != std::string::npos);
  }
  SUBCASE("the oldest segment") {
    std::filesystem::remove(logs.front());
    RunResult r = run_ringlog(dir.path(), {"verify", "ringlog-data"});
    CHECK_MESSAGE(r.exit_code == 3, r.out);
    CHECK(r.out.find("but the checkpoint kept offsets from 0") != std::string::npos);
  }
  SUBCASE("the partition directory") {
    std::filesystem::remove_all(partition);
    RunResult r = run_ringlog(dir.path(), {"verify", "ringlog-data"});
    CHECK_MESSAGE(r.exit_code == 3, r.out);
    CHECK(r.out.find("DAMAGED ringlog-data/t/0 at byte 0: partition directory missing") !=
          std::string::npos);
  }
  SUBCASE("nothing: the checkpoint agrees with the files") {
    RunResult r = run_ringlog(dir.path(), {"verify", "ringlog-data"});
    CHECK_MESSAGE(r.exit_code == 0, r.out);
  }
}

TEST_CASE("cli: verify reports a damaged recovery checkpoint") {
  TempDir dir;
  produce_across_segments(dir);
  const std::string checkpoint = dir / "ringlog-data/@recovery-checkpoint";
  flip_byte(checkpoint, std::filesystem::file_size(checkpoint) - 6);
  RunResult r = run_ringlog(dir.path(), {"verify", "ringlog-data"});
  CHECK_MESSAGE(r.exit_code == 3, r.out);
  CHECK(r.out.find("DAMAGED ringlog-data/@recovery-checkpoint") != std::string::npos);
}

TEST_CASE("cli: verify of a directory that does not exist is an error, not a clean report") {
  TempDir dir;
  RunResult r = run_ringlog(dir.path(), {"verify", "missing"});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("missing") != std::string::npos);
}

}  // namespace ringlog::cli::test
