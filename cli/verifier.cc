#include "cli/verifier.h"

#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <map>
#include <optional>

#include <ringlog/batch.h>

#include "cli/segment_files.h"
#include "engine/checkpoint.h"
#include "engine/file_layout.h"
#include "engine/group_offsets_file.h"
#include "engine/topic_config.h"
#include "io/env.h"

namespace ringlog::cli {
namespace {

// A batch found in a segment: where it starts and which offsets it holds.
struct BatchSpot {
  std::int64_t base_offset;
  std::int64_t max_timestamp_ms;
};

struct SegmentScan {
  std::map<std::uint64_t, BatchSpot> batches;  // by byte position
  std::uint64_t valid_end = 0;                 // end of the last sound batch
  std::int64_t next_offset = 0;
};

// Byte ranges [first, second) of `fd` from `from` to `end` that may hold non-zero data: the
// written extents (FIEMAP). Holes and unwritten (preallocated) extents read as zeros by
// definition, so a 1 GiB preallocated segment costs one ioctl instead of 1 GiB of reads. Without
// FIEMAP (tmpfs, ...) the whole range.
std::vector<std::pair<std::uint64_t, std::uint64_t>> written_ranges(int fd, std::uint64_t from,
                                                                    std::uint64_t end) {
  constexpr std::size_t kExtents = 256;
  std::vector<std::byte> buf(sizeof(fiemap) + kExtents * sizeof(fiemap_extent));
  std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges;
  std::uint64_t at = from;
  while (at < end) {
    std::fill(buf.begin(), buf.end(), std::byte{0});
    auto* map = reinterpret_cast<fiemap*>(buf.data());
    map->fm_start = at;
    map->fm_length = end - at;
    map->fm_flags = FIEMAP_FLAG_SYNC;
    map->fm_extent_count = kExtents;
    if (::ioctl(fd, FS_IOC_FIEMAP, map) != 0) return {{from, end}};
    if (map->fm_mapped_extents == 0) break;
    bool last = false;
    for (std::uint32_t i = 0; i < map->fm_mapped_extents; ++i) {
      const fiemap_extent& e = map->fm_extents[i];
      std::uint64_t lo = std::max<std::uint64_t>(e.fe_logical, from);
      std::uint64_t hi = std::min<std::uint64_t>(e.fe_logical + e.fe_length, end);
      if ((e.fe_flags & FIEMAP_EXTENT_UNWRITTEN) == 0 && lo < hi) ranges.emplace_back(lo, hi);
      at = e.fe_logical + e.fe_length;
      last = last || (e.fe_flags & FIEMAP_EXTENT_LAST) != 0;
    }
    if (last) break;
  }
  return ranges;
}

// The position of the first non-zero byte of `path` in [from, end), if any (with pread over the
// written extents only: cheaper than faulting in the mapping's pages).
std::optional<std::uint64_t> first_nonzero(const std::string& path, std::uint64_t from,
                                           std::uint64_t end) {
  static const std::array<std::byte, 1 << 20> kZeros{};
  std::vector<std::byte> buffer(kZeros.size());
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::optional<std::uint64_t> found;
  for (auto [lo, hi] : written_ranges(fd, from, end)) {
    for (std::uint64_t at = lo; at < hi && !found;) {
      std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(buffer.size(), hi - at));
      ssize_t got = ::pread(fd, buffer.data(), want, static_cast<off_t>(at));
      if (got <= 0) break;
      auto chunk = std::span(buffer).first(static_cast<std::size_t>(got));
      if (std::memcmp(chunk.data(), kZeros.data(), chunk.size()) != 0) {
        auto it =
            std::find_if(chunk.begin(), chunk.end(), [](std::byte b) { return b != std::byte{0}; });
        found = at + static_cast<std::uint64_t>(it - chunk.begin());
      }
      at += static_cast<std::uint64_t>(got);
    }
    if (found) break;
  }
  ::close(fd);
  return found;
}

// A batch that fails its CRC at the very end of the last segment, whose own last bytes and
// everything after it are zeros, is a write cut short by a crash in preallocated space (the
// prefix reached the disk, the rest stayed zeros). Recovery cuts it; it is not damage.
// The kernel copies a write into the page cache a page at a time, so a kill cuts it at a page
// boundary: then the batch is zero from its last page boundary to its end, which may be only a
// few bytes. Otherwise its last kZeroEnd bytes must be zero.
bool looks_torn(const std::string& path, std::span<const std::byte> bytes, std::uint64_t pos,
                std::size_t batch_bytes) {
  constexpr std::size_t kZeroEnd = 16;
  constexpr std::uint64_t kPageBytes = 4096;
  auto batch = bytes.subspan(pos, batch_bytes);
  if (batch.size() < kZeroEnd) return false;
  auto all_zero = [](std::span<const std::byte> s) {
    return std::all_of(s.begin(), s.end(), [](std::byte b) { return b == std::byte{0}; });
  };
  const std::uint64_t end_pos = pos + batch_bytes;
  const std::uint64_t last_page = (end_pos - 1) / kPageBytes * kPageBytes;
  const bool cut_at_page =
      last_page > pos && all_zero(bytes.subspan(last_page, end_pos - last_page));
  if (!cut_at_page && !all_zero(batch.last(kZeroEnd))) return false;
  return !first_nonzero(path, end_pos, bytes.size());
}

class Verifier {
 public:
  Verifier(std::string data_dir, const VerifyProgress& progress)
      : data_dir_(std::move(data_dir)), progress_(progress) {}

  Result<VerifyReport> run();

 private:
  // A partition directory to verify, and what the checkpoint says it held (if anything).
  struct PartitionDir {
    std::string path;
    const RecoveryPoint* point = nullptr;
  };

  void load_checkpoint();
  void verify_group_offsets();
  void verify_quarantine();
  // The partition count of a sound `@topic`, nullopt when it is missing or damaged.
  std::optional<std::int32_t> verify_topic_config(const std::string& topic_dir);
  void verify_partition_dirs(const std::string& topic, const std::string& topic_dir);
  void verify_partition(const PartitionDir& dir);
  void check_against_checkpoint(const PartitionDir& dir, const std::vector<std::int64_t>& bases,
                                std::int64_t log_end);
  SegmentScan scan_log(const std::string& path, std::int64_t base, bool last);
  void check_zero_tail(const std::string& path, std::span<const std::byte> bytes,
                       std::uint64_t from, bool last);
  void verify_offset_index(const std::string& path, std::int64_t base, const SegmentScan& scan);
  void verify_time_index(const std::string& path, std::int64_t base, const SegmentScan& scan);
  void damage(const std::string& file, std::uint64_t position, std::string problem) {
    report_.damage.push_back({file, position, std::move(problem)});
  }
  void warn(const std::string& file, std::uint64_t position, std::string problem) {
    report_.warnings.push_back({file, position, std::move(problem)});
  }
  std::uint64_t total_log_bytes();

  std::string data_dir_;
  const VerifyProgress& progress_;
  VerifyReport report_;
  std::uint64_t total_ = 0;
  std::uint64_t done_ = 0;
  std::vector<PartitionDir> partition_dirs_;
  Checkpoint checkpoint_;
  bool same_boot_ = false;  // the checkpoint was written since this machine booted
};

std::uint64_t file_size(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
}

// Every record, looking past damage as the engine does (group_offsets_file.h).
void Verifier::verify_group_offsets() {
  const std::string path = data_dir_ + "/@group-offsets";
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return;  // no commit yet
  auto file = MappedFile::open(path);
  if (!file) {
    damage(path, 0, "cannot read: " + file.error().message());
    return;
  }
  OffsetFileScan scan = scan_offset_records(file->bytes());
  report_.offset_records = scan.records;
  for (const OffsetFileScan::Gap& gap : scan.damage) {
    damage(path, gap.position,
           std::to_string(gap.bytes) +
               " bytes hold no sound record (bad length or CRC) and a "
               "sound record follows at byte " +
               std::to_string(gap.position + gap.bytes) +
               ": commits in them are lost (the next open keeps the rest and a copy of the file "
               "in @quarantine/)");
  }
  if (scan.torn_tail) {
    warn(path, scan.torn_tail->position,
         "the last " + std::to_string(scan.torn_tail->bytes) +
             " bytes are a commit cut short by a crash (never acknowledged); the next open drops "
             "them");
  }
}

// Whatever the engine moved aside stays damage until an operator deals with it.
void Verifier::verify_quarantine() {
  const std::string dir = data_dir_ + "/@quarantine";
  for (bool directories : {true, false}) {
    auto names = list_directory(dir, directories);
    if (!names) return;  // none
    for (const std::string& name : *names) {
      damage(dir + "/" + name, 0,
             "moved aside by ringlog on open (damaged or unaccounted for; the engine log says "
             "why): inspect it, then remove it or put it back (docs/durability.md)");
    }
  }
}

// A topic exists only with a sound `@topic`; open moves a directory without one aside.
std::optional<std::int32_t> Verifier::verify_topic_config(const std::string& topic_dir) {
  const std::string path = topic_dir + "/@topic";
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    damage(topic_dir, 0,
           "no @topic (a topic creation that did not finish, or a lost config file): ringlog does "
           "not know this topic, and its next open moves the directory to @quarantine/");
    return std::nullopt;
  }
  auto file = MappedFile::open(path);
  if (!file) {
    damage(path, 0, "cannot read: " + file.error().message());
    return std::nullopt;
  }
  auto bytes = file->bytes();
  auto config = decode_topic_config(
      std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  if (config) return config->partitions;
  if (config.error().code() == Errc::kUnsupported) {
    warn(path, 0, config.error().message() + " (not checked)");
    return std::nullopt;
  }
  damage(path, 0, config.error().message() + ": the next open moves the topic to @quarantine/");
  return std::nullopt;
}

Result<VerifyReport> Verifier::run() {
  auto topics = list_directory(data_dir_, true);
  if (!topics) return fail(topics.error());
  load_checkpoint();
  verify_group_offsets();
  verify_quarantine();
  for (const std::string& topic : *topics) {
    if (topic.starts_with('@')) continue;  // the engine's own (e.g. deleted topics)
    ++report_.topics;
    verify_partition_dirs(topic, data_dir_ + "/" + topic);
  }
  total_ = total_log_bytes();
  for (const PartitionDir& dir : partition_dirs_)
    verify_partition(dir);
  if (progress_) progress_(total_, total_);
  return std::move(report_);
}

// The checkpoint is what tells lost files from files that never were (docs/durability.md).
void Verifier::load_checkpoint() {
  const std::string path = data_dir_ + "/" + std::string(kCheckpointFileName);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return;  // none yet: nothing to compare with
  auto file = MappedFile::open(path);
  if (!file) {
    damage(path, 0, "cannot read: " + file.error().message());
    return;
  }
  auto decoded = decode_checkpoint(file->bytes());
  if (!decoded) {
    damage(path, 0,
           decoded.error().message() +
               ": recovery scans every segment, without the guard against lost files");
    return;
  }
  for (const std::string& why : decoded->damage)
    damage(path, 0, why + " (that partition is recovered by a scan of every segment)");
  checkpoint_ = std::move(decoded->points);
  same_boot_ = !decoded->boot_id.empty() && decoded->boot_id == make_posix_env()->boot_id();
}

// Every partition directory of a topic, and those its `@topic` promises that are missing.
void Verifier::verify_partition_dirs(const std::string& topic, const std::string& topic_dir) {
  const std::optional<std::int32_t> count = verify_topic_config(topic_dir);
  auto partitions = list_directory(topic_dir, true);
  if (!partitions) {
    damage(topic_dir, 0, partitions.error().message());
    return;
  }
  std::vector<std::int32_t> ids;
  for (const std::string& p : *partitions) {
    if (p.empty() || p.size() > 9 || (p.size() > 1 && p[0] == '0') ||
        !std::all_of(p.begin(), p.end(), [](char c) { return c >= '0' && c <= '9'; }))
      continue;
    ids.push_back(std::stoi(p));
  }
  std::sort(ids.begin(), ids.end());
  for (std::int32_t id = 0; count && id < *count; ++id) {
    if (std::binary_search(ids.begin(), ids.end(), id)) continue;
    damage(topic_dir + "/" + std::to_string(id), 0,
           "partition directory missing (" + topic + " has " + std::to_string(*count) +
               " partitions): everything it held is lost; the next open makes it anew, damaged, "
               "at the offset it had reached");
  }
  for (const std::int32_t id : ids) {
    auto point = checkpoint_.find({topic, id});
    partition_dirs_.push_back({topic_dir + "/" + std::to_string(id),
                               point == checkpoint_.end() ? nullptr : &point->second});
  }
}

std::uint64_t Verifier::total_log_bytes() {
  std::uint64_t total = 0;
  for (const PartitionDir& dir : partition_dirs_) {
    auto files = list_directory(dir.path, false);
    if (!files) continue;
    for (const std::string& f : *files)
      if (parse_segment_file_name(f, kLogSuffix)) total += file_size(dir.path + "/" + f);
  }
  return total;
}

void Verifier::verify_partition(const PartitionDir& partition) {
  const std::string& dir = partition.path;
  ++report_.partitions;
  auto files = list_directory(dir, false);
  if (!files) {
    damage(dir, 0, files.error().message());
    return;
  }
  std::vector<std::int64_t> bases;
  for (const std::string& f : *files) {
    if (auto base = parse_segment_file_name(f, kLogSuffix)) bases.push_back(*base);
  }
  std::sort(bases.begin(), bases.end());
  std::optional<std::int64_t> expected;
  for (std::size_t i = 0; i < bases.size(); ++i) {
    std::string path = dir + "/" + segment_file_name(bases[i], kLogSuffix);
    if (expected && bases[i] != *expected) {
      damage(path, 0,
             "segment starts at offset " + std::to_string(bases[i]) +
                 " but the previous segment ends at offset " + std::to_string(*expected) +
                 (bases[i] > *expected ? " (offsets missing)" : " (offsets overlap)"));
    }
    SegmentScan scan = scan_log(path, bases[i], i + 1 == bases.size());
    expected = scan.next_offset;
    verify_offset_index(dir + "/" + segment_file_name(bases[i], kIndexSuffix), bases[i], scan);
    verify_time_index(dir + "/" + segment_file_name(bases[i], kTimeIndexSuffix), bases[i], scan);
  }
  check_against_checkpoint(partition, bases, expected.value_or(-1));
  for (const std::string& f : *files) {
    for (std::string_view suffix : {kIndexSuffix, kTimeIndexSuffix}) {
      auto base = parse_segment_file_name(f, suffix);
      if (base && !std::binary_search(bases.begin(), bases.end(), *base))
        warn(dir + "/" + f, 0, "index without its segment file (left over; harmless)");
    }
  }
}

// What the checkpoint says was handed out must still be there: the oldest offset it kept (the
// log start: retention records a new one before it deletes) and its durable point, or its high
// watermark when the page cache survived (same boot). `log_end` is -1 without segments.
void Verifier::check_against_checkpoint(const PartitionDir& dir,
                                        const std::vector<std::int64_t>& bases,
                                        std::int64_t log_end) {
  if (dir.point == nullptr) return;
  const RecoveryPoint& point = *dir.point;
  if (point.damaged) {
    damage(dir.path, 0,
           "recorded as damaged by an earlier recovery (the engine log and `stats` say what was "
           "lost); the partition refuses appends");
  }
  if (point.log_start >= 0 && !bases.empty() && bases.front() > point.log_start) {
    damage(dir.path + "/" + segment_file_name(bases.front(), kLogSuffix), 0,
           "the log starts at offset " + std::to_string(bases.front()) +
               " but the checkpoint kept offsets from " + std::to_string(point.log_start) +
               ": offsets " + std::to_string(point.log_start) + ".." +
               std::to_string(bases.front() - 1) + " are lost (a segment file went missing)");
  }
  std::int64_t required = point.offset;
  if (same_boot_) required = std::max(required, point.high_watermark);
  if (point.damaged || log_end >= required) return;
  damage(dir.path, 0,
         (log_end < 0 ? std::string("no segment files")
                      : "the files end at offset " + std::to_string(log_end)) +
             " but the checkpoint says offsets up to " + std::to_string(required - 1) + " were " +
             (same_boot_ ? "acknowledged" : "durable") +
             ": the rest is lost (a segment file went missing or was cut)");
}

SegmentScan Verifier::scan_log(const std::string& path, std::int64_t base, bool last) {
  ++report_.segments;
  SegmentScan scan;
  scan.next_offset = base;
  auto file = MappedFile::open(path);
  if (!file) {
    damage(path, 0, "cannot read: " + file.error().message());
    return scan;
  }
  std::span<const std::byte> bytes = file->bytes();
  ParseOptions options;
  options.validate_records = true;
  options.max_batch_bytes = std::size_t{1} << 31;
  std::uint64_t pos = 0;
  std::uint64_t reported = 0;
  while (true) {
    if (progress_ && pos - reported >= (8u << 20)) {
      progress_(done_ + pos, total_);
      reported = pos;
    }
    ParsedBatch parsed = parse_batch(bytes.subspan(pos), options);
    if (parsed.status == ParseStatus::kEndOfData) break;
    if (parsed.status == ParseStatus::kZeroFilled) {
      check_zero_tail(path, bytes, pos, last);
      break;
    }
    if (parsed.status == ParseStatus::kTruncated || parsed.status == ParseStatus::kShortHeader) {
      std::string what = "batch cut short (" + std::string(parse_status_name(parsed.status)) + ")";
      if (last) {
        warn(path, pos, what + ": a torn tail from a crash; recovery cuts it");
      } else {
        damage(path, pos, what + " inside a sealed segment");
      }
      break;
    }
    if (parsed.status == ParseStatus::kBadMagic || parsed.status == ParseStatus::kBadLength) {
      damage(path, pos,
             std::string(parse_status_name(parsed.status)) +
                 ": not a batch header; the rest of this segment cannot be read");
      break;
    }
    const BatchView& batch = parsed.batch;
    scan.batches[pos] = {batch.base_offset(), batch.max_timestamp_ms()};
    scan.valid_end = pos + parsed.bytes;
    if (!parsed.ok() && last && looks_torn(path, bytes, pos, parsed.bytes)) {
      warn(path, pos,
           std::string(parse_status_name(parsed.status)) +
               " in a last batch that ends in zeros: a write cut by a crash; recovery cuts it");
      break;
    }
    if (!parsed.ok()) {
      damage(path, pos,
             std::string(parse_status_name(parsed.status)) + " in the batch of offsets " +
                 std::to_string(batch.base_offset()) + ".." + std::to_string(batch.last_offset()));
    } else if (batch.base_offset() != scan.next_offset) {
      damage(path, pos,
             "batch has base offset " + std::to_string(batch.base_offset()) + ", expected " +
                 std::to_string(scan.next_offset) + " (offsets not contiguous)");
    } else {
      ++report_.batches;
      report_.records += static_cast<std::uint64_t>(batch.record_count());
      report_.log_bytes += parsed.bytes;
    }
    scan.next_offset = batch.next_offset();
    pos += parsed.bytes;
  }
  done_ += bytes.size();
  if (progress_) progress_(done_, total_);
  return scan;
}

void Verifier::check_zero_tail(const std::string& path, std::span<const std::byte> bytes,
                               std::uint64_t from, bool last) {
  if (!last) {
    // Sealed segments are trimmed to their last batch when they roll.
    damage(path, from,
           "zeros after the last batch of a sealed segment (" +
               std::to_string(bytes.size() - from) +
               " bytes): sealed segments are trimmed at roll, so batches are missing here");
    return;
  }
  if (auto at = first_nonzero(path, from, bytes.size())) {
    warn(path, *at,
         "non-zero bytes after the end of the log at byte " + std::to_string(from) +
             " (not readable as batches; recovery cuts them)");
  }
}

void Verifier::verify_offset_index(const std::string& path, std::int64_t base,
                                   const SegmentScan& scan) {
  auto file = MappedFile::open(path);
  if (!file) return;  // indexes are optional: the engine rebuilds missing ones
  auto bytes = file->bytes();
  if (bytes.size() % kIndexEntryBytes != 0)
    warn(path, bytes.size() - bytes.size() % kIndexEntryBytes, "partial trailing index entry");
  auto entries = decode_offset_index(bytes);
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const IndexEntry& e = entries[i];
    std::uint64_t at = i * kIndexEntryBytes;
    std::int64_t offset = base + e.relative_offset;
    if (i > 0 && (e.relative_offset <= entries[i - 1].relative_offset ||
                  e.position <= entries[i - 1].position)) {
      damage(path, at, "index entry " + std::to_string(i) + " does not increase");
      return;
    }
    if (e.position >= scan.valid_end || offset >= scan.next_offset) {
      warn(path, at,
           "index entries from here point past the end of the log (stale; recovery "
           "drops them)");
      return;
    }
    auto spot = scan.batches.find(e.position);
    if (spot == scan.batches.end() || spot->second.base_offset != offset) {
      damage(path, at,
             "index entry " + std::to_string(i) + " says offset " + std::to_string(offset) +
                 " starts at byte " + std::to_string(e.position) + " of the log, but " +
                 (spot == scan.batches.end() ? std::string("no batch starts there")
                                             : "the batch there starts at offset " +
                                                   std::to_string(spot->second.base_offset)));
    }
  }
}

void Verifier::verify_time_index(const std::string& path, std::int64_t base,
                                 const SegmentScan& scan) {
  auto file = MappedFile::open(path);
  if (!file) return;
  auto bytes = file->bytes();
  if (bytes.size() % kTimeIndexEntryBytes != 0)
    warn(path, bytes.size() - bytes.size() % kTimeIndexEntryBytes,
         "partial trailing time index entry");
  auto entries = decode_time_index(bytes);
  // Running maximum timestamp at each batch, by base offset.
  std::map<std::int64_t, std::int64_t> max_through;
  std::int64_t running = -1;
  for (const auto& [pos, spot] : scan.batches) {
    running = std::max(running, spot.max_timestamp_ms);
    max_through[spot.base_offset] = running;
  }
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const TimeIndexEntry& e = entries[i];
    std::uint64_t at = i * kTimeIndexEntryBytes;
    std::int64_t offset = base + e.relative_offset;
    if (i > 0 && (e.timestamp_ms <= entries[i - 1].timestamp_ms ||
                  e.relative_offset < entries[i - 1].relative_offset)) {
      damage(path, at, "time index entry " + std::to_string(i) + " does not increase");
      return;
    }
    if (offset >= scan.next_offset) {
      warn(path, at, "time index entries from here point past the end of the log (stale)");
      return;
    }
    auto it = max_through.find(offset);
    if (it == max_through.end()) {
      damage(path, at,
             "time index entry " + std::to_string(i) + " names offset " + std::to_string(offset) +
                 ", where no batch of the log starts");
    } else if (it->second > e.timestamp_ms) {
      damage(path, at,
             "time index entry " + std::to_string(i) + " says timestamp " +
                 std::to_string(e.timestamp_ms) + " bounds the batches up to offset " +
                 std::to_string(offset) + ", but they reach " + std::to_string(it->second));
    }
  }
}

}  // namespace

Result<VerifyReport> verify_data_dir(const std::string& data_dir, const VerifyProgress& progress) {
  return Verifier(data_dir, progress).run();
}

}  // namespace ringlog::cli
