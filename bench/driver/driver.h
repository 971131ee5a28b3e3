// The end-to-end benchmark behind `ringlog bench`: runs a workload (produce, consume, e2e) against
// an embedded Engine or a server, and returns what it measured.
//
//   BenchOptions options{.workload = Workload::kProduce, .message_bytes = 1024};
//   auto report = run_bench(options);   // progress on stderr if it is a terminal
//   std::fputs(format_text(*report).c_str(), stdout);
//
// Throughput counts message payload bytes (message_bytes each; MB = 10^6 bytes); `log_bytes`
// counts what the log stored (batch headers and record framing included), which is what a disk
// comparison wants. Latencies are nanoseconds in log-linear histograms (histogram.h):
//   ack  - from the creation of a batch's first message to the producer reading its
//          acknowledgement (so a batch's later messages wait a little less than recorded);
//   e2e  - from a message's creation (its send time is stamped into its first 8 bytes) to a
//          consumer decoding it.
// With --rate, a message's creation time is its scheduled time, so a stalled producer does not
// hide the stall from the latencies (no coordinated omission).
#pragma once

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include <ringlog/error.h>

#include "bench/driver/histogram.h"
#include "bench/driver/options.h"

namespace ringlog::bench {

// One row of the per-second time series (--csv).
struct Sample {
  double elapsed_s = 0;
  std::uint64_t produced = 0;  // cumulative acknowledged messages
  std::uint64_t consumed = 0;  // cumulative consumed messages
  double produce_msgs_per_s = 0;
  double produce_mb_per_s = 0;
  double consume_msgs_per_s = 0;
  double consume_mb_per_s = 0;
  // The interval's latency (ack for produce, e2e for e2e): p50, p99, max in nanoseconds.
  std::uint64_t p50_ns = 0;
  std::uint64_t p99_ns = 0;
  std::uint64_t max_ns = 0;
};

struct BenchReport {
  BenchOptions options;
  std::string target;      // "embedded DIR" / "server ADDR"
  std::string durability;  // as the log reports it for the topic
  double elapsed_s = 0;    // the measured phase (filling a topic for consume is not measured)
  std::uint64_t produced = 0;
  std::uint64_t produced_bytes = 0;
  std::uint64_t consumed = 0;
  std::uint64_t consumed_bytes = 0;
  std::uint64_t errors = 0;
  std::uint64_t filled = 0;  // consume: messages appended first to have enough to read
  Histogram ack_latency;
  Histogram e2e_latency;
  // The log's counters over the measured phase (embedded: the engine; server: `stats`).
  std::optional<std::uint64_t> log_bytes;
  std::optional<std::uint64_t> syncs;
  std::optional<std::uint64_t> write_cycles;
  std::optional<std::uint64_t> writes;
  double cpu_user_s = 0;  // of this process (with an embedded engine, the engine's too)
  double cpu_system_s = 0;
  std::vector<Sample> series;

  double produce_msgs_per_s() const;
  double produce_mb_per_s() const;
  double consume_msgs_per_s() const;
  double consume_mb_per_s() const;
  // log_bytes / syncs: the mean bytes made durable per fdatasync (0 when unknown).
  double mean_sync_bytes() const;
  // log_bytes / writes: the mean size of the engine's write operations (0 when unknown).
  double mean_write_bytes() const;
};

// Runs the benchmark. A live progress line goes to `progress` (when non-null); --csv is written
// as the run goes. Errors: the target could not be opened, or an append/fetch failed.
Result<BenchReport> run_bench(const BenchOptions& options, std::FILE* progress = nullptr);

// The report as text (several lines), as one JSON object, and the series as CSV.
std::string format_text(const BenchReport& report);
std::string format_json(const BenchReport& report);
std::string csv_header();
std::string csv_row(const Sample& sample);

}  // namespace ringlog::bench
