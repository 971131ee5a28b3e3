// Backend over a line-protocol Client connected to `ringlog serve` (--server ADDR:PORT).
#include <algorithm>

#include "cli/backend.h"
#include "protocol/client.h"

namespace ringlog::cli {
namespace {

constexpr std::size_t kMaxPutsInFlight = 16;
constexpr std::uint32_t kScanFetchBytes = 1u << 20;

class ServerBackend final : public Backend {
 public:
  ServerBackend(std::string address, std::unique_ptr<protocol::Client> client)
      : address_(std::move(address)), client_(std::move(client)) {}

  std::string describe_mode() const override { return "server " + address_; }
  bool embedded() const override { return false; }

  Status create_topic(std::string_view name, const TopicConfig& config) override {
    return client_->create(name, config.partitions);
  }
  Status delete_topic(std::string_view name) override { return client_->delete_topic(name); }

  Result<std::vector<TopicSummary>> list_topics() override {
    auto topics = client_->topics();
    if (!topics) return fail(topics.error());
    std::vector<TopicSummary> out;
    for (const protocol::TopicEntry& t : *topics)
      out.push_back({t.name, t.partitions});
    return out;
  }

  Result<TopicDescription> describe_topic(std::string_view name) override {
    auto parts = client_->describe(name);
    if (!parts) return fail(parts.error());
    TopicDescription out{std::string(name), {}, std::nullopt};
    for (const protocol::PartitionEntry& p : *parts)
      out.partitions.push_back({p.partition, p.log_start, p.high_watermark, std::nullopt});
    return out;
  }

  Result<std::pair<std::int64_t, std::int64_t>> offsets(std::string_view topic,
                                                        std::int32_t partition) override {
    auto o = client_->offsets(topic, partition);
    if (!o) return fail(o.error());
    return std::pair{o->log_start, o->high_watermark};
  }

  Result<FetchedBytes> fetch(std::string_view topic, std::int32_t partition, std::int64_t offset,
                             std::uint32_t max_bytes, std::uint32_t wait_ms) override {
    auto max = static_cast<std::int32_t>(std::min<std::uint32_t>(max_bytes, INT32_MAX));
    if (auto s = client_->fetch(topic, partition, offset, max, wait_ms, reply_); !s)
      return fail(s.error());
    return FetchedBytes{reply_.bytes, reply_.high_watermark};
  }

  // The line protocol has no time lookup: walk batch headers from the log start.
  Result<std::int64_t> offset_for_timestamp(std::string_view topic, std::int32_t partition,
                                            std::int64_t timestamp_ms) override;

  Status commit(std::string_view group, std::string_view topic, std::int32_t partition,
                std::int64_t offset) override {
    return client_->commit(group, topic, partition, offset);
  }

  Result<std::optional<std::int64_t>> committed(std::string_view group, std::string_view topic,
                                                std::int32_t partition) override {
    auto c = client_->committed(group, topic, partition);
    if (!c) return fail(c.error());
    if (*c < 0) return std::optional<std::int64_t>();
    return std::optional<std::int64_t>(*c);
  }

  Result<std::vector<std::pair<std::string, std::string>>> stats() override {
    return client_->stats();
  }

  Status submit_append(std::string_view topic, std::int32_t partition,
                       std::span<const std::byte> batch) override {
    // Sent at once: a batch is either full or its linger expired, so nothing gains by waiting.
    if (auto s = client_->send_putb(topic, partition, batch); !s) return s;
    if (auto s = client_->flush(); !s) return s;
    while (client_->outstanding() >= kMaxPutsInFlight) {
      if (auto s = read_one_ack(); !s) return s;
    }
    return {};
  }

  Result<AppendTotals> finish_appends() override {
    if (auto s = client_->flush(); !s) return fail(s.error());
    while (client_->outstanding() > 0) {
      if (auto s = read_one_ack(); !s) return fail(s.error());
    }
    return totals_;
  }

  Status close() override { return {}; }

 private:
  // Replies come only to requests that were sent: flush the queue before waiting for one.
  Status read_one_ack() {
    if (auto s = client_->flush(); !s) return s;
    auto range = client_->read_putb();
    if (!range) return fail(range.error());
    if (totals_.first_offset < 0) totals_.first_offset = range->first_offset;
    totals_.last_offset = std::max(totals_.last_offset, range->last_offset);
    ++totals_.batches;
    return {};
  }

  std::string address_;
  std::unique_ptr<protocol::Client> client_;
  protocol::FetchReply reply_;
  AppendTotals totals_;
};

Result<std::int64_t> ServerBackend::offset_for_timestamp(std::string_view topic,
                                                         std::int32_t partition,
                                                         std::int64_t timestamp_ms) {
  auto range = offsets(topic, partition);
  if (!range) return fail(range.error());
  std::int64_t offset = range->first;
  while (offset < range->second) {
    auto s = client_->fetch(topic, partition, offset, kScanFetchBytes, 0, reply_);
    if (!s) return fail(s.error());
    if (reply_.batches.empty()) break;
    for (const BatchView& batch : reply_.batches) {
      if (batch.max_timestamp_ms() >= timestamp_ms) return batch.base_offset();
    }
    offset = reply_.next_offset;
  }
  return range->second;
}

}  // namespace

Result<std::unique_ptr<Backend>> make_server_backend(const std::string& address) {
  protocol::ClientOptions options;
  options.address = address;
  auto client = protocol::Client::connect(options);
  if (!client) return fail(client.error());
  return std::unique_ptr<Backend>(std::make_unique<ServerBackend>(address, std::move(*client)));
}

}  // namespace ringlog::cli
