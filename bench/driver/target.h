// Where a benchmark sends and reads its messages: an Engine embedded in this process, or a
// `ringlog serve` over the line protocol. The workloads (driver.cc) are written once against
// these interfaces, so both modes measure the same thing.
//
// Threading: a Target is shared by every worker; each worker thread makes its own session
// (a server session is one TCP connection) and uses it alone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <ringlog/batch.h>
#include <ringlog/error.h>

#include "bench/driver/meter.h"
#include "bench/driver/options.h"

namespace ringlog::bench {

// One producer's pipeline of appends. send() returns once the batch is on its way, blocking
// while `in_flight` batches are unacknowledged; each acknowledgement is added to the Meter
// given at creation: `records` messages, `payload_bytes`, latency = ack time - first_added.
// A failed acknowledgement is reported by a later send(), wait_one() or drain().
class ProducerSession {
 public:
  virtual ~ProducerSession() = default;
  virtual Status send(std::int32_t partition, std::span<const std::byte> batch,
                      std::int32_t records, std::uint64_t payload_bytes,
                      Clock::time_point first_added) = 0;
  // Waits for the oldest outstanding acknowledgement; false when none is outstanding.
  virtual Result<bool> wait_one() = 0;
  // Waits for every outstanding acknowledgement.
  virtual Status drain() = 0;
};

// The whole batches of one fetch: the first may start below the requested offset. CRCs checked.
struct Fetched {
  std::vector<BatchView> batches;
  std::int64_t high_watermark = 0;
  std::int64_t next_offset = 0;  // after the last whole batch; the requested offset if none
  std::size_t bytes = 0;         // bytes received (whole batches and any cut tail)
};

class ConsumerSession {
 public:
  virtual ~ConsumerSession() = default;
  // wait_ms > 0: when nothing is past `offset`, waits up to that long for data (long poll).
  // `out` stays valid until the next call.
  virtual Status fetch(std::int32_t partition, std::int64_t offset, std::uint32_t max_bytes,
                       std::uint32_t wait_ms, Fetched& out) = 0;
};

// What the log did during a run, from the engine's counters (embedded) or the server's `stats`.
struct LogCounters {
  std::uint64_t append_bytes = 0;  // batch bytes appended (headers included)
  std::uint64_t append_records = 0;
  std::uint64_t syncs = 0;
  std::uint64_t write_cycles = 0;
  std::optional<std::uint64_t> writes;  // write operations (embedded only)
};

class Target {
 public:
  virtual ~Target() = default;
  // "embedded /var/tmp/ringlog-bench-x1y2z3" or "server 127.0.0.1:8123".
  virtual std::string describe() const = 0;
  // The durability the topic has ("always", "interval=200", "never"), as the log reports it.
  virtual Result<std::string> durability(std::string_view topic) = 0;
  // Creates the topic with `partitions` unless it exists with at least that many.
  virtual Status prepare_topic(std::string_view topic, std::int32_t partitions) = 0;
  // {log start, high watermark}
  virtual Result<std::pair<std::int64_t, std::int64_t>> offsets(std::string_view topic,
                                                                std::int32_t partition) = 0;
  virtual Result<std::unique_ptr<ProducerSession>> producer(std::string_view topic,
                                                            std::size_t in_flight,
                                                            Meter& meter) = 0;
  virtual Result<std::unique_ptr<ConsumerSession>> consumer(std::string_view topic) = 0;
  virtual Result<LogCounters> counters() = 0;
  // Makes everything appended so far durable (embedded: Engine::sync; a server: kUnsupported).
  virtual Status sync() = 0;
  virtual Status close() = 0;
};

// Opens the target `options` asks for (creating a temporary data directory if needed; close()
// of an embedded target with a temporary directory deletes it).
Result<std::unique_ptr<Target>> open_target(const BenchOptions& options);

}  // namespace ringlog::bench
