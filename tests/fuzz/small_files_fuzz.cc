// Fuzz target: the engine's small files (`@group-offsets`, a topic's `@topic`, the
// `@recovery-checkpoint`) damaged in place, then the directory opened by a real Engine.
//
// A template directory is made once: topic "t" (2 partitions, small segments, several of them
// sealed), 120 commits across 3 groups. Each input is a list of 4-byte edits
// [file, position high, position low, xor mask], applied to a fresh copy of the template (the
// position wraps at the file's size; a zero mask flips the lowest bit). Checks, after open:
//   - open never crashes and never fails, except with kUnsupported for a version it does not
//     know (refused, nothing changed): damage is reported, not fatal;
//   - the log is never shorter: both partitions keep their high watermark and every record reads
//     back (a damaged checkpoint costs a full scan, never data);
//   - no commit reads back a value that was never committed;
//   - no commit is lost without damage in EngineStats::damage - except in what the file's scan
//     calls a torn tail (no sound record up to the end), which flipped bytes near the end make
//     indistinguishable from commits a crash cut short (never acknowledged, docs/durability.md);
//   - the topic is there with its partitions, unless its `@topic` was reported damaged (and it
//     was moved to quarantine).
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include <ringlog/batch.h>
#include <ringlog/engine.h>

#include "engine/group_offsets_file.h"
#include "io/env.h"

namespace {

using namespace ringlog;
namespace fs = std::filesystem;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "small_files invariant violated: %s\n", what);
  std::abort();
}
#define FUZZ_CHECK(cond)      \
  do {                        \
    if (!(cond)) fail(#cond); \
  } while (0)

constexpr std::int32_t kPartitions = 2;
const char* const kFiles[] = {"@group-offsets", "t/@topic", "@recovery-checkpoint"};

using CommitKey = std::tuple<std::string, std::int32_t>;  // group, partition (topic "t")

struct Template {
  fs::path root;
  fs::path dir;
  std::int64_t high_watermark[kPartitions] = {};
  std::map<CommitKey, std::int64_t> commits;               // the last value of each
  std::map<CommitKey, std::vector<std::int64_t>> history;  // every value committed
  std::map<CommitKey, std::uint64_t> position;             // of each key's last record in the file
};

EngineOptions options_for(const fs::path& dir, Env* env) {
  EngineOptions options;
  options.data_dir = dir.string();
  options.env = env;
  options.segment_bytes = 16 << 10;
  options.preallocation = Preallocation::kNone;
  options.checkpoint_interval_ms = 3'600'000;  // written at close only
  return options;
}

Env& env() {
  static std::unique_ptr<Env> e = make_posix_env();
  return *e;
}

Template make_template() {
  Template t;
  char root[] = "/dev/shm/ringlog-fuzz-XXXXXX";
  if (::mkdtemp(root) == nullptr) fail("mkdtemp");
  t.root = root;
  t.dir = t.root / "template";
  auto engine = Engine::open(options_for(t.dir, &env()));
  FUZZ_CHECK(engine.has_value());
  FUZZ_CHECK((*engine)->create_topic("t", {.partitions = kPartitions}).has_value());
  for (int i = 0; i < 300; ++i) {
    BatchBuilder builder;
    const std::string value = "record " + std::to_string(i) + std::string(100, 'x');
    builder.add(std::nullopt, as_bytes(value));
    const auto batch = builder.finish();
    auto done =
        (*engine)->append("t", i % kPartitions, std::vector<std::byte>(batch.begin(), batch.end()));
    FUZZ_CHECK(done.has_value());
  }
  for (int i = 0; i < 120; ++i) {
    CommitKey key{"group-" + std::to_string(i % 3), (i / 3) % kPartitions};
    FUZZ_CHECK((*engine)->commit_offset(std::get<0>(key), "t", std::get<1>(key), i).has_value());
    t.commits[key] = i;
    t.history[key].push_back(i);
  }
  for (std::int32_t p = 0; p < kPartitions; ++p)
    t.high_watermark[p] = (*engine)->offsets("t", p)->second;
  engine->reset();  // a clean close writes the checkpoint
  std::ifstream in(t.dir / "@group-offsets", std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  scan_offset_records(std::as_bytes(std::span(bytes.data(), bytes.size())),
                      [&](OffsetRecord&& r, std::uint64_t at) {
                        t.position[{r.group, r.partition}] = at;
                      });
  FUZZ_CHECK(t.position.size() == t.commits.size());
  return t;
}

const Template& the_template() {
  static const Template t = make_template();
  return t;
}

void apply_edits(const fs::path& dir, const std::uint8_t* data, std::size_t size) {
  for (std::size_t i = 0; i + 4 <= size; i += 4) {
    const fs::path file = dir / kFiles[data[i] % 3];
    std::error_code ec;
    const auto length = fs::file_size(file, ec);
    if (ec || length == 0) continue;
    const std::size_t pos = ((std::size_t{data[i + 1]} << 8) | data[i + 2]) % length;
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(pos));
    char c = 0;
    f.get(c);
    f.seekp(static_cast<std::streamoff>(pos));
    f.put(static_cast<char>(c ^ (data[i + 3] == 0 ? 1 : data[i + 3])));
  }
}

bool reported(const EngineStats& stats, std::string_view what) {
  for (const std::string& d : stats.damage)
    if (d.find(what) != std::string::npos) return true;
  return false;
}

void check_log(Engine& engine, const Template& t) {
  for (std::int32_t p = 0; p < kPartitions; ++p) {
    auto offsets = engine.offsets("t", p);
    FUZZ_CHECK(offsets.has_value());
    FUZZ_CHECK(offsets->second == t.high_watermark[p]);
    std::int64_t next = offsets->first;
    while (next < offsets->second) {
      auto fetched = engine.fetch("t", p, next, 1 << 20);
      FUZZ_CHECK(fetched.has_value());
      FUZZ_CHECK(fetched->slice.length > 0);
      std::vector<std::byte> bytes(fetched->slice.length);
      FUZZ_CHECK(::pread(fetched->slice.fd, bytes.data(), bytes.size(),
                         static_cast<off_t>(fetched->slice.position)) ==
                 static_cast<ssize_t>(bytes.size()));
      std::int64_t last = next - 1;
      BatchReader reader(bytes);
      for (ParsedBatch b = reader.next(); b.ok(); b = reader.next())
        last = b.batch.last_offset();
      FUZZ_CHECK(last >= next);
      next = last + 1;
    }
  }
}

// Where the damaged file's torn tail starts, if it has one: the trace of commits a crash cut short
// (never acknowledged), which open drops without calling it damage. A flipped byte near the end
// of the file looks the same, so commits there may be lost silently.
std::uint64_t torn_from(const fs::path& dir) {
  std::ifstream in(dir / "@group-offsets", std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const OffsetFileScan scan =
      scan_offset_records(std::as_bytes(std::span(bytes.data(), bytes.size())));
  return scan.torn_tail ? scan.torn_tail->position : bytes.size();
}

void check_commits(Engine& engine, const Template& t, bool damage_reported, std::uint64_t torn) {
  for (const auto& [key, value] : t.commits) {
    auto got = engine.committed_offset(std::get<0>(key), "t", std::get<1>(key));
    FUZZ_CHECK(got.has_value());
    if (got->has_value() && (*got)->offset == value) continue;
    if (got->has_value()) {  // an older value of the same key is a lost commit, never a made-up one
      const auto& h = t.history.at(key);
      FUZZ_CHECK(std::find(h.begin(), h.end(), (*got)->offset) != h.end());
    }
    FUZZ_CHECK(damage_reported || t.position.at(key) >= torn);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const Template& t = the_template();
  const fs::path dir = t.root / "run";
  for (;;) {  // libFuzzer's timer signal may interrupt the copy (EINTR): start it again
    fs::remove_all(dir);
    std::error_code ec;
    fs::copy(t.dir, dir, fs::copy_options::recursive, ec);
    if (!ec) break;
    if (ec != std::errc::interrupted) fail("copy of the template directory failed");
  }
  fs::remove(dir / "@lock");
  apply_edits(dir, data, size);
  const std::uint64_t torn = torn_from(dir);

  auto engine = Engine::open(options_for(dir, &env()));
  if (!engine) {
    // The one refusal allowed: a version this ringlog does not know (a flipped version digit
    // reads as a newer format, which must not be quarantined as damage). Nothing is changed.
    std::fprintf(stderr, "open failed: %s\n", engine.error().to_string().c_str());
    FUZZ_CHECK(engine.error().code() == Errc::kUnsupported);
    FUZZ_CHECK(engine.error().message().find("newer ringlog") != std::string::npos);
    return 0;
  }
  auto stats_or = (*engine)->stats();
  if (!stats_or) fail("stats failed");
  const EngineStats stats = std::move(*stats_or);
  const auto topics = (*engine)->list_topics();
  if (topics.empty()) {
    FUZZ_CHECK(reported(stats, "@topic"));  // quarantined, and said so
  } else {
    auto info = (*engine)->describe_topic("t");
    FUZZ_CHECK(info.has_value());
    FUZZ_CHECK(info->partitions.size() == kPartitions || !stats.damage.empty());
    if (info->partitions.size() == kPartitions) check_log(**engine, t);
  }
  check_commits(**engine, t, !stats.damage.empty(), torn);
  engine->reset();
  return 0;
}
