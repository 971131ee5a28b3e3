// Rebuilding idempotent producer state from a partition's log after a restart.
//
// Every RecordBatch v2 header carries producerId, producerEpoch and baseSequence (and
// lastOffsetDelta + 1 records), so the batches at the tail of a partition say what Kafka's
// producer snapshots would: for each producer, its epoch, its last batches' sequence ranges and
// where they were stored. recover_producer_batches reads the largest tail of the partition that
// fits in `budget_bytes`, growing the window from the end (16 records, then 64, 256, ...), and
// returns its idempotent batches (producerId >= 0) in log order, for ProducerStateTable::restore.
//
// What this guarantees: a producer whose last batches lie within that tail gets its state back -
// a retry of one of its last 5 batches is a duplicate (answered with the original offset), the
// next sequence is accepted, a gap is OUT_OF_ORDER_SEQUENCE_NUMBER, an older epoch is fenced. A
// producer whose batches all lie before the tail (more than budget_bytes of other data was
// written after them) is treated as new: accepted at whatever sequence it continues with.
//
// Threading: blocks on the disk (Engine::read); run it on a worker. Errors (an unknown
// partition, a read failing) end the scan with what was found in the last complete window.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include <ringlog/engine.h>

#include "protocol/kafka/producer_state.h"

namespace ringlog::kafka {

struct RecoveredBatch {
  std::int64_t producer_id = -1;
  ProducerStateTable::Batch batch{};
  std::int64_t base_offset = -1;
};

std::vector<RecoveredBatch> recover_producer_batches(const Engine& engine, std::string_view topic,
                                                     std::int32_t partition,
                                                     std::size_t budget_bytes);

}  // namespace ringlog::kafka
