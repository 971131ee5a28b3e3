// The recovery checkpoint of a data directory (`@recovery-checkpoint`, docs/format.md): for each
// partition, a point below which its log is durable and was valid when written, so recovery
// need only scan what follows, and the offsets the partition had handed out, so that recovery
// notices files that went missing (a partition whose files hold less than its checkpoint is
// damaged, never silently shorter). Written atomically (file_util.h).
//
// Version 3 carries the machine's boot id and a CRC per entry: one damaged entry costs only that
// partition's point (recovery then scans it whole), the others are kept, and the damage is
// reported. A damaged header, or a version 1/2 file (one CRC over the whole file) that fails its
// CRC, is kCorruption: recovery scans every segment, which is slower but exact.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "io/env.h"

namespace ringlog {

struct RecoveryPoint {
  std::int64_t offset = 0;             // every offset below is durable and valid
  std::int64_t segment_base = 0;       // the segment in which `offset` starts (or would start)
  std::uint64_t position = 0;          // byte position of `offset` in that segment
  std::int64_t max_timestamp_ms = -1;  // of that segment's batches below `position`
  // The partition was found corrupt. Its point is then only the durable floor recovery found it
  // with: the next recovery trusts nothing, scans every segment, cuts nothing and reports the
  // partition corrupt again (until the operator removes the checkpoint).
  bool damaged = false;
  // The high watermark and log start when the checkpoint was written (-1: unknown, a version 1
  // or 2 checkpoint). Everything below the high watermark was acknowledged, and written: after a
  // process crash (same boot) the files still hold it, after a machine crash at least `offset`.
  std::int64_t high_watermark = -1;
  std::int64_t log_start = -1;

  bool operator==(const RecoveryPoint&) const = default;
};

using PartitionKey = std::pair<std::string, std::int32_t>;  // topic, partition
using Checkpoint = std::map<PartitionKey, RecoveryPoint>;

struct DecodedCheckpoint {
  Checkpoint points;
  std::string boot_id;              // "" when the file does not say (versions 1 and 2)
  std::vector<std::string> damage;  // entries that failed their checks and were skipped
};

std::vector<std::byte> encode_checkpoint(const Checkpoint& checkpoint, std::string_view boot_id);
// kCorruption when the header (or a version 1/2 file) is not intact; damaged version 3 entries
// are skipped and described in `damage`.
Result<DecodedCheckpoint> decode_checkpoint(std::span<const std::byte> bytes);

}  // namespace ringlog
