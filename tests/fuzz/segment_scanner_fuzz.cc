// Fuzz target: the recovery scanner (engine/segment.h scan_segment) over arbitrary segment bytes,
// plus the header walks that reads use over what recovery accepted (find_batch,
// find_batch_by_time).
//
// The first byte chooses the options: bits 0-1 the max batch size, bit 2 the index interval,
// bit 3 a base offset taken from the first batch's header (so huge offsets are reachable), bit 4
// ~250 KiB of valid batches before the fuzzed bytes (so they straddle the scanner's read chunk),
// bit 5 renumbering the fuzzed batches' base offsets to be contiguous. The rest is the segment
// file, served from memory by MemFile. Checks:
//   - the scan never reports as valid a byte that an independent walk with CRC checks rejects:
//     [0, end_pos) is exactly a run of kOk batches with contiguous offsets from the base;
//   - it stops only where the next batch is not valid (no early stop), and says why;
//   - index entries point at batch starts inside [0, end_pos), in increasing order;
//   - find_batch finds, for every offset of every accepted batch, that batch.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <ringlog/batch.h>

#include "engine/segment.h"
#include "io/env.h"

namespace {

using namespace ringlog;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "segment_scanner invariant violated: %s\n", what);
  std::abort();
}
#define FUZZ_CHECK(cond)      \
  do {                        \
    if (!(cond)) fail(#cond); \
  } while (0)

// A read-only file in memory: the scanner reads it through the File seam like a real segment.
class MemFile final : public File {
 public:
  explicit MemFile(std::span<const std::byte> bytes) : bytes_(bytes) {}
  Status write_at(FilePos, std::span<const iovec>) override { fail("scanner wrote"); }
  Result<std::size_t> read_at(FilePos pos, std::span<std::byte> out) override {
    if (pos.bytes >= bytes_.size()) return std::size_t{0};
    std::size_t n = std::min<std::size_t>(out.size(), bytes_.size() - pos.bytes);
    if (n > 0) std::memcpy(out.data(), bytes_.data() + pos.bytes, n);
    return n;
  }
  Status sync() override { fail("scanner synced"); }
  Status allocate(FilePos, std::uint64_t, bool) override { fail("scanner allocated"); }
  Status truncate(std::uint64_t) override { fail("scanner truncated"); }
  Result<std::uint64_t> size() override { return bytes_.size(); }
  int fd() const override { return -1; }
  const std::string& path() const override { return path_; }

 private:
  std::span<const std::byte> bytes_;
  std::string path_ = "/fuzz/00000000000000000000.log";
};

struct Accepted {
  std::uint64_t position;
  std::int64_t base_offset;
  std::int64_t last_offset;
};

// The independent oracle: walks [from, end) with parse_batch and CRC checks; every batch must be
// kOk and continue the offsets from `next`. (Bytes before `from` are the known-valid prefix.)
std::vector<Accepted> walk_valid(std::span<const std::byte> data, std::uint64_t from,
                                 std::uint64_t end, std::int64_t next,
                                 std::size_t max_batch_bytes) {
  std::vector<Accepted> batches;
  std::uint64_t pos = from;
  const ParseOptions options{.max_batch_bytes = max_batch_bytes, .check_crc = true};
  while (pos < end) {
    ParsedBatch parsed = parse_batch(data.subspan(pos, end - pos), options);
    if (!parsed.ok()) fail("scanner accepted bytes that do not parse (or fail their CRC)");
    FUZZ_CHECK(parsed.batch.crc_matches());
    FUZZ_CHECK(parsed.batch.base_offset() == next);
    FUZZ_CHECK(parsed.batch.last_offset_delta() >= 0);
    batches.push_back({pos, parsed.batch.base_offset(), parsed.batch.last_offset()});
    next = parsed.batch.next_offset();
    pos += parsed.bytes;
  }
  FUZZ_CHECK(pos == end);
  return batches;
}

void check_stop(std::span<const std::byte> data, const ScanResult& scan,
                std::size_t max_batch_bytes) {
  const std::span<const std::byte> rest = data.subspan(scan.end_pos);
  ParsedBatch at_end = parse_batch(rest, {.max_batch_bytes = max_batch_bytes, .check_crc = true});
  if (scan.offset_gap) {
    FUZZ_CHECK(at_end.ok());
    FUZZ_CHECK(at_end.batch.base_offset() != scan.next_offset ||
               at_end.batch.last_offset_delta() < 0);
    return;
  }
  // A valid, contiguous batch right where the scan stopped would be an early stop.
  FUZZ_CHECK(!at_end.ok());
  if (scan.stop != ParseStatus::kBadLength) FUZZ_CHECK(scan.stop == at_end.status);
  if (scan.clean()) FUZZ_CHECK(rest.empty() || at_end.status == ParseStatus::kZeroFilled);
}

void check_indexes(const Segment& seg, const std::vector<Accepted>& batches, std::uint64_t from) {
  std::uint64_t last_position = 0;
  for (std::size_t i = 0; i < seg.index.size(); ++i) {
    const IndexEntry& e = seg.index[i];
    if (i > 0) FUZZ_CHECK(e.position > last_position);
    last_position = e.position;
    if (e.position < from) continue;  // in the known-valid prefix
    bool at_batch = false;
    for (const Accepted& b : batches) {
      at_batch |= b.position == e.position &&
                  static_cast<std::uint32_t>(b.base_offset - seg.base_offset) == e.relative_offset;
    }
    FUZZ_CHECK(at_batch);
  }
}

void check_find(Segment& seg, File& file, const std::vector<Accepted>& batches, std::uint64_t end) {
  // A few offsets of each batch (ends and middle); keep the work per input bounded.
  for (std::size_t i = 0; i < batches.size() && i < 64; ++i) {
    const Accepted& b = batches[i];
    if (b.last_offset < b.base_offset) continue;  // wrapped: not addressable
    for (std::int64_t offset :
         {b.base_offset, b.base_offset + (b.last_offset - b.base_offset) / 2, b.last_offset}) {
      auto found = find_batch(file, seg.index_position_for(offset), end, offset);
      if (!found) fail("find_batch failed on a recovered segment");
      FUZZ_CHECK(found->position <= b.position);
      if (found->position != b.position) {
        // An earlier batch may claim the offset too only if its range covers it.
        FUZZ_CHECK(found->base_offset <= offset && offset <= found->last_offset);
      }
    }
  }
  (void)find_batch_by_time(file, 0, end, 0);
}

// Valid batches (offsets 0..n-1) filling the file up to just before the scanner's 256 KiB read
// chunk, so that the fuzzed bytes after them straddle a chunk boundary.
const std::vector<std::byte>& chunk_prefix(std::int64_t& next_offset) {
  static std::int64_t count = 0;
  static const std::vector<std::byte> prefix = [] {
    std::vector<std::byte> out;
    const std::string value(4000, 'p');
    while (out.size() < (256u << 10) - 5000) {
      BatchBuilder builder({.base_offset = count});
      builder.add(std::nullopt, as_bytes(value), {}, 1'700'000'000'000);
      auto bytes = builder.finish();
      out.insert(out.end(), bytes.begin(), bytes.end());
      ++count;
    }
    return out;
  }();
  next_offset = count;
  return prefix;
}

// Gives every batch-shaped run in `data` contiguous base offsets from `next` (baseOffset is not
// CRC-covered), so the fuzzer need not guess offsets to reach the scanner's deeper states.
void renumber(std::span<std::byte> data, std::int64_t next) {
  std::size_t pos = 0;
  while (pos < data.size()) {
    ParsedBatch parsed = parse_batch(data.subspan(pos), {.check_crc = false});
    if (parsed.bytes == 0) return;
    set_base_offset(data.subspan(pos), next);
    next = parsed.batch.next_offset();
    pos += parsed.bytes;
  }
}

std::int64_t first_header_base(std::span<const std::byte> data) {
  if (data.size() < kBatchHeaderBytes) return 0;
  return read_batch_header(data).base_offset;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* raw, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t mode = raw[0];
  static std::vector<std::byte> file;  // reused: large allocations dominate the run time
  file.clear();
  std::int64_t fuzzed_base = 0;
  if (mode & 16) {
    const auto& prefix = chunk_prefix(fuzzed_base);
    file.insert(file.end(), prefix.begin(), prefix.end());
  }
  const std::size_t fuzzed_at = file.size();
  const auto* fuzzed = reinterpret_cast<const std::byte*>(raw + 1);
  file.insert(file.end(), fuzzed, fuzzed + size - 1);
  if (mode & 32) renumber(std::span(file).subspan(fuzzed_at), fuzzed_base);
  const std::span<const std::byte> data(file);
  const std::size_t max_batches[] = {kDefaultMaxBatchBytes, 128, 1024, (1u << 20) + 512};
  const std::size_t max_batch_bytes = (mode & 16) ? kDefaultMaxBatchBytes : max_batches[mode & 3];
  const std::uint32_t index_interval = (mode & 4) ? 1 : 4096;
  const std::int64_t base = (mode & 8) && !(mode & 16) ? first_header_base(data) : 0;

  Segment seg(base, "/fuzz", nullptr);
  MemFile mem(data);
  auto scan = scan_segment(seg, mem, data.size(), index_interval, max_batch_bytes);
  if (!scan) fail("scan_segment returned an error over an in-memory file");
  FUZZ_CHECK(scan->end_pos <= data.size());
  FUZZ_CHECK(scan->end_pos == seg.end_pos);
  FUZZ_CHECK(scan->next_offset == seg.next_offset);
  // The known-valid prefix (mode bit 4) must be accepted whole; the oracle checks the rest.
  FUZZ_CHECK(scan->end_pos >= fuzzed_at);
  const std::int64_t walk_base = fuzzed_at > 0 ? fuzzed_base : base;
  std::vector<Accepted> batches =
      walk_valid(data, fuzzed_at, scan->end_pos, walk_base, max_batch_bytes);
  FUZZ_CHECK(scan->next_offset == (batches.empty() ? walk_base : batches.back().last_offset + 1));
  check_stop(data, *scan, max_batch_bytes);
  check_indexes(seg, batches, fuzzed_at);
  check_find(seg, mem, batches, scan->end_pos);
  return 0;
}
