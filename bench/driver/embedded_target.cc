// The embedded Target: an Engine opened in this process, appended to with append_async and read
// with fetch() + pread, as an application embedding ringlog would.
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>

#include <ringlog/engine.h>

#include "bench/driver/target.h"

namespace ringlog::bench {
namespace {

// Wakes consumers waiting for data (the engine's visibility listener).
struct Visibility {
  std::mutex mu;
  std::condition_variable cv;
  std::uint64_t generation = 0;
};

class EmbeddedProducer final : public ProducerSession {
 public:
  EmbeddedProducer(Engine& engine, std::string topic, std::size_t in_flight, Meter& meter)
      : engine_(engine),
        topic_(std::move(topic)),
        in_flight_(std::max<std::size_t>(in_flight, 1)),
        state_(std::make_shared<State>(meter)) {}
  ~EmbeddedProducer() override { (void)drain(); }

  Status send(std::int32_t partition, std::span<const std::byte> batch, std::int32_t records,
              std::uint64_t payload_bytes, Clock::time_point first_added) override {
    {
      std::unique_lock lock(state_->mu);
      state_->cv.wait(lock, [&] { return state_->outstanding < in_flight_; });
      if (state_->error) return std::unexpected(*state_->error);
      ++state_->outstanding;
    }
    std::vector<std::byte> bytes(batch.begin(), batch.end());
    engine_.append_async(
        topic_, partition, std::move(bytes),
        [state = state_, records, payload_bytes, first_added](Result<AppendResult> r) {
          state->acknowledged(r, records, payload_bytes, first_added);
        });
    return {};
  }

  Result<bool> wait_one() override {
    std::unique_lock lock(state_->mu);
    if (state_->outstanding == 0) return false;
    const std::uint64_t seen = state_->acks;
    state_->cv.wait(lock, [&] { return state_->acks != seen; });
    if (state_->error) return std::unexpected(*state_->error);
    return true;
  }

  Status drain() override {
    std::unique_lock lock(state_->mu);
    state_->cv.wait(lock, [&] { return state_->outstanding == 0; });
    if (state_->error) return std::unexpected(*state_->error);
    return {};
  }

 private:
  // Shared with the append callbacks, so that a callback may notify after unlocking (the
  // producer thread, woken, does not then block on the mutex the callback still holds) even if
  // the session is destroyed meanwhile.
  struct State {
    explicit State(Meter& m) : meter(m) {}

    // On the engine's writer thread: cheap, never blocks for long.
    void acknowledged(const Result<AppendResult>& result, std::int32_t records,
                      std::uint64_t payload_bytes, Clock::time_point first_added) {
      if (result) {
        meter.add(static_cast<std::uint64_t>(records), payload_bytes,
                  nanos_between(first_added, Clock::now()));
      } else {
        meter.add_error();
      }
      {
        std::lock_guard lock(mu);
        if (!result && !error) error = result.error();
        --outstanding;
        ++acks;
      }
      cv.notify_one();  // only the producer's own thread waits
    }

    Meter& meter;
    std::mutex mu;
    std::condition_variable cv;
    std::size_t outstanding = 0;
    std::uint64_t acks = 0;
    std::optional<Error> error;
  };

  Engine& engine_;
  std::string topic_;
  std::size_t in_flight_;
  std::shared_ptr<State> state_;
};

class EmbeddedConsumer final : public ConsumerSession {
 public:
  EmbeddedConsumer(Engine& engine, std::string topic, Visibility& visibility)
      : engine_(engine), topic_(std::move(topic)), visibility_(visibility) {}

  Status fetch(std::int32_t partition, std::int64_t offset, std::uint32_t max_bytes,
               std::uint32_t wait_ms, Fetched& out) override {
    std::uint64_t generation = current_generation();
    auto result = engine_.fetch(topic_, partition, offset, max_bytes);
    if (!result) return std::unexpected(result.error());
    if (result->slice.length == 0 && wait_ms > 0) {
      std::unique_lock lock(visibility_.mu);
      visibility_.cv.wait_for(lock, std::chrono::milliseconds(wait_ms),
                              [&] { return visibility_.generation != generation; });
      lock.unlock();
      result = engine_.fetch(topic_, partition, offset, max_bytes);
      if (!result) return std::unexpected(result.error());
    }
    return read_slice(*result, offset, out);
  }

 private:
  std::uint64_t current_generation() {
    std::lock_guard lock(visibility_.mu);
    return visibility_.generation;
  }

  Status read_slice(const FetchResult& fetched, std::int64_t offset, Fetched& out) {
    out.batches.clear();
    out.high_watermark = fetched.high_watermark;
    out.next_offset = offset;
    out.bytes = fetched.slice.length;
    if (fetched.slice.length == 0) return {};
    buffer_.resize(std::max<std::size_t>(buffer_.size(), fetched.slice.length));
    std::size_t done = 0;
    while (done < fetched.slice.length) {
      ssize_t n = ::pread(fetched.slice.fd, buffer_.data() + done, fetched.slice.length - done,
                          static_cast<off_t>(fetched.slice.position + done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return std::unexpected(Error(Errc::kIo, "pread of a fetched segment range"));
      done += static_cast<std::size_t>(n);
    }
    BatchReader reader(std::span<const std::byte>(buffer_.data(), done));
    for (ParsedBatch parsed = reader.next(); parsed.ok(); parsed = reader.next()) {
      out.batches.push_back(parsed.batch);
      out.next_offset = parsed.batch.next_offset();
    }
    if (out.batches.empty()) {
      return std::unexpected(Error(Errc::kCorruption, "fetch returned no whole valid batch"));
    }
    return {};
  }

  Engine& engine_;
  std::string topic_;
  Visibility& visibility_;
  std::vector<std::byte> buffer_;
};

class EmbeddedTarget final : public Target {
 public:
  EmbeddedTarget(std::unique_ptr<Engine> engine, std::string data_dir, bool temporary)
      : engine_(std::move(engine)), data_dir_(std::move(data_dir)), temporary_(temporary) {
    engine_->set_visibility_listener([this](std::string_view, std::int32_t, std::int64_t) {
      std::lock_guard lock(visibility_.mu);
      ++visibility_.generation;
      visibility_.cv.notify_all();
    });
  }
  ~EmbeddedTarget() override { (void)close(); }

  std::string describe() const override { return "embedded " + data_dir_; }

  Result<std::string> durability(std::string_view topic) override {
    auto info = engine_->describe_topic(topic);
    if (!info) return std::unexpected(info.error());
    return info->durability.to_string();
  }

  Status prepare_topic(std::string_view topic, std::int32_t partitions) override {
    auto info = engine_->describe_topic(topic);
    if (info) {
      if (static_cast<std::int32_t>(info->partitions.size()) >= partitions) return {};
      return std::unexpected(Error(Errc::kInvalidArgument,
                                   "topic " + std::string(topic) + " exists with " +
                                       std::to_string(info->partitions.size()) + " partitions"));
    }
    TopicConfig config;
    config.partitions = partitions;
    return engine_->create_topic(topic, config);
  }

  Result<std::pair<std::int64_t, std::int64_t>> offsets(std::string_view topic,
                                                        std::int32_t partition) override {
    return engine_->offsets(topic, partition);
  }

  Result<std::unique_ptr<ProducerSession>> producer(std::string_view topic, std::size_t in_flight,
                                                    Meter& meter) override {
    return std::make_unique<EmbeddedProducer>(*engine_, std::string(topic), in_flight, meter);
  }

  Result<std::unique_ptr<ConsumerSession>> consumer(std::string_view topic) override {
    return std::make_unique<EmbeddedConsumer>(*engine_, std::string(topic), visibility_);
  }

  Result<LogCounters> counters() override {
    auto stats = engine_->stats();
    if (!stats) return std::unexpected(stats.error());
    return LogCounters{.append_bytes = stats->append_bytes,
                       .append_records = stats->append_records,
                       .syncs = stats->syncs,
                       .write_cycles = stats->write_cycles,
                       .writes = stats->writes};
  }

  Status sync() override { return engine_->sync(); }

  Status close() override {
    if (!engine_) return {};
    engine_->set_visibility_listener(nullptr);
    Status status = engine_->close();
    engine_.reset();
    if (temporary_) {
      std::error_code ignored;
      std::filesystem::remove_all(data_dir_, ignored);
    }
    return status;
  }

 private:
  std::unique_ptr<Engine> engine_;
  std::string data_dir_;
  bool temporary_;
  Visibility visibility_;
};

Result<std::string> make_temp_dir(const std::string& root) {
  std::string pattern = root + "/ringlog-bench-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) {
    return std::unexpected(
        Error(Errc::kIo, "mkdtemp " + pattern + ": " + std::strerror(errno), errno));
  }
  return pattern;
}

}  // namespace

Result<std::unique_ptr<Target>> open_embedded_target(const BenchOptions& options) {
  const bool temporary = options.data_dir.empty();
  std::string dir = options.data_dir;
  if (temporary) {
    auto made = make_temp_dir(options.temp_root);
    if (!made) return std::unexpected(made.error());
    dir = *made;
  }
  EngineOptions engine_options;
  engine_options.data_dir = dir;
  engine_options.durability = options.durability;
  engine_options.segment_bytes = options.segment_bytes;
  auto engine = Engine::open(std::move(engine_options));
  if (!engine) {
    if (temporary) {
      std::error_code ignored;
      std::filesystem::remove_all(dir, ignored);
    }
    return std::unexpected(engine.error());
  }
  return std::make_unique<EmbeddedTarget>(std::move(*engine), dir, temporary);
}

}  // namespace ringlog::bench
