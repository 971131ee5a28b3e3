// Backend over an Engine opened on the data directory (embedded mode).
#include <algorithm>
#include <condition_variable>
#include <mutex>

#include "cli/backend.h"

namespace ringlog::cli {
namespace {

// Acknowledgements of in-flight append_async calls, shared with the engine's callbacks.
struct AppendState {
  std::mutex mu;
  std::condition_variable cv;
  std::size_t in_flight = 0;
  AppendTotals totals;
  std::optional<Error> error;

  void acknowledge(const Result<AppendResult>& result) {
    std::lock_guard lock(mu);
    --in_flight;
    if (!result) {
      if (!error) error = result.error();
    } else {
      if (totals.first_offset < 0 || result->first_offset < totals.first_offset)
        totals.first_offset = result->first_offset;
      totals.last_offset = std::max(totals.last_offset, result->last_offset);
      ++totals.batches;
    }
    cv.notify_all();
  }
};

constexpr std::size_t kMaxAppendsInFlight = 16;

class EmbeddedBackend final : public Backend {
 public:
  EmbeddedBackend(std::string data_dir, std::unique_ptr<Engine> engine)
      : data_dir_(std::move(data_dir)), engine_(std::move(engine)) {}
  ~EmbeddedBackend() override { (void)close(); }

  std::string describe_mode() const override { return "embedded " + data_dir_; }
  bool embedded() const override { return true; }

  Status create_topic(std::string_view name, const TopicConfig& config) override {
    return engine_->create_topic(name, config);
  }
  Status delete_topic(std::string_view name) override { return engine_->delete_topic(name); }

  Result<std::vector<TopicSummary>> list_topics() override {
    std::vector<TopicSummary> out;
    for (const std::string& name : engine_->list_topics()) {
      auto info = engine_->describe_topic(name);
      if (!info) continue;  // deleted meanwhile
      out.push_back({name, static_cast<std::int32_t>(info->partitions.size())});
    }
    return out;
  }

  Result<TopicDescription> describe_topic(std::string_view name) override {
    auto info = engine_->describe_topic(name);
    if (!info) return fail(info.error());
    TopicDescription out{info->name, {}, *info};
    for (const PartitionInfo& p : info->partitions)
      out.partitions.push_back({p.partition, p.log_start, p.high_watermark, p});
    return out;
  }

  Result<std::pair<std::int64_t, std::int64_t>> offsets(std::string_view topic,
                                                        std::int32_t partition) override {
    return engine_->offsets(topic, partition);
  }

  Result<FetchedBytes> fetch(std::string_view topic, std::int32_t partition, std::int64_t offset,
                             std::uint32_t max_bytes, std::uint32_t /*wait_ms*/) override {
    auto range = engine_->offsets(topic, partition);
    if (!range) return fail(range.error());
    auto bytes = engine_->read(topic, partition, offset, max_bytes);
    if (!bytes) return fail(bytes.error());
    return FetchedBytes{std::move(*bytes), range->second};
  }

  Result<std::int64_t> offset_for_timestamp(std::string_view topic, std::int32_t partition,
                                            std::int64_t timestamp_ms) override {
    return engine_->offset_for_timestamp(topic, partition, timestamp_ms);
  }

  Status commit(std::string_view group, std::string_view topic, std::int32_t partition,
                std::int64_t offset) override {
    return engine_->commit_offset(group, topic, partition, offset);
  }

  Result<std::optional<std::int64_t>> committed(std::string_view group, std::string_view topic,
                                                std::int32_t partition) override {
    auto c = engine_->committed_offset(group, topic, partition);
    if (!c) return fail(c.error());
    if (!*c) return std::optional<std::int64_t>();
    return std::optional<std::int64_t>((*c)->offset);
  }

  Result<std::vector<std::pair<std::string, std::string>>> stats() override;

  Status submit_append(std::string_view topic, std::int32_t partition,
                       std::span<const std::byte> batch) override {
    {
      std::unique_lock lock(appends_->mu);
      appends_->cv.wait(lock, [&] { return appends_->in_flight < kMaxAppendsInFlight; });
      if (appends_->error) return fail(*appends_->error);
      ++appends_->in_flight;
    }
    std::vector<std::byte> copy(batch.begin(), batch.end());
    engine_->append_async(topic, partition, std::move(copy),
                          [state = appends_](Result<AppendResult> r) { state->acknowledge(r); });
    return {};
  }

  Result<AppendTotals> finish_appends() override {
    std::unique_lock lock(appends_->mu);
    appends_->cv.wait(lock, [&] { return appends_->in_flight == 0; });
    if (appends_->error) return fail(*appends_->error);
    return appends_->totals;
  }

  Status close() override {
    if (!engine_) return {};
    Status s = engine_->close();
    engine_.reset();
    return s;
  }

 private:
  std::string data_dir_;
  std::unique_ptr<Engine> engine_;
  std::shared_ptr<AppendState> appends_ = std::make_shared<AppendState>();
};

Result<std::vector<std::pair<std::string, std::string>>> EmbeddedBackend::stats() {
  auto s = engine_->stats();
  if (!s) return fail(s.error());
  std::vector<std::pair<std::string, std::string>> out;
  auto add = [&](const char* name, std::uint64_t value) {
    out.emplace_back(name, std::to_string(value));
  };
  add("topics", s->topics);
  add("partitions", s->partitions);
  add("corrupt_partitions", s->corrupt_partitions);
  add("failed_partitions", s->failed_partitions);
  add("append_requests", s->append_requests);
  add("append_batches", s->append_batches);
  add("append_records", s->append_records);
  add("append_bytes", s->append_bytes);
  add("append_errors", s->append_errors);
  add("write_cycles", s->write_cycles);
  add("writes", s->writes);
  add("syncs", s->syncs);
  add("rolls", s->rolls);
  add("prepared_rolls", s->prepared_rolls);
  add("fetches", s->fetches);
  add("segments_deleted", s->segments_deleted);
  add("offsets_expired", s->offsets_expired);
  add("free_space_bytes", s->free_space_bytes);
  add("min_free_space_bytes", s->min_free_space_bytes);
  out.emplace_back("appends_refused_for_space", s->appends_refused_for_space ? "1" : "0");
  add("space_refusals", s->space_refusals);
  add("checkpoints", s->checkpoints);
  add("preallocated_bytes", s->preallocated_bytes);
  add("preallocation_budget", s->preallocation_budget);
  add("open_segment_files", s->open_segment_files);
  add("max_open_files", s->max_open_files);
  add("recovery_scanned_bytes", s->recovery_scanned_bytes);
  add("recovery_truncated_bytes", s->recovery_truncated_bytes);
  add("recovery_ms", s->recovery_ms);
  out.emplace_back("recovered_clean_shutdown", s->recovered_clean_shutdown ? "1" : "0");
  out.emplace_back("env", s->env);
  add("damage", s->damage.size());
  for (std::size_t i = 0; i < s->damage.size(); ++i)
    out.emplace_back("damage." + std::to_string(i), s->damage[i]);
  return out;
}

}  // namespace

EngineOptions embedded_engine_options(const std::string& data_dir) {
  EngineOptions options;
  options.data_dir = data_dir;
  return options;
}

Result<std::unique_ptr<Backend>> make_embedded_backend(const std::string& data_dir) {
  auto engine = Engine::open(embedded_engine_options(data_dir));
  if (!engine) return fail(engine.error());
  return std::unique_ptr<Backend>(std::make_unique<EmbeddedBackend>(data_dir, std::move(*engine)));
}

}  // namespace ringlog::cli
