// A segment: one file of consecutive RecordBatches of a partition, named by the offset of its
// first batch, with its sparse offset index and time index (docs/format.md).
//
// Ownership: a Segment is held by shared_ptr, by its Partition and by readers for the length of a
// read. Its log file is a CachedFile (file_cache.h): opened when used, closed by the cache when
// the descriptor budget needs it; a FileSlice holds the open File itself, so a slice stays
// readable even after retention removed the segment.
// Threading: the mutable fields below are guarded by the owning Partition's mutex (shared for
// readers, exclusive for the writer publishing an append). `file` may be used from any thread.
// The index files are written only under `index_mu` (maintenance thread, roll, close).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <ringlog/batch.h>

#include "engine/file_cache.h"
#include "engine/file_layout.h"
#include "io/env.h"

namespace ringlog {

// What is known about one batch once it is in a segment (appended or scanned).
struct BatchInfo {
  std::uint64_t position = 0;
  std::uint32_t size_bytes = 0;
  std::int64_t base_offset = 0;
  std::int64_t last_offset = 0;
  std::int64_t max_timestamp_ms = 0;
};

struct Segment {
  Segment(std::int64_t base, std::string dir_path, std::unique_ptr<CachedFile> log_file);

  std::string log_path() const;
  std::string index_path() const;
  std::string time_index_path() const;

  // Adds the batch to the sparse indexes (an entry when index_interval_bytes have passed since
  // the last one) and advances end_pos / next_offset / max_timestamp_ms.
  // REQUIRES: batch.position == end_pos and batch.base_offset == next_offset (asserted).
  void note_batch(const BatchInfo& batch, std::uint32_t index_interval_bytes);
  // The final time-index entry of a sealed segment (Kafka does the same on roll).
  void note_sealed();

  // Position of the last indexed batch at or before `offset` (0 when none).
  std::uint64_t index_position_for(std::int64_t offset) const;
  // Where a search for the first batch with max timestamp >= `timestamp_ms` may start: every
  // batch before this position is older (from the last time entry below the timestamp).
  std::uint64_t time_search_position(std::int64_t timestamp_ms) const;

  const std::int64_t base_offset;
  const std::string dir;
  const std::unique_ptr<CachedFile> file;

  // Guarded by the partition's mutex.
  std::uint64_t end_pos = 0;  // bytes of valid, visible batches
  std::int64_t next_offset;   // offset after the last batch
  std::int64_t max_timestamp_ms = -1;
  std::int64_t last_batch_offset = -1;  // base offset of the last batch (for note_sealed)
  std::uint64_t bytes_since_index = 0;
  std::vector<IndexEntry> index;
  std::vector<TimeIndexEntry> time_index;
  bool sealed = false;
  bool removed = false;  // deleted by retention or delete_topic (files unlinked)

  // Index files: how many entries of each vector are already on disk. Guarded by index_mu.
  std::mutex index_mu;
  std::size_t index_persisted = 0;
  std::size_t time_index_persisted = 0;
};

// Outcome of scanning a segment file with CRC checks.
struct ScanResult {
  std::uint64_t end_pos = 0;                   // end of the last valid batch
  std::int64_t next_offset = 0;                // offset after it
  ParseStatus stop = ParseStatus::kEndOfData;  // why the scan stopped
  bool offset_gap = false;  // stopped at a valid batch with an unexpected base offset
  std::uint64_t bytes_scanned = 0;
  // kEndOfData exactly at the file end, or kZeroFilled (preallocated space): nothing torn.
  bool clean() const {
    return !offset_gap && (stop == ParseStatus::kEndOfData || stop == ParseStatus::kZeroFilled);
  }
};

// Reads `file` (the segment's, open) from `segment.end_pos` (which must be a batch boundary whose
// batch has base offset `segment.next_offset`) up to `file_size`, validating every batch (length,
// magic, CRC, contiguous offsets) and noting each in the segment's indexes; stops at the first
// batch that is not valid. Only I/O errors are errors.
Result<ScanResult> scan_segment(Segment& segment, File& file, std::uint64_t file_size,
                                std::uint32_t index_interval_bytes, std::size_t max_batch_bytes);

// Looks past damage for evidence that the log goes on: the first position in
// (`from`, `from` + `window_bytes`] (clipped to `file_size`) where a whole batch starts whose
// header is plausible, whose CRC matches and whose base offset is >= `min_offset`. Recovery calls
// it where a scan of the active segment stopped: a valid batch further on means the stop is
// damage in the middle of the log, not a torn tail. `bytes_read` (optional) accumulates the I/O.
// Only I/O errors are errors.
Result<std::optional<BatchInfo>> find_valid_batch_after(
    File& file, std::uint64_t from, std::uint64_t file_size, std::int64_t min_offset,
    std::uint64_t window_bytes, std::size_t max_batch_bytes, std::uint64_t* bytes_read = nullptr);

// Finds the batch that contains `offset` by walking headers from `from` (a batch boundary) up to
// `limit` (a batch boundary). Returns its BatchInfo, or kCorruption if the headers do not lead
// there (a damaged segment) or kOutOfRange if the offset is not below `limit`'s batch end.
Result<BatchInfo> find_batch(File& file, std::uint64_t from, std::uint64_t limit,
                             std::int64_t offset);

// The last batch of [from, limit), walking headers from `from` (a batch boundary); nullopt when
// the range is empty. kCorruption when the headers do not chain exactly to `limit`.
Result<std::optional<BatchInfo>> last_batch(File& file, std::uint64_t from, std::uint64_t limit);

// Finds the first batch, walking from `from` up to `limit`, whose max timestamp is >=
// `timestamp_ms`; nullopt if none.
Result<std::optional<BatchInfo>> find_batch_by_time(File& file, std::uint64_t from,
                                                    std::uint64_t limit, std::int64_t timestamp_ms);

}  // namespace ringlog
