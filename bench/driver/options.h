// What `ringlog bench` runs: the workload, its shape, and where the log is (an Engine opened in
// a data directory, or a `ringlog serve` reached over the line protocol).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <ringlog/options.h>

namespace ringlog::bench {

enum class Workload : std::uint8_t {
  kProduce,  // producers append as fast as they are allowed (or at --rate); ack latency
  kConsume,  // consumers read a filled topic from its start (catch-up, or at --rate); filled
             // first if short
  kE2e,      // producers and consumers at once; publish-to-delivery latency
};

std::string_view workload_name(Workload workload) noexcept;

struct BenchOptions {
  Workload workload = Workload::kProduce;

  // Where: `server` "ADDR:PORT" (line protocol), else embedded in `data_dir`; an empty data_dir
  // means a fresh directory under `temp_root`, deleted at the end.
  std::string server;
  std::string data_dir;
  std::string temp_root = "/var/tmp";
  std::string topic = "bench";

  // Shape. `messages` is the total over all producers (produce, e2e) or the number to read
  // (consume); with `duration_ms` > 0 the run stops at whichever comes first (messages 0:
  // only the duration).
  std::size_t message_bytes = 100;
  std::uint64_t messages = 1'000'000;
  std::uint64_t duration_ms = 0;
  unsigned producers = 1;
  unsigned consumers = 1;
  std::int32_t partitions = 1;
  std::size_t batch_bytes = 64 << 10;  // a batch is sent when it would grow past this...
  std::uint32_t linger_us = 1000;      // ...or when its first message is this old
  std::size_t in_flight = 64;          // unacknowledged batches per producer
  // Messages/s over all producers (produce, e2e) or all consumers (consume), each worker paced
  // to its share by due times (driver.cc); 0: as fast as possible.
  double rate = 0;
  std::uint32_t fetch_bytes = 1 << 20;  // max_bytes of each consumer fetch

  // Embedded only (a server has its own settings): the engine's durability and segment size.
  Durability durability;
  std::uint64_t segment_bytes = std::uint64_t{1} << 30;
  // Produce: end the measured time with an Engine::sync() of everything written (as fio's
  // end_fsync), so that `never` can be compared with a buffered write that is synced at the end.
  bool sync_at_end = false;

  // Reporting.
  bool progress = true;  // a live line on stderr, when stderr is a terminal
  std::string csv_path;  // per-second time series, empty: none
};

}  // namespace ringlog::bench
