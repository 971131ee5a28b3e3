// Offline verification of a data directory (`ringlog verify`): every segment of every partition
// is parsed batch by batch (length, magic, CRC32C, record framing), offsets must be contiguous
// within and across segments, and the offset and time indexes must agree with the log. The small
// files are checked too: every record of `@group-offsets` (damage in the middle vs a torn tail),
// the `@topic` of every topic directory (missing, or failing its checksum), and anything left in
// `@quarantine/` is damage. Lost files are found against the recovery checkpoint: a hole
// between segment files, a log starting above the checkpoint's log start, files ending below its
// durable point (or its high watermark when it was written in this boot), partition directories
// missing from a topic, partitions an earlier recovery recorded as damaged, damaged entries.
//
// Needs no engine and takes no lock: it only reads. Findings are of two kinds:
//   damage   - stored data fails a check (the command exits 3);
//   warnings - states that crash recovery handles by design: a torn tail at the end of a
//              partition's last segment or of `@group-offsets`, index entries past the end of
//              the log, a partial trailing index entry.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <ringlog/error.h>

namespace ringlog::cli {

struct Finding {
  std::string file;
  std::uint64_t position = 0;  // byte position in `file`
  std::string problem;
};

struct VerifyReport {
  std::vector<Finding> damage;
  std::vector<Finding> warnings;
  std::uint64_t topics = 0;
  std::uint64_t partitions = 0;
  std::uint64_t segments = 0;
  std::uint64_t batches = 0;
  std::uint64_t records = 0;
  std::uint64_t log_bytes = 0;       // bytes of valid batches
  std::uint64_t offset_records = 0;  // sound records of `@group-offsets`

  bool clean() const noexcept { return damage.empty(); }
};

// Called with (bytes of segment files done, total) as verification proceeds.
using VerifyProgress = std::function<void(std::uint64_t done, std::uint64_t total)>;

// Verifies every topic under `data_dir`. Errors only when the directory cannot be read at all;
// unreadable files inside it are damage.
Result<VerifyReport> verify_data_dir(const std::string& data_dir,
                                     const VerifyProgress& progress = {});

}  // namespace ringlog::cli
