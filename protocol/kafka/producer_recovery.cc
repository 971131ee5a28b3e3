#include "protocol/kafka/producer_recovery.h"

#include <algorithm>
#include <limits>

#include <ringlog/batch.h>

namespace ringlog::kafka {

namespace {

constexpr std::uint32_t kReadBytes = 1 << 20;
constexpr std::int64_t kFirstWindowRecords = 16;

// Collects the idempotent batches of [from, end) into `out`. False when the range holds more
// than budget_bytes or cannot be read whole.
bool scan_range(const Engine& engine, std::string_view topic, std::int32_t partition,
                std::int64_t from, std::int64_t end, std::size_t budget_bytes,
                std::vector<RecoveredBatch>& out) {
  ParseOptions any_size;
  any_size.max_batch_bytes = std::numeric_limits<std::int32_t>::max();
  any_size.check_crc = false;  // the engine checked it when appending and when recovering
  std::size_t bytes = 0;
  for (std::int64_t offset = from; offset < end;) {
    auto read = engine.read(topic, partition, offset, kReadBytes);
    if (!read || read->empty()) return false;
    bytes += read->size();
    if (bytes > budget_bytes) return false;
    std::int64_t next = offset;
    BatchReader reader(*read, any_size);
    for (ParsedBatch parsed = reader.next(); parsed.ok(); parsed = reader.next()) {
      const BatchView& b = parsed.batch;
      next = b.next_offset();
      if (b.producer_id() < 0 || b.base_sequence() < 0 || b.is_control()) continue;
      const std::int32_t last =
          ProducerStateTable::last_sequence(b.base_sequence(), b.record_count());
      out.push_back(
          {b.producer_id(), {b.producer_epoch(), b.base_sequence(), last}, b.base_offset()});
    }
    if (next <= offset) return false;  // not even one whole batch: the log is damaged here
    offset = next;
  }
  return true;
}

}  // namespace

std::vector<RecoveredBatch> recover_producer_batches(const Engine& engine, std::string_view topic,
                                                     std::int32_t partition,
                                                     std::size_t budget_bytes) {
  auto range = engine.offsets(topic, partition);
  if (!range) return {};
  const auto [start, end] = *range;
  std::vector<RecoveredBatch> best;
  for (std::int64_t window = kFirstWindowRecords;; window *= 4) {
    const std::int64_t from = end - start <= window ? start : end - window;
    std::vector<RecoveredBatch> found;
    if (!scan_range(engine, topic, partition, from, end, budget_bytes, found)) return best;
    best = std::move(found);
    if (from == start) return best;
  }
}

}  // namespace ringlog::kafka
