#include "engine/partition.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <optional>

#include "engine/file_layout.h"
#include "engine/file_util.h"
#include "io/assert.h"
#include "io/log.h"

namespace ringlog {

namespace {
std::string partition_name(const std::string& topic, std::int32_t id) {
  return topic + "/" + std::to_string(id);
}

// The whole file, or nullopt when it does not exist (an index that was never written or was
// deleted: recovery rebuilds it).
Result<std::optional<std::vector<std::byte>>> read_file_if_exists(Env& env,
                                                                  const std::string& path) {
  auto exists = env.exists(path);
  if (!exists) return fail(exists.error());
  if (!*exists) return std::optional<std::vector<std::byte>>();
  auto bytes = read_whole_file(env, path);
  if (!bytes) return fail(bytes.error());
  return std::optional<std::vector<std::byte>>(std::move(*bytes));
}
}  // namespace

Partition::Partition(Env& env, std::string topic, std::int32_t id, std::string dir,
                     PartitionConfig config, SpaceBudget& budget, FileCache& files)
    : env_(env),
      topic_(std::move(topic)),
      id_(id),
      dir_(std::move(dir)),
      config_(config),
      budget_(budget),
      files_(files) {}

void Partition::check_offsets() const {
  RINGLOG_ASSERT(log_start_ <= durable_);
  RINGLOG_ASSERT(durable_ <= high_watermark_);
  RINGLOG_ASSERT(high_watermark_ <= log_end_);
}

// ---------------------------------------------------------------------------------------------
// Segment files

Status Partition::reserve(File& file, std::uint64_t from, std::uint64_t length, bool fresh) {
  if (length == 0) return {};
  switch (config_.preallocation) {
    case Preallocation::kNone:
      return {};
    case Preallocation::kFallocateKeepSize:
      return file.allocate(FilePos(from), length, true);
    case Preallocation::kFallocate:
      return file.allocate(FilePos(from), length, false);
    case Preallocation::kZeroFill: {
      // Zeros only where no writer can be (a fresh file): a fill racing the writer could land
      // over bytes it has just written. The active segment is reserved by fallocate.
      if (!fresh) return file.allocate(FilePos(from), length, false);
      std::vector<std::byte> zeros(std::min<std::uint64_t>(length, 1 << 20));
      for (std::uint64_t done = 0; done < length;) {
        std::size_t n =
            static_cast<std::size_t>(std::min<std::uint64_t>(zeros.size(), length - done));
        iovec iov{zeros.data(), n};
        if (auto s = file.write_at(FilePos(from + done), std::span(&iov, 1)); !s) return s;
        done += n;
      }
      return file.sync();
    }
  }
  return {};
}

void Partition::restore_reservation() {
  // The cut dropped the blocks reserved past the data (with an extending fallocate, the size):
  // take them again, metadata only. On failure the charge goes back.
  std::uint64_t end_pos = 0, to = 0;
  {
    std::shared_lock lock(mu_);
    end_pos = active_->end_pos;
    to = reservation_.end;
  }
  if (!reserving() || to <= end_pos) return;
  auto file = active_->file->open();
  if (file && (*file)->allocate(FilePos(end_pos), to - end_pos,
                                config_.preallocation == Preallocation::kFallocateKeepSize))
    return;
  std::unique_lock lock(mu_);
  budget_.release(reservation_.charged);
  reservation_.charged = 0;
  reservation_.end = active_->end_pos;
}

Result<std::unique_ptr<CachedFile>> Partition::open_new_segment_file(std::int64_t base) {
  std::string path = join_path(dir_, segment_file_name(base, kLogSuffix));
  bool prepared = false;
  {
    std::lock_guard lock(prepare_mu_);
    prepared = std::exchange(prepared_, false);
  }
  std::unique_ptr<File> file;
  if (prepared) {
    if (auto s = env_.rename_file(join_path(dir_, kPreparedSegmentName), path); !s)
      return fail(s.error());
    auto opened = env_.open_file(path, OpenMode::kReadWrite);
    if (!opened) return fail(opened.error());
    file = std::move(*opened);
  } else {
    // Not prepared in time: the preparer reserves its first step once it is written to.
    auto opened = env_.open_file(path, OpenMode::kCreateExclusive);
    if (!opened) return fail(opened.error());
    file = std::move(*opened);
  }
  if (auto s = env_.sync_dir(dir_); !s) return fail(s.error());
  return files_.adopt(env_, std::move(path), std::move(file));
}

bool Partition::claim_preparer_visit() {
  if (!reserve_wanted_.load(std::memory_order_relaxed) &&
      !prepare_wanted_.load(std::memory_order_relaxed))
    return false;
  return !preparer_queued_.exchange(true, std::memory_order_acq_rel);
}

Status Partition::prepare_space(std::uint64_t now_ms) {
  preparer_queued_.store(false, std::memory_order_release);  // asks from now on queue it again
  if (deleted()) return {};
  Status result;
  if (reserve_wanted_.exchange(false, std::memory_order_acq_rel))
    result = extend_reservation(now_ms);
  if (prepare_wanted_.load(std::memory_order_acquire)) {
    if (auto s = prepare_next_segment(); !s && result) result = s;
  }
  return result;
}

// Reserves up to one step past the write position, as the budget allows. A step the budget
// cannot give (or a failed fallocate: a full disk) is asked for again a step later; meanwhile
// the writes go on as plain appends.
Status Partition::extend_reservation(std::uint64_t now_ms) {
  std::lock_guard extending(extend_mu_);
  std::shared_ptr<Segment> seg;
  std::uint64_t end_pos = 0, from = 0, target = 0, granted = 0, step = 0;
  {
    std::unique_lock lock(mu_);
    if (deleted_ || segments_.empty()) return {};
    seg = segments_.back();
    end_pos = seg->end_pos;
    Reservation& r = reservation_;
    step = next_reservation_step(r.step, now_ms - r.last_ms, config_.reserve_min_step,
                                 config_.reserve_max_step);
    target = std::min(end_pos + step, std::max(config_.segment_bytes, end_pos));
    from = std::max(r.end, end_pos);
    const std::uint64_t ahead = r.end > end_pos ? r.end - end_pos : 0;
    if (target > from) granted = budget_.acquire(target - end_pos - std::min(ahead, r.charged));
    target = std::min(target, end_pos + std::min(ahead, r.charged) + granted);
    r.ask_at = end_pos + step;  // unless the step is reserved below
    if (target <= from) {
      budget_.release(granted);
      return {};
    }
  }
  auto file = seg->file->open();
  Status s = file ? reserve(**file, from, target - from, false) : Status(fail(file.error()));
  std::unique_lock lock(mu_);
  if (!s) {
    budget_.release(granted);
    return s.error().code() == Errc::kNoSpace ? Status() : s;
  }
  Reservation& r = reservation_;
  r.end = std::max(r.end, target);
  r.charged += granted;
  r.step = step;
  r.last_ms = now_ms;
  r.ask_at = r.end - step / 2;
  return {};
}

Status Partition::prepare_next_segment() {
  {
    std::lock_guard lock(prepare_mu_);
    if (prepared_) return {};
  }
  std::string path = join_path(dir_, kPreparedSegmentName);
  auto exists = env_.exists(path);
  if (!exists) return fail(exists.error());
  if (*exists) {
    if (auto s = env_.remove_file(path); !s) return s;
  }
  auto file = env_.open_file(path, OpenMode::kCreateExclusive);
  if (!file) return fail(file.error());
  // Its first step, as the active segment's last (within the budget).
  std::uint64_t step = 0;
  {
    std::shared_lock lock(mu_);
    step = std::clamp(reservation_.step, config_.reserve_min_step, config_.reserve_max_step);
  }
  const std::uint64_t granted =
      reserving() ? budget_.acquire(std::min(step, config_.segment_bytes)) : 0;
  Status s = reserve(**file, 0, granted, true);
  if (s) s = (*file)->sync();
  file->reset();  // closed until the roll takes it: no descriptor per prepared segment
  if (s) s = env_.sync_dir(dir_);
  if (!s) {
    budget_.release(granted);
    (void)env_.remove_file(path);
    return s;
  }
  std::lock_guard lock(prepare_mu_);
  prepared_ = true;
  prepared_reserved_ = granted;
  prepare_wanted_.store(false, std::memory_order_release);
  return {};
}

std::uint64_t Partition::reserved_ahead() const {
  std::uint64_t prepared = 0;
  {
    std::lock_guard lock(prepare_mu_);
    prepared = prepared_reserved_;
  }
  std::shared_lock lock(mu_);
  return reservation_.charged + prepared;
}

void Partition::release_reservations() {
  budget_.release(reservation_.charged);
  reservation_.charged = 0;
  std::lock_guard lock(prepare_mu_);
  budget_.release(prepared_reserved_);
  prepared_reserved_ = 0;
}

void Partition::adopt_recovered_reservation() {
  if (!reserving()) return;
  auto file = active_->file->open();
  auto size = file ? (*file)->size() : Result<std::uint64_t>(fail(file.error()));
  if (!size || *size <= active_->end_pos) {
    reservation_.end = active_->end_pos;
    return;
  }
  reservation_.end = *size;
  reservation_.charged = *size - active_->end_pos;
  budget_.charge(reservation_.charged);
  reservation_.step = std::min(reservation_.charged, config_.reserve_max_step);
  reservation_.ask_at = reservation_.end - reservation_.step / 2;
}

// ---------------------------------------------------------------------------------------------
// Creation and recovery

Status Partition::create() {
  return create_at(0);
}

Status Partition::create_at(std::int64_t base) {
  if (auto s = env_.create_dir(dir_); !s) return s;
  std::string path = join_path(dir_, segment_file_name(base, kLogSuffix));
  auto file = env_.open_file(path, OpenMode::kCreateExclusive);
  if (!file) return fail(file.error());
  // Nothing is reserved until the partition is written (space_budget.h).
  if (auto s = env_.sync_dir(dir_); !s) return s;
  active_ =
      std::make_shared<Segment>(base, dir_, files_.adopt(env_, std::move(path), std::move(*file)));
  segments_ = {active_};
  log_start_ = durable_ = high_watermark_ = log_end_ = base;
  durable_point_ = {base, base, 0, -1, false};
  writer_.next_offset = base;
  return {};
}

// Lists the segment files (sorted bases) and removes what a crash may have left behind: a
// prepared segment, temp files, indexes without their log.
Status Partition::load_segments(std::vector<std::int64_t>& bases) {
  auto names = env_.list_dir(dir_);
  if (!names) return fail(names.error());
  std::vector<std::string> orphans;
  for (const std::string& name : *names) {
    if (auto base = parse_segment_file_name(name, kLogSuffix)) bases.push_back(*base);
  }
  std::sort(bases.begin(), bases.end());
  for (const std::string& name : *names) {
    auto base = parse_segment_file_name(name, kIndexSuffix);
    if (!base) base = parse_segment_file_name(name, kTimeIndexSuffix);
    bool orphan_index = base && !std::binary_search(bases.begin(), bases.end(), *base);
    if (orphan_index || name == kPreparedSegmentName || name.ends_with(kTempSuffix))
      orphans.push_back(name);
  }
  for (const std::string& name : orphans) {
    if (auto s = env_.remove_file(join_path(dir_, name)); !s) return s;
  }
  return {};
}

Status Partition::load_index(Segment& seg, std::uint64_t trusted_end,
                             std::int64_t trusted_next_offset) {
  // Offset index: keep the longest prefix of entries that increase and point inside the
  // trusted bytes; the scan that follows (if any) adds the rest.
  seg.index.clear();
  seg.time_index.clear();
  auto index_bytes = read_file_if_exists(env_, seg.index_path());
  if (!index_bytes) return fail(index_bytes.error());
  if (const auto& raw = *index_bytes) {
    for (std::size_t at = 0; at + kIndexEntryBytes <= raw->size(); at += kIndexEntryBytes) {
      IndexEntry e = decode_index_entry(raw->data() + at);
      bool increasing =
          seg.index.empty() || (e.relative_offset > seg.index.back().relative_offset &&
                                e.position > seg.index.back().position);
      if (!increasing || e.position >= trusted_end ||
          seg.base_offset + e.relative_offset >= trusted_next_offset)
        break;
      seg.index.push_back(e);
    }
  }
  auto time_bytes = read_file_if_exists(env_, seg.time_index_path());
  if (!time_bytes) return fail(time_bytes.error());
  if (const auto& raw = *time_bytes) {
    for (std::size_t at = 0; at + kTimeIndexEntryBytes <= raw->size(); at += kTimeIndexEntryBytes) {
      TimeIndexEntry e = decode_time_index_entry(raw->data() + at);
      bool increasing =
          seg.time_index.empty() || (e.timestamp_ms > seg.time_index.back().timestamp_ms &&
                                     e.relative_offset >= seg.time_index.back().relative_offset);
      if (!increasing || seg.base_offset + e.relative_offset >= trusted_next_offset) break;
      seg.time_index.push_back(e);
    }
  }
  std::lock_guard lock(seg.index_mu);
  seg.index_persisted = seg.index.size();
  seg.time_index_persisted = seg.time_index.size();
  return {};
}

// Rebuilds both indexes of a segment from its bytes (CRC-checked), from the start.
Status Partition::rebuild_index(Segment& seg, File& file, std::uint64_t file_size,
                                RecoveryStats& stats) {
  seg.index.clear();
  seg.time_index.clear();
  seg.end_pos = 0;
  seg.next_offset = seg.base_offset;
  seg.max_timestamp_ms = -1;
  seg.last_batch_offset = -1;
  seg.bytes_since_index = 0;
  auto scan =
      scan_segment(seg, file, file_size, config_.index_interval_bytes, config_.max_batch_bytes);
  if (!scan) return fail(scan.error());
  stats.scanned_bytes += scan->bytes_scanned;
  {
    std::lock_guard lock(seg.index_mu);
    seg.index_persisted = 0;  // rewrite the index files from scratch
    seg.time_index_persisted = 0;
  }
  if (!scan->clean() || seg.end_pos != file_size) {
    mark_corrupt("segment " + seg.log_path() + ": invalid batch at byte " +
                 std::to_string(seg.end_pos) + " (" +
                 std::string(scan->offset_gap ? "offset gap" : parse_status_name(scan->stop)) +
                 ") inside a sealed segment");
  }
  return {};
}

Status Partition::truncate_torn_tail(Segment& seg, File& file, std::uint64_t file_size, bool zeros,
                                     RecoveryStats& stats) {
  if (file_size <= seg.end_pos) return {};
  // Whatever follows the last valid batch was never acknowledged (or is preallocated space):
  // cut it, so no stale bytes can ever be read back as batches. The preparer reserves space
  // again once the partition is written to.
  stats.truncated_bytes += file_size - seg.end_pos;
  if (auto s = file.truncate(seg.end_pos); !s) return s;
  // Zeros where the data ends (preallocated space, the usual end after a crash): the cut needs
  // no fdatasync of its own. The next sync of this file makes its new size durable with the
  // data appended (no append is acknowledged as durable before one), and a crash before that
  // leaves the same zeros for the next recovery to cut. Skipping it keeps a restart after a
  // crash from costing one fdatasync per written partition.
  if (zeros) return {};
  return file.sync();
}

void Partition::mark_corrupt(std::string why) {
  if (corruption_) return;
  RINGLOG_ERROR(
      "partition %s: %s; the partition stays readable up to the damage and refuses "
      "appends",
      partition_name(topic_, id_).c_str(), why.c_str());
  corruption_ = std::move(why);
}

// Does the last offset-index entry point at a batch header with the offset it claims?
bool Partition::index_matches(Segment& seg, File& file) {
  if (seg.index.empty()) return true;
  std::byte header[kBatchHeaderBytes];
  auto got = file.read_at(FilePos(seg.index.back().position), header);
  if (!got || *got != kBatchHeaderBytes) return false;
  BatchHeader h = read_batch_header(header);
  return h.magic == kMagicV2 && h.base_offset == seg.base_offset + seg.index.back().relative_offset;
}

Status Partition::load_trusted_segment(Segment& seg, File& file, std::uint64_t file_size,
                                       std::int64_t next_base, RecoveryStats& stats) {
  if (auto s = load_index(seg, file_size, next_base); !s) return s;
  bool usable = !seg.index.empty() || file_size <= config_.index_interval_bytes;
  if (!usable || seg.time_index.empty() || !index_matches(seg, file))
    return rebuild_index(seg, file, file_size, stats);
  // Where the segment really ends (not where the next file starts: a missing file between
  // them is a hole): the headers from the last index entry to the end of the file.
  const std::uint64_t from = seg.index.empty() ? 0 : seg.index.back().position;
  auto last = last_batch(file, from, file_size);  // headers only: not counted as scanned
  if (!last || !*last || (*last)->last_offset >= next_base)
    return rebuild_index(seg, file, file_size, stats);
  seg.end_pos = file_size;
  seg.next_offset = (*last)->last_offset + 1;
  seg.last_batch_offset = (*last)->base_offset;
  seg.max_timestamp_ms = seg.time_index.back().timestamp_ms;
  seg.sealed = true;
  return {};
}

// Where the scan of the active segment stopped, decides between a torn tail (cut it) and damage
// (report it, cut nothing). `durable_pos`: the checkpoint's durable position in this segment.
Status Partition::finish_active_segment(Segment& seg, File& file, std::uint64_t file_size,
                                        std::uint64_t durable_pos, const ScanResult& scan,
                                        RecoveryStats& stats) {
  auto what = [&] {
    return "segment " + seg.log_path() + ": invalid batch at byte " + std::to_string(seg.end_pos) +
           " (" + std::string(scan.offset_gap ? "offset gap" : parse_status_name(scan.stop)) + ")";
  };
  if (seg.end_pos < durable_pos) {
    mark_corrupt(what() + ", below the durable point at byte " + std::to_string(durable_pos) +
                 " recorded by the recovery checkpoint");
    return {};
  }
  // The end of the data in a preallocated segment is zeros (or the end of the file): nothing to
  // look past. Anything else (a bad CRC, magic or length, an offset gap) may be a torn write or
  // damage: a whole valid batch further on tells damage.
  bool clean_end = scan.stop == ParseStatus::kEndOfData || scan.stop == ParseStatus::kZeroFilled;
  if (!clean_end || scan.offset_gap) {
    std::uint64_t read = 0;
    auto next =
        find_valid_batch_after(file, seg.end_pos, file_size, seg.next_offset,
                               config_.damage_look_ahead_bytes, config_.max_batch_bytes, &read);
    stats.scanned_bytes += read;
    if (!next) return fail(next.error());
    if (*next) {
      mark_corrupt(what() + ", followed by a valid batch at byte " +
                   std::to_string((*next)->position) + " (offset " +
                   std::to_string((*next)->base_offset) + ")");
      return {};
    }
  }
  // A partition the checkpoint recorded as damaged keeps every byte (recover() reports it).
  if (recovered_point_ && recovered_point_->damaged) return {};
  return truncate_torn_tail(seg, file, file_size,
                            scan.stop == ParseStatus::kZeroFilled && !scan.offset_gap, stats);
}

Status Partition::recover_segment(Segment& seg, File& file, std::uint64_t file_size, bool last,
                                  std::int64_t next_base, const RecoveryPoint* point,
                                  bool clean_shutdown, RecoveryStats& stats) {
  bool before_point = point && seg.base_offset < point->segment_base;
  bool at_point = point && seg.base_offset == point->segment_base;
  // Sealed and below the checkpoint: trusted. Its end is its (trimmed, synced) size.
  bool trusted = point && !point->damaged;
  if (trusted && before_point && !last)
    return load_trusted_segment(seg, file, file_size, next_base, stats);
  // Below the checkpoint's durable point nothing may be cut. As for sealed segments, the bytes
  // below it are trusted without being read (restart time follows the tail written since the
  // checkpoint, not the segment size); damage there is never cut: readers see it as a bad CRC
  // and `ringlog verify` reports it. From the point on, the scan tells a torn tail from damage.
  std::uint64_t durable_pos = at_point ? point->position : 0;
  bool trust_to_point = trusted && at_point && point->position <= file_size;
  if (trust_to_point) {
    if (auto s = load_index(seg, point->position + 1, point->offset); !s) return s;
    seg.end_pos = point->position;
    seg.next_offset = point->offset;
    seg.max_timestamp_ms = point->max_timestamp_ms;
    seg.bytes_since_index = point->position - (seg.index.empty() ? 0 : seg.index.back().position);
    if (clean_shutdown && last) return {};
  } else {
    seg.index.clear();
    seg.time_index.clear();
  }
  auto scan =
      scan_segment(seg, file, file_size, config_.index_interval_bytes, config_.max_batch_bytes);
  if (!scan) return fail(scan.error());
  stats.scanned_bytes += scan->bytes_scanned;
  if (last) return finish_active_segment(seg, file, file_size, durable_pos, *scan, stats);
  if (!scan->clean() || seg.end_pos != file_size || seg.end_pos < durable_pos)
    mark_corrupt(
        "segment " + seg.log_path() + ": invalid batch at byte " + std::to_string(seg.end_pos) +
        " (" + std::string(scan->offset_gap ? "offset gap" : parse_status_name(scan->stop)) +
        ") inside a sealed segment" +
        (seg.end_pos < durable_pos
             ? " that the recovery checkpoint recorded up to byte " + std::to_string(durable_pos)
             : std::string()));
  seg.sealed = true;
  return {};
}

Status Partition::recover(const RecoveryPoint* point, bool clean_shutdown, bool same_boot,
                          RecoveryStats& stats) {
  // What the checkpoint says the partition had handed out, whatever the files say now.
  const std::optional<RecoveryPoint> guard =
      point ? std::optional<RecoveryPoint>(*point) : std::nullopt;
  std::vector<std::int64_t> bases;
  if (auto s = load_segments(bases); !s) return s;
  if (guard && guard->log_start > 0) {
    if (auto s = remove_retired_leftovers(bases, guard->log_start); !s) return s;
  }
  if (bases.empty()) return guard ? create_missing(*guard, "its segment files") : create();
  if (point && (point->segment_base < bases.front() ||
                !std::binary_search(bases.begin(), bases.end(), point->segment_base)))
    point = nullptr;  // the checkpoint does not describe these files: scan everything
  if (point) recovered_point_ = *point;
  if (point && point->damaged) clean_shutdown = false;  // trust nothing below it: scan it all
  for (std::size_t i = 0; i < bases.size() && !corruption_; ++i) {
    std::string path = join_path(dir_, segment_file_name(bases[i], kLogSuffix));
    auto opened = env_.open_file(path, OpenMode::kReadWrite);
    if (!opened) return fail(opened.error());
    std::shared_ptr<File> file = std::move(*opened);  // held open while this segment recovers
    auto size = file->size();
    if (!size) return fail(size.error());
    auto seg = std::make_shared<Segment>(bases[i], dir_, files_.adopt(env_, path, file));
    if (!segments_.empty() && segments_.back()->next_offset != seg->base_offset) {
      const std::int64_t previous_end = segments_.back()->next_offset;
      if (previous_end > seg->base_offset) {
        mark_corrupt("segment " + seg->log_path() + " starts at offset " +
                     std::to_string(seg->base_offset) + " but the previous one ends at " +
                     std::to_string(previous_end));
        break;
      }
      // A hole: the segment files that held these offsets are gone. What follows is still
      // served; the hole answers kDataLoss.
      note_lost(
          previous_end, seg->base_offset,
          "no segment file holds them (the file that did is missing) before " + seg->log_path());
    }
    bool last = i + 1 == bases.size();
    std::int64_t next_base = last ? INT64_MAX : bases[i + 1];
    RINGLOG_DEBUG("partition %s: recovering segment %lld (%llu bytes)%s",
                  partition_name(topic_, id_).c_str(), static_cast<long long>(bases[i]),
                  static_cast<unsigned long long>(*size), last ? " (last)" : "");
    if (auto s = recover_segment(*seg, *file, *size, last, next_base, point, clean_shutdown, stats);
        !s)
      return s;
    segments_.push_back(seg);
  }
  if (point && point->damaged)
    mark_corrupt(
        "recorded as damaged by an earlier recovery (the recovery checkpoint says so; "
        "remove it once the segments are repaired)");
  active_ = segments_.back();
  RINGLOG_DEBUG("partition %s: recovered, active segment %lld, end %lld at byte %llu",
                partition_name(topic_, id_).c_str(), static_cast<long long>(active_->base_offset),
                static_cast<long long>(active_->next_offset),
                static_cast<unsigned long long>(active_->end_pos));
  if (active_->sealed) active_->sealed = false;  // only reachable when corrupt
  log_start_ = segments_.front()->base_offset;
  log_end_ = high_watermark_ = durable_ = active_->next_offset;
  durable_point_ = {log_end_, active_->base_offset, active_->end_pos, active_->max_timestamp_ms,
                    false};
  writer_.next_offset = log_end_;
  adopt_recovered_reservation();
  if (guard && guard->log_start >= 0 && guard->log_start < log_start_) {
    // Retention records the new log start in a checkpoint before it deletes a file, so oldest
    // segments that are gone below the recorded log start were lost, not expired.
    note_lost(guard->log_start, log_start_,
              "the oldest segment files are missing (retention had not deleted them: the "
              "recovery checkpoint recorded the log start at " +
                  std::to_string(guard->log_start) + ")");
    log_start_ = guard->log_start;
  }
  if (guard) hold_to_checkpoint(*guard, clean_shutdown || same_boot);
  if (!lost_.empty() && !corruption_) mark_corrupt(lost_description());
  check_offsets();
  return {};
}

// The offsets the partition must still answer for: everything below the checkpoint's durable
// point always, and below its high watermark when the page cache survived (a clean shutdown or
// a process crash of the same boot). Files that hold less lost acknowledged data: the range is
// kept as lost (its reads fail with kDataLoss, its offsets are never handed out again) and the
// partition is damaged (it refuses appends). REQUIRES: the offsets are set from the segments.
void Partition::hold_to_checkpoint(const RecoveryPoint& guard, bool page_cache_intact) {
  std::int64_t required = guard.offset;
  if (page_cache_intact) required = std::max(required, guard.high_watermark);
  if (log_end_ >= required) return;
  note_lost(log_end_, required,
            "the files end at offset " + std::to_string(log_end_) +
                " but the recovery checkpoint recorded " + std::to_string(required) +
                (page_cache_intact ? " acknowledged" : " durable") +
                " (a segment file is missing or was cut)");
  log_end_ = high_watermark_ = required;
  writer_.next_offset = required;
  if (!recovered_point_) recovered_point_ = guard;
}

// Segments wholly below the log start a checkpoint recorded: retention had decided to delete them
// (it checkpoints first) and a crash came before it did. Deleted now.
Status Partition::remove_retired_leftovers(std::vector<std::int64_t>& bases,
                                           std::int64_t log_start) {
  while (bases.size() > 1 && bases[1] <= log_start) {
    const std::int64_t base = bases.front();
    for (std::string_view suffix : {kLogSuffix, kIndexSuffix, kTimeIndexSuffix}) {
      const std::string path = join_path(dir_, segment_file_name(base, suffix));
      auto exists = env_.exists(path);
      if (!exists) return fail(exists.error());
      if (*exists) {
        if (auto s = env_.remove_file(path); !s) return s;
      }
    }
    RINGLOG_INFO("partition %s: removed segment %lld, which retention had expired before a crash",
                 partition_name(topic_, id_).c_str(), static_cast<long long>(base));
    bases.erase(bases.begin());
  }
  return env_.sync_dir(dir_);
}

// A partition whose directory or files are gone although the checkpoint describes it: made
// anew with an empty segment at the offset it had reached, so that its offsets are never handed
// out again, and damaged, with everything it held lost.
Status Partition::create_missing(const RecoveryPoint& guard, std::string_view what) {
  const std::int64_t required = std::max(guard.offset, guard.high_watermark);
  if (required <= 0 && !guard.damaged) return create();
  if (auto s = create_at(required); !s) return s;
  const std::int64_t from = guard.log_start >= 0 ? std::min(guard.log_start, required) : 0;
  if (from < required)
    note_lost(from, required,
              std::string(what) +
                  " were missing although the recovery checkpoint recorded "
                  "offsets up to " +
                  std::to_string(required));
  log_start_ = from;
  recovered_point_ = guard;
  mark_corrupt(lost_.empty() ? std::string(what) + " were missing" : lost_description());
  return {};
}

void Partition::note_lost(std::int64_t from, std::int64_t to, std::string why) {
  RINGLOG_ASSERT(from < to);
  lost_.push_back({from, to, std::move(why)});
  std::sort(lost_.begin(), lost_.end(),
            [](const LostRange& a, const LostRange& b) { return a.from < b.from; });
}

std::string Partition::lost_description() const {
  std::string out;
  for (const LostRange& r : lost_) {
    if (!out.empty()) out += "; ";
    out +=
        "offsets [" + std::to_string(r.from) + ", " + std::to_string(r.to) + ") are lost: " + r.why;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Reads

bool Partition::corrupt() const {
  std::shared_lock lock(mu_);
  return corruption_.has_value();
}

std::optional<Error> Partition::write_failure() const {
  if (!failed_.load(std::memory_order_acquire)) return std::nullopt;
  std::shared_lock lock(mu_);
  return write_failure_;
}

void Partition::fail_writes(const Error& error) {
  {
    std::unique_lock lock(mu_);
    if (write_failure_) return;
    write_failure_ = error;
    failed_.store(true, std::memory_order_release);
  }
  RINGLOG_ERROR(
      "partition %s: %s; it refuses appends and its durable offset stays at what was "
      "synced before, until the engine is reopened",
      partition_name(topic_, id_).c_str(), error.to_string().c_str());
}

std::pair<std::int64_t, std::int64_t> Partition::offsets() const {
  std::shared_lock lock(mu_);
  return {log_start_, high_watermark_};
}

std::int64_t Partition::log_end() const {
  std::shared_lock lock(mu_);
  return log_end_;
}

PartitionInfo Partition::info() const {
  std::shared_lock lock(mu_);
  PartitionInfo out;
  out.partition = id_;
  out.log_start = log_start_;
  out.high_watermark = high_watermark_;
  out.durable = durable_;
  out.log_end = log_end_;
  for (const auto& seg : segments_)
    out.size_bytes += seg->end_pos;
  out.segments = segments_.size();
  out.corruption = corruption_;
  for (const LostRange& r : lost_)
    out.lost.emplace_back(r.from, r.to);
  if (write_failure_) out.write_failure = write_failure_->to_string();
  return out;
}

Result<FetchResult> Partition::fetch(std::int64_t offset, std::uint32_t max_bytes) const {
  auto fetched = fetch_open(offset, max_bytes);
  if (!fetched) return fail(fetched.error());
  return std::move(fetched->result);
}

Result<std::vector<std::byte>> Partition::read(std::int64_t offset, std::uint32_t max_bytes) const {
  auto fetched = fetch_open(offset, max_bytes);
  if (!fetched) return fail(fetched.error());
  const FileSlice& slice = fetched->result.slice;
  std::vector<std::byte> bytes(slice.length);
  if (bytes.empty()) return bytes;
  auto got = fetched->file->read_at(FilePos(slice.position), bytes);
  if (!got) return fail(got.error());
  if (*got != bytes.size())
    return fail(Errc::kCorruption,
                "segment " + fetched->file->path() + " is shorter than its index");
  return bytes;
}

// The file of a segment found in segments_ under mu_ (shared): it exists, since retention
// unlinks a segment's file only after taking it out of segments_ under mu_ (exclusive).
Result<std::shared_ptr<File>> Partition::open_for_read(const Segment& seg,
                                                       std::int64_t offset) const {
  auto file = seg.file->open();
  if (!file)
    return fail(file.error().with_context("read offset " + std::to_string(offset) + " of " +
                                          partition_name(topic_, id_)));
  return file;
}

Result<Partition::Fetched> Partition::fetch_open(std::int64_t offset,
                                                 std::uint32_t max_bytes) const {
  Fetched fetched;
  FetchResult& result = fetched.result;
  std::shared_ptr<Segment> seg;
  std::uint64_t from = 0, limit = 0;
  {
    std::shared_lock lock(mu_);
    result.high_watermark = high_watermark_;
    result.log_start = log_start_;
    if (offset < log_start_ || offset > high_watermark_)
      return fail(Errc::kOutOfRange, "offset " + std::to_string(offset) + " is out of range for " +
                                         partition_name(topic_, id_) + ": valid offsets are [" +
                                         std::to_string(log_start_) + ", " +
                                         std::to_string(high_watermark_) + "] (earliest " +
                                         std::to_string(log_start_) + ")");
    if (offset == high_watermark_) return fetched;
    if (const LostRange* lost = lost_at(offset))
      return fail(Errc::kDataLoss, "offset " + std::to_string(offset) + " of " +
                                       partition_name(topic_, id_) + " is lost: offsets [" +
                                       std::to_string(lost->from) + ", " +
                                       std::to_string(lost->to) + ") " + lost->why);
    auto it = std::upper_bound(
        segments_.begin(), segments_.end(), offset,
        [](std::int64_t o, const std::shared_ptr<Segment>& s) { return o < s->base_offset; });
    RINGLOG_ASSERT(it != segments_.begin());
    seg = *std::prev(it);
    RINGLOG_ASSERT(offset < seg->next_offset);  // a hole after it is in lost_
    from = seg->index_position_for(offset);
    limit = seg->end_pos;
    auto file = open_for_read(*seg, offset);
    if (!file) return fail(file.error());
    fetched.file = std::move(*file);
  }
  auto batch = find_batch(*fetched.file, from, limit, offset);
  if (!batch) return fail(batch.error());
  std::uint64_t length = std::min<std::uint64_t>(
      limit - batch->position, std::max<std::uint64_t>(max_bytes, batch->size_bytes));
  length = std::min<std::uint64_t>(length, UINT32_MAX);
  // The slice holds the open file, not the segment: a sender keeps the descriptor it sends from.
  result.slice = {fetched.file, fetched.file->fd(), batch->position,
                  static_cast<std::uint32_t>(length)};
  return fetched;
}

Result<std::int64_t> Partition::offset_for_timestamp(std::int64_t timestamp_ms) const {
  std::shared_ptr<File> file;
  std::uint64_t from = 0, limit = 0;
  std::int64_t high_watermark = 0;
  {
    std::shared_lock lock(mu_);
    high_watermark = high_watermark_;
    for (const auto& s : segments_) {
      if (s->max_timestamp_ms >= timestamp_ms && s->end_pos > 0) {
        auto opened = open_for_read(*s, s->base_offset);
        if (!opened) return fail(opened.error());
        file = std::move(*opened);
        from = s->time_search_position(timestamp_ms);
        limit = s->end_pos;
        break;
      }
    }
  }
  if (!file) return high_watermark;
  auto found = find_batch_by_time(*file, from, limit, timestamp_ms);
  if (!found) return fail(found.error());
  if (!*found) return high_watermark;
  return (*found)->base_offset;
}

// ---------------------------------------------------------------------------------------------
// Maintenance

std::vector<std::shared_ptr<Segment>> Partition::retire_expired(std::int64_t now_ms) {
  std::vector<std::shared_ptr<Segment>> victims;
  std::unique_lock lock(mu_);
  if (corruption_ || deleted_) return victims;
  std::uint64_t total = 0;
  for (const auto& seg : segments_)
    total += seg->end_pos;
  while (segments_.size() > 1 && segments_.front()->sealed) {
    const Segment& oldest = *segments_.front();
    bool too_old =
        oldest.max_timestamp_ms >= 0 &&
        now_ms - oldest.max_timestamp_ms > static_cast<std::int64_t>(config_.retention_ms);
    bool too_big = config_.retention_bytes >= 0 &&
                   total - oldest.end_pos >= static_cast<std::uint64_t>(config_.retention_bytes);
    if (!too_old && !too_big) break;
    total -= oldest.end_pos;
    victims.push_back(segments_.front());
    victims.back()->removed = true;
    segments_.erase(segments_.begin());
  }
  if (victims.empty()) return victims;
  log_start_ = segments_.front()->base_offset;
  check_offsets();
  return victims;
}

std::optional<std::int64_t> Partition::retention_deadline_ms() const {
  std::shared_lock lock(mu_);
  if (corruption_ || deleted_ || segments_.size() < 2 || !segments_.front()->sealed)
    return std::nullopt;
  const std::int64_t stamp = segments_.front()->max_timestamp_ms;
  constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  if (stamp < 0 || config_.retention_ms >= kMax - static_cast<std::uint64_t>(stamp))
    return std::nullopt;
  // retire_expired retires it once now - stamp > retention_ms.
  return stamp + static_cast<std::int64_t>(config_.retention_ms) + 1;
}

Status Partition::remove_retired(const std::vector<std::shared_ptr<Segment>>& victims) {
  for (const auto& seg : victims) {
    if (auto s = env_.remove_file(seg->log_path()); !s) return s;
    for (const std::string& p : {seg->index_path(), seg->time_index_path()}) {
      auto exists = env_.exists(p);
      if (exists && *exists) (void)env_.remove_file(p);
    }
  }
  return env_.sync_dir(dir_);
}

namespace {
template <typename Entry, typename Encode>
Status append_entries(Env& env, const std::string& dir, const std::string& path,
                      const std::vector<Entry>& entries, std::size_t from, std::size_t entry_bytes,
                      Encode encode) {
  if (from >= entries.size()) return {};
  auto exists = env.exists(path);
  if (!exists) return fail(exists.error());
  auto file = env.open_file(path, OpenMode::kCreateReadWrite);
  if (!file) return fail(file.error());
  std::vector<std::byte> bytes((entries.size() - from) * entry_bytes);
  for (std::size_t i = from; i < entries.size(); ++i)
    encode(bytes.data() + (i - from) * entry_bytes, entries[i]);
  iovec iov{bytes.data(), bytes.size()};
  if (from == 0) {
    if (auto s = (*file)->truncate(0); !s) return s;
  }
  if (auto s = (*file)->write_at(FilePos(from * entry_bytes), std::span(&iov, 1)); !s) return s;
  auto size = (*file)->size();
  if (!size) return fail(size.error());
  if (*size > entries.size() * entry_bytes) {  // stale entries from before a crash
    if (auto s = (*file)->truncate(entries.size() * entry_bytes); !s) return s;
  }
  if (auto s = (*file)->sync(); !s) return s;
  if (!*exists) return env.sync_dir(dir);
  return {};
}
}  // namespace

Status Partition::persist_indexes() {
  std::vector<std::shared_ptr<Segment>> segments;
  {
    std::shared_lock lock(mu_);
    segments = segments_;
  }
  for (const auto& seg : segments) {
    std::vector<IndexEntry> index;
    std::vector<TimeIndexEntry> time_index;
    {
      std::shared_lock lock(mu_);
      if (seg->removed) continue;
      index = seg->index;
      time_index = seg->time_index;
    }
    std::lock_guard lock(seg->index_mu);
    if (auto s = append_entries(env_, dir_, seg->index_path(), index, seg->index_persisted,
                                kIndexEntryBytes, encode_index_entry);
        !s)
      return s;
    seg->index_persisted = index.size();
    if (auto s = append_entries(env_, dir_, seg->time_index_path(), time_index,
                                seg->time_index_persisted, kTimeIndexEntryBytes,
                                encode_time_index_entry);
        !s)
      return s;
    seg->time_index_persisted = time_index.size();
  }
  return {};
}

const Partition::LostRange* Partition::lost_at(std::int64_t offset) const {
  for (const LostRange& r : lost_) {
    if (offset >= r.from && offset < r.to) return &r;
  }
  return nullptr;
}

std::optional<RecoveryPoint> Partition::recovery_point() const {
  std::shared_lock lock(mu_);
  if (deleted_) return std::nullopt;
  if (!corruption_) {
    RecoveryPoint point = durable_point_;
    point.high_watermark = high_watermark_;
    point.log_start = log_start_;
    return point;
  }
  // Keep the durable floor the damage was found with, so that no later recovery (clean or not)
  // trusts or cuts the damaged bytes.
  RecoveryPoint point = durable_point_;
  point.high_watermark = high_watermark_;
  point.log_start = log_start_;
  if (recovered_point_) point = *recovered_point_;
  point.damaged = true;
  return point;
}

void Partition::mark_deleted() {
  std::lock_guard extending(extend_mu_);
  std::unique_lock lock(mu_);
  deleted_ = true;
  release_reservations();
}

bool Partition::deleted() const {
  std::shared_lock lock(mu_);
  return deleted_;
}

// ---------------------------------------------------------------------------------------------
// Writer side

Result<bool> Partition::roll() {
  Segment& old = *active_;
  std::int64_t base = writer_.next_offset;
  RINGLOG_ASSERT(base == old.next_offset);
  // No reservation grows while the old segment is trimmed and replaced.
  std::lock_guard extending(extend_mu_);
  // 1. Seal the old segment: trim preallocated space, then sync, before anything relies on
  //    the trimmed size (KAFKA-21000: trim, then fsync, then trust). Blocks reserved with
  //    KEEP_SIZE lie past the size: the trim frees them too.
  auto old_file = old.file->open();
  if (!old_file) return fail(old_file.error());
  auto size = (*old_file)->size();
  if (!size) return fail(size.error());
  const bool keep_size_blocks =
      config_.preallocation == Preallocation::kFallocateKeepSize && reservation_.end > old.end_pos;
  if (*size != old.end_pos || keep_size_blocks) {
    if (auto s = (*old_file)->truncate(old.end_pos); !s) return fail(s.error());
  }
  if (auto s = (*old_file)->sync(); !s) {
    fail_writes(s.error().with_context("fdatasync on roll"));
    return fail(s.error());
  }
  bool prepared = false;
  std::uint64_t prepared_reserved = 0;
  {
    std::lock_guard lock(prepare_mu_);
    prepared = prepared_;
    prepared_reserved = prepared_reserved_;
    prepared_reserved_ = 0;  // handed to the new active segment's reservation below
  }
  RINGLOG_DEBUG("partition %s: roll at offset %lld (old segment %lld, %llu bytes)",
                partition_name(topic_, id_).c_str(), static_cast<long long>(base),
                static_cast<long long>(old.base_offset),
                static_cast<unsigned long long>(old.end_pos));
  // 2. The new segment (prepared in advance when possible), its name made durable.
  auto file = open_new_segment_file(base);
  if (!file) {
    budget_.release(prepared_reserved);
    return fail(file.error());
  }
  auto seg = std::make_shared<Segment>(base, dir_, std::move(*file));
  // 3. Publish: the old reservation is gone with the trim; the new one is the prepared file's.
  {
    std::unique_lock lock(mu_);
    old.sealed = true;
    old.note_sealed();
    segments_.push_back(seg);
    durable_ = log_end_;
    durable_point_ = {log_end_, base, 0, -1, false};
    budget_.release(reservation_.charged);
    reservation_.end = reservation_.charged = prepared_reserved;
    reservation_.ask_at = prepared_reserved - std::min(prepared_reserved, reservation_.step / 2);
    check_offsets();
  }
  active_ = std::move(seg);
  prepare_wanted_.store(false, std::memory_order_release);
  return prepared;
}

void Partition::publish_write(bool synced) {
  Segment& seg = *active_;
  std::unique_lock lock(mu_);
  std::uint64_t pos = writer_.write_pos;
  for (std::size_t i = 0; i < writer_.taken; ++i) {
    const AppendRequest& req = writer_.pending[i];
    std::size_t at = 0;
    while (at < req.bytes.size()) {
      BatchHeader h = read_batch_header(std::span(req.bytes.data() + at, kBatchHeaderBytes));
      auto size = static_cast<std::uint32_t>(12 + h.batch_length);
      seg.note_batch(
          {pos, size, h.base_offset, h.base_offset + h.last_offset_delta, h.max_timestamp_ms},
          config_.index_interval_bytes);
      pos += size;
      at += size;
    }
  }
  RINGLOG_ASSERT(seg.next_offset == writer_.next_offset);
  log_end_ = high_watermark_ = seg.next_offset;
  if (synced) {
    durable_ = log_end_;
    durable_point_ = {log_end_, seg.base_offset, seg.end_pos, seg.max_timestamp_ms, false};
  }
  check_offsets();
  if (reserving()) {
    Reservation& r = reservation_;
    const std::uint64_t ahead = r.end > seg.end_pos ? r.end - seg.end_pos : 0;
    if (r.charged > ahead) {  // the write used reserved bytes
      budget_.release(r.charged - ahead);
      r.charged = ahead;
    }
    if (seg.end_pos >= r.ask_at) reserve_wanted_.store(true, std::memory_order_relaxed);
  }
  if (seg.end_pos >= config_.segment_bytes / 2 &&
      !prepare_wanted_.load(std::memory_order_relaxed)) {
    std::lock_guard prepare_lock(prepare_mu_);
    if (!prepared_) prepare_wanted_.store(true, std::memory_order_relaxed);
  }
}

Result<bool> Partition::sync_published() {
  std::shared_ptr<Segment> seg;
  RecoveryPoint point;
  {
    std::shared_lock lock(mu_);
    if (write_failure_) return fail(*write_failure_);
    if (deleted_ || corruption_ || log_end_ <= durable_) return false;
    seg = segments_.back();
    point = {log_end_, seg->base_offset, seg->end_pos, seg->max_timestamp_ms, false};
  }
  auto file = seg->file->open();  // failing to open is not a failed sync: tried again later
  if (!file) return fail(file.error().with_context("open for fdatasync"));
  if (auto s = (*file)->sync(); !s) {
    Error error = s.error().with_context("fdatasync");
    fail_writes(error);
    return fail(error);
  }
  std::unique_lock lock(mu_);
  if (point.offset > durable_) {  // a roll meanwhile may have made more durable already
    durable_ = point.offset;
    durable_point_ = point;
    check_offsets();
  }
  return true;
}

void Partition::repair_failed_write() {
  Segment& seg = *active_;
  writer_.next_offset = seg.next_offset;
  auto file = seg.file->open();
  Status s = file ? (*file)->truncate(seg.end_pos) : Status(fail(file.error()));
  if (s) s = (*file)->sync();
  if (s) {
    restore_reservation();
    return;
  }
  fail_writes(s.error().with_context("cutting a failed write"));
}

}  // namespace ringlog
