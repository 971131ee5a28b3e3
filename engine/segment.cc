#include "engine/segment.h"

#include <algorithm>

#include "engine/endian.h"
#include "engine/file_layout.h"
#include "io/assert.h"

namespace ringlog {

Segment::Segment(std::int64_t base, std::string dir_path, std::unique_ptr<CachedFile> log_file)
    : base_offset(base), dir(std::move(dir_path)), file(std::move(log_file)), next_offset(base) {}

std::string Segment::log_path() const {
  return join_path(dir, segment_file_name(base_offset, kLogSuffix));
}
std::string Segment::index_path() const {
  return join_path(dir, segment_file_name(base_offset, kIndexSuffix));
}
std::string Segment::time_index_path() const {
  return join_path(dir, segment_file_name(base_offset, kTimeIndexSuffix));
}

void Segment::note_batch(const BatchInfo& batch, std::uint32_t index_interval_bytes) {
  RINGLOG_ASSERT(batch.position == end_pos);
  RINGLOG_ASSERT(batch.base_offset == next_offset);
  RINGLOG_ASSERT(batch.last_offset >= batch.base_offset);
  auto relative = static_cast<std::uint32_t>(batch.base_offset - base_offset);
  max_timestamp_ms = std::max(max_timestamp_ms, batch.max_timestamp_ms);
  if (bytes_since_index >= index_interval_bytes) {
    index.push_back({relative, static_cast<std::uint32_t>(batch.position)});
    bytes_since_index = 0;
    if (time_index.empty() || max_timestamp_ms > time_index.back().timestamp_ms)
      time_index.push_back({max_timestamp_ms, relative});
  }
  bytes_since_index += batch.size_bytes;
  end_pos += batch.size_bytes;
  next_offset = batch.last_offset + 1;
  last_batch_offset = batch.base_offset;
}

void Segment::note_sealed() {
  if (last_batch_offset < 0) return;
  auto relative = static_cast<std::uint32_t>(last_batch_offset - base_offset);
  if (time_index.empty() || max_timestamp_ms > time_index.back().timestamp_ms)
    time_index.push_back({max_timestamp_ms, relative});
}

std::uint64_t Segment::index_position_for(std::int64_t offset) const {
  if (offset < base_offset) return 0;
  auto relative = static_cast<std::uint64_t>(offset - base_offset);
  auto it =
      std::upper_bound(index.begin(), index.end(), relative,
                       [](std::uint64_t r, const IndexEntry& e) { return r < e.relative_offset; });
  if (it == index.begin()) return 0;
  return std::prev(it)->position;
}

std::uint64_t Segment::time_search_position(std::int64_t timestamp_ms) const {
  // Entries' timestamps increase; find the last one strictly below the target.
  auto it =
      std::lower_bound(time_index.begin(), time_index.end(), timestamp_ms,
                       [](const TimeIndexEntry& e, std::int64_t t) { return e.timestamp_ms < t; });
  if (it == time_index.begin()) return 0;
  return index_position_for(base_offset + std::prev(it)->relative_offset);
}

namespace {

// Reads [pos, pos + want) clipped to `limit` into `buffer`; returns the byte count.
Result<std::size_t> fill(File& file, std::uint64_t pos, std::uint64_t limit, std::size_t want,
                         std::vector<std::byte>& buffer) {
  std::size_t length = static_cast<std::size_t>(std::min<std::uint64_t>(want, limit - pos));
  if (buffer.size() < length) buffer.resize(length);
  auto got = file.read_at(FilePos(pos), std::span(buffer.data(), length));
  if (!got) return fail(got.error());
  return *got;
}

constexpr std::size_t kScanChunkBytes = 256 * 1024;
constexpr std::size_t kHeaderChunkBytes = 16 * 1024;

}  // namespace

Result<ScanResult> scan_segment(Segment& segment, File& file, std::uint64_t file_size,
                                std::uint32_t index_interval_bytes, std::size_t max_batch_bytes) {
  ScanResult result;
  std::vector<std::byte> buffer;
  ParseOptions options{.max_batch_bytes = max_batch_bytes, .check_crc = true};
  std::uint64_t pos = segment.end_pos;
  std::size_t want = kScanChunkBytes;
  while (true) {
    auto got = fill(file, pos, file_size, want, buffer);
    if (!got) return fail(got.error());
    result.bytes_scanned += *got;
    std::span<const std::byte> data(buffer.data(), *got);
    bool whole_file = pos + *got >= file_size;
    std::size_t used = 0;
    ParsedBatch parsed;
    while (true) {
      parsed = parse_batch(data.subspan(used), options);
      if (!parsed.ok()) break;
      const BatchView& b = parsed.batch;
      if (b.base_offset() != segment.next_offset || b.last_offset_delta() < 0) {
        result.offset_gap = true;
        break;
      }
      segment.note_batch({pos + used, static_cast<std::uint32_t>(b.size_bytes()), b.base_offset(),
                          b.last_offset(), b.max_timestamp_ms()},
                         index_interval_bytes);
      used += parsed.bytes;
    }
    bool need_more =
        !whole_file && !result.offset_gap &&
        (parsed.status == ParseStatus::kTruncated || parsed.status == ParseStatus::kShortHeader ||
         parsed.status == ParseStatus::kEndOfData ||
         (parsed.status == ParseStatus::kZeroFilled && data.size() - used < 17));
    if (!need_more) {
      result.stop = parsed.status;
      break;
    }
    if (used == 0) {
      if (want >= max_batch_bytes + kScanChunkBytes) {  // a batch that cannot be this long
        result.stop = ParseStatus::kBadLength;
        break;
      }
      want *= 2;
    }
    pos += used;
  }
  result.end_pos = segment.end_pos;
  result.next_offset = segment.next_offset;
  return result;
}

namespace {

// Can a batch start at `header` (kBatchHeaderBytes bytes)? Cheap checks before the CRC.
bool plausible_header(std::span<const std::byte> header, std::int64_t min_offset,
                      std::size_t max_batch_bytes) {
  BatchHeader h = read_batch_header(header);
  return h.magic == kMagicV2 && h.batch_length >= kMinBatchLength &&
         12 + static_cast<std::uint64_t>(h.batch_length) <= max_batch_bytes &&
         h.base_offset >= min_offset && h.last_offset_delta >= 0;
}

}  // namespace

Result<std::optional<BatchInfo>> find_valid_batch_after(
    File& file, std::uint64_t from, std::uint64_t file_size, std::int64_t min_offset,
    std::uint64_t window_bytes, std::size_t max_batch_bytes, std::uint64_t* bytes_read) {
  if (file_size < kBatchHeaderBytes) return std::optional<BatchInfo>();
  std::uint64_t first = from + 1;
  std::uint64_t last = std::min(from + window_bytes, file_size - kBatchHeaderBytes);
  if (first > last) return std::optional<BatchInfo>();
  std::vector<std::byte> window, batch;
  auto got = fill(file, first, file_size, last - first + kBatchHeaderBytes, window);
  if (!got) return fail(got.error());
  if (bytes_read) *bytes_read += *got;
  ParseOptions options{.max_batch_bytes = max_batch_bytes, .check_crc = true};
  for (std::size_t at = 0; at + kBatchHeaderBytes <= *got; ++at) {
    std::span<const std::byte> header(window.data() + at, kBatchHeaderBytes);
    if (!plausible_header(header, min_offset, max_batch_bytes)) continue;
    std::uint64_t pos = first + at;
    std::size_t size = 12 + static_cast<std::size_t>(read_batch_header(header).batch_length);
    if (pos + size > file_size) continue;
    auto read = fill(file, pos, file_size, size, batch);
    if (!read) return fail(read.error());
    if (bytes_read) *bytes_read += *read;
    ParsedBatch parsed = parse_batch(std::span(batch.data(), *read), options);
    if (!parsed.ok()) continue;
    const BatchView& b = parsed.batch;
    return std::optional<BatchInfo>(BatchInfo{pos, static_cast<std::uint32_t>(size),
                                              b.base_offset(), b.last_offset(),
                                              b.max_timestamp_ms()});
  }
  return std::optional<BatchInfo>();
}

namespace {

// Walks batch headers from `from` to `limit`, calling visit(info) for each until it returns
// true. Only headers are read (in chunks); CRCs were checked when the batches were written or
// recovered.
template <typename Visit>
Result<std::optional<BatchInfo>> walk_headers(File& file, std::uint64_t from, std::uint64_t limit,
                                              Visit visit) {
  std::vector<std::byte> buffer;
  std::uint64_t pos = from;
  while (pos < limit) {
    auto got = fill(file, pos, limit, kHeaderChunkBytes, buffer);
    if (!got) return fail(got.error());
    std::size_t used = 0;
    while (used + kBatchHeaderBytes <= *got) {
      BatchHeader h = read_batch_header(std::span(buffer.data() + used, kBatchHeaderBytes));
      std::uint64_t size = 12 + static_cast<std::uint64_t>(std::max(h.batch_length, 0));
      if (h.magic != kMagicV2 || h.batch_length < kMinBatchLength || pos + used + size > limit)
        return fail(Errc::kCorruption, "segment " + file.path() + ": bad batch header at byte " +
                                           std::to_string(pos + used));
      BatchInfo info{pos + used, static_cast<std::uint32_t>(size), h.base_offset,
                     h.base_offset + h.last_offset_delta, h.max_timestamp_ms};
      if (visit(info)) return std::optional<BatchInfo>(info);
      used += size;
    }
    if (used == 0 && *got < kBatchHeaderBytes)
      return fail(Errc::kCorruption,
                  "segment " + file.path() + ": short batch header at byte " + std::to_string(pos));
    pos += used;
  }
  return std::optional<BatchInfo>();
}

}  // namespace

Result<BatchInfo> find_batch(File& file, std::uint64_t from, std::uint64_t limit,
                             std::int64_t offset) {
  auto found =
      walk_headers(file, from, limit, [&](const BatchInfo& b) { return b.last_offset >= offset; });
  if (!found) return fail(found.error());
  if (!*found)
    return fail(Errc::kOutOfRange,
                "offset " + std::to_string(offset) + " not found in " + file.path());
  if ((*found)->base_offset > offset)
    return fail(Errc::kCorruption, "segment " + file.path() + ": offset " + std::to_string(offset) +
                                       " falls in a gap");
  return **found;
}

Result<std::optional<BatchInfo>> last_batch(File& file, std::uint64_t from, std::uint64_t limit) {
  std::optional<BatchInfo> last;
  auto walked = walk_headers(file, from, limit, [&](const BatchInfo& b) {
    last = b;
    return false;
  });
  if (!walked) return fail(walked.error());
  return last;
}

Result<std::optional<BatchInfo>> find_batch_by_time(File& file, std::uint64_t from,
                                                    std::uint64_t limit,
                                                    std::int64_t timestamp_ms) {
  return walk_headers(file, from, limit,
                      [&](const BatchInfo& b) { return b.max_timestamp_ms >= timestamp_ms; });
}

}  // namespace ringlog
