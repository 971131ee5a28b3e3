// The recovery checkpoint of a data directory (`@recovery-checkpoint`, docs/format.md): for each
// partition, a point below which its log is durable and was valid when written, so recovery
// need only scan what follows. Written atomically (file_util.h); a damaged or missing checkpoint
// makes recovery scan every segment, which is slower but exact.
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

  bool operator==(const RecoveryPoint&) const = default;
};

using PartitionKey = std::pair<std::string, std::int32_t>;  // topic, partition
using Checkpoint = std::map<PartitionKey, RecoveryPoint>;

std::vector<std::byte> encode_checkpoint(const Checkpoint& checkpoint);
// kCorruption when the bytes are not a whole, CRC-valid checkpoint.
Result<Checkpoint> decode_checkpoint(std::span<const std::byte> bytes);

}  // namespace ringlog
