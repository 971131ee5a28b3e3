// The two ways a command reaches the log: an Engine opened on the data directory (embedded
// mode) or a line-protocol Client connected to a running server (--server). produce, consume,
// topics, offsets and stats are written once against this interface, so they behave the same
// in both modes.
//
// Errors are Results, as in the layers below; commands turn them into CommandFailures.
// A Backend is used by one thread.
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

#include <ringlog/engine.h>
#include <ringlog/error.h>

#include "cli/common.h"

namespace ringlog::cli {

struct TopicSummary {
  std::string name;
  std::int32_t partitions = 0;
};

struct PartitionSummary {
  std::int32_t partition = 0;
  std::int64_t log_start = 0;
  std::int64_t high_watermark = 0;
  std::optional<PartitionInfo> detail;  // embedded mode only
};

struct TopicDescription {
  std::string name;
  std::vector<PartitionSummary> partitions;
  std::optional<TopicInfo> info;  // embedded mode only: the effective config
};

struct FetchedBytes {
  std::vector<std::byte> bytes;  // whole batches from the one containing the offset; may end cut
  std::int64_t high_watermark = 0;
};

// What a sequence of pipelined appends got, once every one of them is acknowledged.
struct AppendTotals {
  std::int64_t first_offset = -1;
  std::int64_t last_offset = -1;
  std::uint64_t batches = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;

  // "embedded ./ringlog-data" or "server 127.0.0.1:8123", for messages.
  virtual std::string describe_mode() const = 0;
  virtual bool embedded() const = 0;

  virtual Status create_topic(std::string_view name, const TopicConfig& config) = 0;
  virtual Status delete_topic(std::string_view name) = 0;
  virtual Result<std::vector<TopicSummary>> list_topics() = 0;
  virtual Result<TopicDescription> describe_topic(std::string_view name) = 0;
  // {log start, high watermark}
  virtual Result<std::pair<std::int64_t, std::int64_t>> offsets(std::string_view topic,
                                                                std::int32_t partition) = 0;
  // wait_ms > 0: long poll when offset == high watermark (server); embedded ignores it.
  virtual Result<FetchedBytes> fetch(std::string_view topic, std::int32_t partition,
                                     std::int64_t offset, std::uint32_t max_bytes,
                                     std::uint32_t wait_ms) = 0;
  virtual Result<std::int64_t> offset_for_timestamp(std::string_view topic, std::int32_t partition,
                                                    std::int64_t timestamp_ms) = 0;
  virtual Status commit(std::string_view group, std::string_view topic, std::int32_t partition,
                        std::int64_t offset) = 0;
  virtual Result<std::optional<std::int64_t>> committed(std::string_view group,
                                                        std::string_view topic,
                                                        std::int32_t partition) = 0;
  virtual Result<std::vector<std::pair<std::string, std::string>>> stats() = 0;

  // Pipelined appends of whole RecordBatches: submit_append returns once the batch is queued
  // (blocking while too many are unacknowledged) and reports an earlier batch's failure;
  // finish_appends waits for every acknowledgement.
  virtual Status submit_append(std::string_view topic, std::int32_t partition,
                               std::span<const std::byte> batch) = 0;
  virtual Result<AppendTotals> finish_appends() = 0;

  // Releases the directory or the connection, reporting what closing found.
  virtual Status close() = 0;
};

enum class Access { kRead, kWrite };

// Opens the backend `common` asks for. Embedded kRead refuses a missing data directory instead
// of creating one; a directory held by a server gets a message pointing at --server.
// Throws CommandFailure.
std::unique_ptr<Backend> open_backend(const CommonOptions& common, Access access);

// Only for embedded mode: the engine options the CLI uses for `data_dir`.
EngineOptions embedded_engine_options(const std::string& data_dir);

}  // namespace ringlog::cli

namespace ringlog::cli {
// The two implementations (embedded_backend.cc, server_backend.cc); open_backend picks one.
Result<std::unique_ptr<Backend>> make_embedded_backend(const std::string& data_dir);
Result<std::unique_ptr<Backend>> make_server_backend(const std::string& address);
}  // namespace ringlog::cli
