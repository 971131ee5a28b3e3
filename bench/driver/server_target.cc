// The server Target: `ringlog serve` over the line protocol, one Client (one TCP connection) per
// worker thread. Producers pipeline `putb` requests; consumers use `fetch` (zero-copy on the
// server side, CRC-checked by the client).
#include <deque>
#include <mutex>

#include "bench/driver/target.h"
#include "protocol/client.h"

namespace ringlog::bench {
namespace {

using protocol::Client;

Result<std::unique_ptr<Client>> connect(const std::string& address) {
  // A large flush threshold: the producer flushes after each batch itself.
  return Client::connect({.address = address, .io_timeout_ms = 60000, .flush_bytes = 8 << 20});
}

class ServerProducer final : public ProducerSession {
 public:
  ServerProducer(std::unique_ptr<Client> client, std::string topic, std::size_t in_flight,
                 Meter& meter)
      : client_(std::move(client)),
        topic_(std::move(topic)),
        in_flight_(std::max<std::size_t>(in_flight, 1)),
        meter_(meter) {}

  Status send(std::int32_t partition, std::span<const std::byte> batch, std::int32_t records,
              std::uint64_t payload_bytes, Clock::time_point first_added) override {
    while (sent_.size() >= in_flight_) {
      if (auto ok = read_one(); !ok) return std::unexpected(ok.error());
    }
    if (auto ok = client_->send_putb(topic_, partition, batch); !ok) return ok;
    sent_.push_back({records, payload_bytes, first_added});
    return client_->flush();
  }

  Result<bool> wait_one() override {
    if (sent_.empty()) return false;
    if (auto ok = read_one(); !ok) return std::unexpected(ok.error());
    return true;
  }

  Status drain() override {
    while (!sent_.empty()) {
      if (auto ok = read_one(); !ok) return ok;
    }
    return {};
  }

 private:
  struct Sent {
    std::int32_t records;
    std::uint64_t payload_bytes;
    Clock::time_point first_added;
  };

  Status read_one() {
    const Sent sent = sent_.front();
    sent_.pop_front();
    auto reply = client_->read_putb();
    if (!reply) {
      meter_.add_error();
      return std::unexpected(reply.error());
    }
    meter_.add(static_cast<std::uint64_t>(sent.records), sent.payload_bytes,
               nanos_between(sent.first_added, Clock::now()));
    return {};
  }

  std::unique_ptr<Client> client_;
  std::string topic_;
  std::size_t in_flight_;
  Meter& meter_;
  std::deque<Sent> sent_;
};

class ServerConsumer final : public ConsumerSession {
 public:
  ServerConsumer(std::unique_ptr<Client> client, std::string topic)
      : client_(std::move(client)), topic_(std::move(topic)) {}

  Status fetch(std::int32_t partition, std::int64_t offset, std::uint32_t max_bytes,
               std::uint32_t wait_ms, Fetched& out) override {
    auto ok = client_->fetch(topic_, partition, offset, static_cast<std::int32_t>(max_bytes),
                             wait_ms, reply_);
    if (!ok) return ok;
    out.batches.assign(reply_.batches.begin(), reply_.batches.end());
    out.high_watermark = reply_.high_watermark;
    out.next_offset = reply_.next_offset;
    out.bytes = reply_.bytes.size();
    return {};
  }

 private:
  std::unique_ptr<Client> client_;
  std::string topic_;
  protocol::FetchReply reply_;
};

class ServerTarget final : public Target {
 public:
  ServerTarget(std::string address, std::unique_ptr<Client> control)
      : address_(std::move(address)), control_(std::move(control)) {}

  std::string describe() const override { return "server " + address_; }

  Result<std::string> durability(std::string_view topic) override {
    std::lock_guard lock(mu_);
    auto stats = control_->stats(topic);
    if (!stats) return std::unexpected(stats.error());
    for (const auto& [name, value] : *stats) {
      if (name == "durability") return value;
    }
    return std::string("unknown");
  }

  Status prepare_topic(std::string_view topic, std::int32_t partitions) override {
    std::lock_guard lock(mu_);
    auto described = control_->describe(topic);
    if (described) {
      if (static_cast<std::int32_t>(described->size()) >= partitions) return {};
      return std::unexpected(
          Error(Errc::kInvalidArgument, "topic " + std::string(topic) + " exists with " +
                                            std::to_string(described->size()) + " partitions"));
    }
    return control_->create(topic, partitions);
  }

  Result<std::pair<std::int64_t, std::int64_t>> offsets(std::string_view topic,
                                                        std::int32_t partition) override {
    std::lock_guard lock(mu_);
    auto got = control_->offsets(topic, partition);
    if (!got) return std::unexpected(got.error());
    return std::pair(got->log_start, got->high_watermark);
  }

  Result<std::unique_ptr<ProducerSession>> producer(std::string_view topic, std::size_t in_flight,
                                                    Meter& meter) override {
    auto client = connect(address_);
    if (!client) return std::unexpected(client.error());
    return std::make_unique<ServerProducer>(std::move(*client), std::string(topic), in_flight,
                                            meter);
  }

  Result<std::unique_ptr<ConsumerSession>> consumer(std::string_view topic) override {
    auto client = connect(address_);
    if (!client) return std::unexpected(client.error());
    return std::make_unique<ServerConsumer>(std::move(*client), std::string(topic));
  }

  Result<LogCounters> counters() override {
    std::lock_guard lock(mu_);
    auto stats = control_->stats();
    if (!stats) return std::unexpected(stats.error());
    LogCounters counters;
    for (const auto& [name, value] : *stats) {
      std::uint64_t n = std::strtoull(value.c_str(), nullptr, 10);
      if (name == "append_bytes") counters.append_bytes = n;
      if (name == "append_records") counters.append_records = n;
      if (name == "syncs") counters.syncs = n;
      if (name == "write_cycles") counters.write_cycles = n;
    }
    return counters;
  }

  Status sync() override {
    return std::unexpected(Error(Errc::kUnsupported, "--sync-at-end needs an embedded engine"));
  }

  Status close() override { return {}; }

 private:
  std::string address_;
  std::mutex mu_;
  std::unique_ptr<Client> control_;
};

}  // namespace

Result<std::unique_ptr<Target>> open_server_target(const BenchOptions& options) {
  auto control = connect(options.server);
  if (!control) return std::unexpected(control.error());
  return std::make_unique<ServerTarget>(options.server, std::move(*control));
}

}  // namespace ringlog::bench
