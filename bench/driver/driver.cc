// The workloads of `ringlog bench` (driver.h): producer and consumer threads over a Target, and a
// reporter thread for the progress line, the per-second series and the --duration deadline.
#include "bench/driver/driver.h"

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <limits>
#include <mutex>
#include <thread>

#include <ringlog/batch.h>

#include "bench/driver/meter.h"
#include "bench/driver/target.h"

namespace ringlog::bench {

Result<std::unique_ptr<Target>> open_embedded_target(const BenchOptions& options);
Result<std::unique_ptr<Target>> open_server_target(const BenchOptions& options);

Result<std::unique_ptr<Target>> open_target(const BenchOptions& options) {
  return options.server.empty() ? open_embedded_target(options) : open_server_target(options);
}

std::string_view workload_name(Workload workload) noexcept {
  switch (workload) {
    case Workload::kProduce:
      return "produce";
    case Workload::kConsume:
      return "consume";
    case Workload::kE2e:
      return "e2e";
  }
  return "?";
}

namespace {

// Worst-case bytes a record adds to a batch beyond its value (varints, attributes), as the
// protocol Producer assumes.
constexpr std::size_t kRecordOverheadBytes = 32;
constexpr std::size_t kStampBytes = 8;
constexpr auto kProgressTick = std::chrono::milliseconds(250);
constexpr int kTicksPerSample = 4;
// An e2e consumer that sees nothing new for this long after the producers finished gives up.
constexpr auto kE2eStallLimit = std::chrono::seconds(10);

// What every worker of one phase shares.
struct Phase {
  Phase(const BenchOptions& o, Target& t) : options(o), target(t) {}

  const BenchOptions& options;
  Target& target;
  Clock::time_point start;
  std::atomic<bool> stop{false};           // deadline, quota reached, or an error
  std::atomic<std::uint64_t> sent{0};      // messages handed to the log
  std::atomic<std::uint64_t> consumed{0};  // messages consumed
  std::atomic<unsigned> producers_running{0};
  std::mutex mu;
  std::condition_variable done_cv;
  bool done = false;  // every worker has finished (guarded by mu)
  std::optional<Error> error;

  void fail(const Error& e) {
    std::lock_guard lock(mu);
    if (!error) error = e;
    stop = true;
  }
};

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::uint64_t stamp_of(Clock::time_point t) {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
}

void fill_payload(std::vector<std::byte>& payload, std::uint64_t seed) {
  std::uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (std::byte& b : payload) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    b = static_cast<std::byte>(x);
  }
}

// --rate, for producers (produce, e2e) and catch-up consumers (consume) alike: due-time pacing.
// A worker's n-th message is due at the phase's start + n * interval, however late the ones
// before it were, so a worker that fell behind catches up at full speed rather than lowering the
// rate (and a producer's latencies count from the due time: no coordinated omission).
double pacing_interval_ns(double rate, std::size_t workers) {
  return rate > 0 ? 1e9 * static_cast<double>(std::max<std::size_t>(workers, 1)) / rate : 0;
}

Clock::time_point due_time(Clock::time_point start, std::uint64_t n, double interval_ns) {
  return start +
         std::chrono::nanoseconds(static_cast<std::int64_t>(static_cast<double>(n) * interval_ns));
}

struct ProducerPlan {
  unsigned index = 0;
  std::uint64_t quota = 0;  // messages; max(): until Phase::stop
  bool stamp_each = false;  // stamp every message with its send time (e2e)
  double interval_ns = 0;   // between this producer's messages (pacing_interval_ns); 0: unpaced
};

// One producer thread: builds batches of `batch_bytes`, round-robin over the partitions (a new
// partition per batch, as Kafka's sticky partitioner), and sends them through its session.
class ProducerLoop {
 public:
  ProducerLoop(Phase& phase, ProducerSession& session, const ProducerPlan& plan)
      : phase_(phase),
        o_(phase.options),
        session_(session),
        plan_(plan),
        payload_(o_.message_bytes),
        builder_({}, o_.batch_bytes + 1024),
        record_bytes_(o_.message_bytes + kRecordOverheadBytes),
        partition_(static_cast<std::int32_t>(plan.index % static_cast<unsigned>(o_.partitions))),
        linger_(std::chrono::microseconds(o_.linger_us)) {
    fill_payload(payload_, plan.index + 1);
  }

  Status run() {
    timestamp_ms_ = wall_ms();
    while (sent_ < plan_.quota && !phase_.stop.load(std::memory_order_relaxed)) {
      Clock::time_point stamp;
      if (plan_.interval_ns > 0) {
        const auto due = due_time(phase_.start, sent_, plan_.interval_ns);
        auto waited = wait_until_due(due);
        if (!waited) return std::unexpected(waited.error());
        if (!*waited) continue;
        stamp = due;
      } else if (plan_.stamp_each || builder_.record_count() == 0 ||
                 builder_.size_bytes() + record_bytes_ > o_.batch_bytes) {
        stamp = Clock::now();
      }
      if (auto ok = add(stamp); !ok) return ok;
    }
    if (builder_.record_count() > 0) {
      if (auto ok = send(); !ok) return ok;
    }
    return session_.drain();
  }

 private:
  // Rate mode: true when `due` has come; otherwise sends a lingering batch or waits a little
  // (reading an acknowledgement if one is outstanding) and returns false.
  Result<bool> wait_until_due(Clock::time_point due) {
    const auto now = Clock::now();
    if (due <= now) return true;
    if (builder_.record_count() > 0 && now - opened_at_ >= linger_) {
      if (auto ok = send(); !ok) return std::unexpected(ok.error());
      return false;
    }
    auto waited = session_.wait_one();
    if (!waited) return std::unexpected(waited.error());
    if (!*waited) {
      auto until = due;
      if (builder_.record_count() > 0) until = std::min(until, opened_at_ + linger_);
      std::this_thread::sleep_until(until);
    }
    return false;
  }

  Status add(Clock::time_point stamp) {
    if (builder_.record_count() > 0 && builder_.size_bytes() + record_bytes_ > o_.batch_bytes) {
      if (auto ok = send(); !ok) return ok;
    }
    if (builder_.record_count() == 0) {
      first_added_ = stamp;
      opened_at_ = plan_.interval_ns > 0 ? Clock::now() : stamp;
    }
    if (payload_.size() >= kStampBytes) {
      const std::uint64_t ns = stamp_of(plan_.stamp_each ? stamp : first_added_);
      std::memcpy(payload_.data(), &ns, kStampBytes);
    }
    builder_.add(std::nullopt, std::span<const std::byte>(payload_), {}, timestamp_ms_);
    ++sent_;
    batch_payload_ += payload_.size();
    const bool full = builder_.size_bytes() + record_bytes_ > o_.batch_bytes;
    const bool lingered = plan_.interval_ns > 0 && Clock::now() - opened_at_ >= linger_;
    if (full || lingered) return send();
    return {};
  }

  Status send() {
    const std::int32_t records = builder_.record_count();
    Status ok = session_.send(partition_, builder_.finish(), records, batch_payload_, first_added_);
    phase_.sent.fetch_add(static_cast<std::uint64_t>(records), std::memory_order_relaxed);
    builder_.reset();
    batch_payload_ = 0;
    partition_ = (partition_ + 1) % o_.partitions;
    timestamp_ms_ = wall_ms();
    return ok;
  }

  Phase& phase_;
  const BenchOptions& o_;
  ProducerSession& session_;
  ProducerPlan plan_;
  std::vector<std::byte> payload_;
  BatchBuilder builder_;
  std::size_t record_bytes_;
  std::int32_t partition_;
  std::chrono::nanoseconds linger_;
  std::uint64_t sent_ = 0;
  std::uint64_t batch_payload_ = 0;
  Clock::time_point first_added_;  // the batch's first message's creation (scheduled) time
  Clock::time_point opened_at_;    // when that message was really added: linger counts from here
  std::int64_t timestamp_ms_ = 0;
};

// The partitions one consumer reads, with its position and (catch-up) end in each.
struct ConsumerPlan {
  std::vector<std::int32_t> partitions;
  std::vector<std::int64_t> offsets;
  std::vector<std::int64_t> ends;  // exclusive; max() for e2e
  double interval_ns = 0;          // catch-up: between this consumer's messages; 0: unpaced
};

// Records of `batch` at or after `from` and before `end`.
std::uint64_t records_in(const BatchView& batch, std::int64_t from, std::int64_t end) {
  const std::int64_t first = std::max(batch.base_offset(), from);
  const std::int64_t last = std::min(batch.last_offset(), end - 1);
  return last >= first ? static_cast<std::uint64_t>(last - first + 1) : 0;
}

Status stalled(std::int32_t partition, std::int64_t offset) {
  return std::unexpected(Error(Errc::kInternal, "consumer made no progress in partition " +
                                                    std::to_string(partition) + " at offset " +
                                                    std::to_string(offset)));
}

// Paced catch-up (--rate): sleeps until `due`, in slices so that a stopped phase (--duration,
// an error elsewhere) is noticed. False when the phase stopped first.
bool sleep_until_due(const Phase& phase, Clock::time_point due) {
  constexpr auto kSlice = std::chrono::milliseconds(50);
  for (;;) {
    if (phase.stop.load(std::memory_order_relaxed)) return false;
    const auto now = Clock::now();
    if (due <= now) return true;
    std::this_thread::sleep_until(std::min(due, now + kSlice));
  }
}

// Catch-up: reads every assigned partition from its start to its end, round-robin, until the
// phase has consumed `messages` (when > 0) or it is stopped. Paced (--rate), each fetch waits
// until the messages this consumer has read so far are due, then reads up to fetch_bytes.
Status run_catchup_consumer(Phase& phase, ConsumerSession& session, ConsumerPlan plan,
                            Meter& meter) {
  const BenchOptions& o = phase.options;
  Fetched out;
  std::uint64_t consumed = 0;  // by this consumer
  bool any = true;
  while (any && !phase.stop.load(std::memory_order_relaxed)) {
    any = false;
    for (std::size_t i = 0; i < plan.partitions.size(); ++i) {
      if (plan.offsets[i] >= plan.ends[i]) continue;
      any = true;
      if (plan.interval_ns > 0 &&
          !sleep_until_due(phase, due_time(phase.start, consumed, plan.interval_ns)))
        return {};
      if (auto ok = session.fetch(plan.partitions[i], plan.offsets[i], o.fetch_bytes, 0, out); !ok)
        return ok;
      std::uint64_t count = 0;
      for (const BatchView& batch : out.batches)
        count += records_in(batch, plan.offsets[i], plan.ends[i]);
      if (out.next_offset <= plan.offsets[i]) return stalled(plan.partitions[i], plan.offsets[i]);
      plan.offsets[i] = out.next_offset;
      consumed += count;
      meter.add(count, count * o.message_bytes);
      const std::uint64_t total = phase.consumed.fetch_add(count) + count;
      if (o.messages > 0 && total >= o.messages) phase.stop = true;
    }
  }
  return {};
}

// Records the e2e latency of every new record of one fetch (delivery time: now).
std::uint64_t record_e2e(const Fetched& out, std::int64_t from, Meter& meter,
                         std::size_t message_bytes) {
  std::uint64_t count = 0;
  for (const BatchView& batch : out.batches)
    count += records_in(batch, from, std::numeric_limits<std::int64_t>::max());
  if (count == 0) return 0;
  const std::uint64_t now = stamp_of(Clock::now());
  meter.with_histograms(count, count * message_bytes, [&](Histogram& total, Histogram& interval) {
    for (const BatchView& batch : out.batches) {
      for (const RecordView& record : batch.records()) {
        if (record.offset < from || !record.value || record.value->size() < kStampBytes) continue;
        std::uint64_t sent_ns = 0;
        std::memcpy(&sent_ns, record.value->data(), kStampBytes);
        const std::uint64_t latency = now > sent_ns ? now - sent_ns : 0;
        total.record(latency);
        interval.record(latency);
      }
    }
  });
  return count;
}

// e2e: follows the assigned partitions from where they ended when the phase began, until the
// producers have finished and everything they sent has been consumed.
Status run_e2e_consumer(Phase& phase, ConsumerSession& session, ConsumerPlan plan, Meter& meter) {
  const BenchOptions& o = phase.options;
  const std::uint32_t wait_ms = plan.partitions.size() == 1 ? 50 : 0;
  Fetched out;
  auto last_progress = Clock::now();
  for (;;) {
    bool progressed = false;
    for (std::size_t i = 0; i < plan.partitions.size(); ++i) {
      if (auto ok = session.fetch(plan.partitions[i], plan.offsets[i], o.fetch_bytes, wait_ms, out);
          !ok)
        return ok;
      const std::uint64_t count = record_e2e(out, plan.offsets[i], meter, o.message_bytes);
      if (out.next_offset > plan.offsets[i]) {
        plan.offsets[i] = out.next_offset;
        progressed = true;
      }
      phase.consumed.fetch_add(count);
    }
    const bool producing = phase.producers_running.load() > 0;
    if (!producing && phase.consumed.load() >= phase.sent.load()) return {};
    if (progressed) {
      last_progress = Clock::now();
    } else if (!producing && Clock::now() - last_progress > kE2eStallLimit) {
      return std::unexpected(Error(Errc::kTimedOut, "e2e consumers did not receive every message"));
    } else if (wait_ms == 0) {
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
  }
}

// ---- reporting during the run ----

struct Meters {
  std::vector<std::unique_ptr<Meter>> produce;
  std::vector<std::unique_ptr<Meter>> consume;
};

MeterTotals sum(const std::vector<std::unique_ptr<Meter>>& meters) {
  MeterTotals all;
  for (const auto& m : meters) {
    MeterTotals t = m->totals();
    all.messages += t.messages;
    all.bytes += t.bytes;
    all.errors += t.errors;
  }
  return all;
}

double seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

class Reporter {
 public:
  Reporter(Phase& phase, Meters& meters, BenchReport& report, std::FILE* progress, std::FILE* csv)
      : phase_(phase),
        meters_(meters),
        report_(report),
        progress_(progress),
        csv_(csv),
        latency_meters_(phase.options.workload == Workload::kE2e ? &meters.consume
                                                                 : &meters.produce) {}

  void run() {
    auto deadline = phase_.options.duration_ms > 0
                        ? phase_.start + std::chrono::milliseconds(phase_.options.duration_ms)
                        : Clock::time_point::max();
    int tick = 0;
    std::unique_lock lock(phase_.mu);
    for (;;) {
      const auto next = phase_.start + kProgressTick * (tick + 1);
      phase_.done_cv.wait_until(lock, std::min(next, deadline), [&] { return phase_.done; });
      if (phase_.done) break;
      const auto now = Clock::now();
      if (now >= deadline) {
        phase_.stop = true;
        deadline = Clock::time_point::max();
      }
      if (now < next) continue;
      ++tick;
      lock.unlock();
      if (tick % kTicksPerSample == 0) sample(now);
      draw(now);
      lock.lock();
    }
    lock.unlock();
    if (progress_ != nullptr) std::fputs("\r\033[K", progress_);
  }

  // The last, partial interval.
  void finish(Clock::time_point end) {
    if (seconds(end - last_sample_at_) >= 0.1) sample(end);
  }

 private:
  void sample(Clock::time_point now) {
    const MeterTotals produced = sum(meters_.produce);
    const MeterTotals consumed = sum(meters_.consume);
    Histogram interval;
    for (const auto& m : *latency_meters_)
      m->take_interval(interval);
    const double dt = seconds(now - last_sample_at_);
    Sample s;
    s.elapsed_s = seconds(now - phase_.start);
    s.produced = produced.messages;
    s.consumed = consumed.messages;
    s.produce_msgs_per_s = static_cast<double>(produced.messages - last_produced_.messages) / dt;
    s.produce_mb_per_s = static_cast<double>(produced.bytes - last_produced_.bytes) / dt / 1e6;
    s.consume_msgs_per_s = static_cast<double>(consumed.messages - last_consumed_.messages) / dt;
    s.consume_mb_per_s = static_cast<double>(consumed.bytes - last_consumed_.bytes) / dt / 1e6;
    s.p50_ns = interval.value_at_percentile(50);
    s.p99_ns = interval.value_at_percentile(99);
    s.max_ns = interval.max();
    report_.series.push_back(s);
    if (csv_ != nullptr) {
      std::fputs(csv_row(s).c_str(), csv_);
      std::fflush(csv_);
    }
    last_sample_at_ = now;
    last_produced_ = produced;
    last_consumed_ = consumed;
  }

  void draw(Clock::time_point now) {
    if (progress_ == nullptr) return;
    const double elapsed = seconds(now - phase_.start);
    const MeterTotals produced = sum(meters_.produce);
    const MeterTotals consumed = sum(meters_.consume);
    const bool reading = phase_.options.workload == Workload::kConsume;
    const MeterTotals& t = reading ? consumed : produced;
    std::fprintf(progress_, "\r\033[K%s %6.1f s  %12llu msgs  %11.0f msgs/s  %8.1f MB/s",
                 std::string(workload_name(phase_.options.workload)).c_str(), elapsed,
                 static_cast<unsigned long long>(t.messages),
                 static_cast<double>(t.messages) / elapsed,
                 static_cast<double>(t.bytes) / elapsed / 1e6);
    if (phase_.options.workload == Workload::kE2e) {
      std::fprintf(progress_, "  consumed %llu",
                   static_cast<unsigned long long>(consumed.messages));
    }
    std::fflush(progress_);
  }

  Phase& phase_;
  Meters& meters_;
  BenchReport& report_;
  std::FILE* progress_;
  std::FILE* csv_;
  std::vector<std::unique_ptr<Meter>>* latency_meters_;
  Clock::time_point last_sample_at_ = phase_.start;
  MeterTotals last_produced_;
  MeterTotals last_consumed_;
};

// ---- phases ----

struct CpuTimes {
  double user_s = 0;
  double system_s = 0;
};

CpuTimes cpu_now() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  auto s = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + tv.tv_usec / 1e6; };
  return {s(usage.ru_utime), s(usage.ru_stime)};
}

std::vector<ProducerPlan> producer_plans(const BenchOptions& o, std::uint64_t messages,
                                         bool stamp_each) {
  std::vector<ProducerPlan> plans;
  const unsigned n = std::max(o.producers, 1u);
  for (unsigned i = 0; i < n; ++i) {
    ProducerPlan plan;
    plan.index = i;
    plan.quota = messages == 0 ? std::numeric_limits<std::uint64_t>::max()
                               : messages / n + (i < messages % n ? 1 : 0);
    plan.stamp_each = stamp_each;
    plan.interval_ns = pacing_interval_ns(o.rate, n);
    plans.push_back(plan);
  }
  return plans;
}

// Runs producers (plans) and consumers (consumer_plans) on their own threads until they finish;
// the reporter runs on this thread.
Status run_phase(Phase& phase, Meters& meters, const std::vector<ProducerPlan>& plans,
                 const std::vector<ConsumerPlan>& consumer_plans, BenchReport* report,
                 std::FILE* progress, std::FILE* csv) {
  const BenchOptions& o = phase.options;
  std::vector<std::unique_ptr<ProducerSession>> producers;
  std::vector<std::unique_ptr<ConsumerSession>> consumers;
  for (std::size_t i = 0; i < plans.size(); ++i) {
    meters.produce.push_back(std::make_unique<Meter>());
    auto session = phase.target.producer(o.topic, o.in_flight, *meters.produce.back());
    if (!session) return std::unexpected(session.error());
    producers.push_back(std::move(*session));
  }
  for (std::size_t i = 0; i < consumer_plans.size(); ++i) {
    meters.consume.push_back(std::make_unique<Meter>());
    auto session = phase.target.consumer(o.topic);
    if (!session) return std::unexpected(session.error());
    consumers.push_back(std::move(*session));
  }
  phase.start = Clock::now();
  phase.producers_running = static_cast<unsigned>(plans.size());
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < plans.size(); ++i) {
    threads.emplace_back([&, i] {
      Status ok = ProducerLoop(phase, *producers[i], plans[i]).run();
      if (!ok) phase.fail(ok.error());
      phase.producers_running.fetch_sub(1);
    });
  }
  for (std::size_t i = 0; i < consumer_plans.size(); ++i) {
    threads.emplace_back([&, i] {
      Status ok =
          o.workload == Workload::kE2e
              ? run_e2e_consumer(phase, *consumers[i], consumer_plans[i], *meters.consume[i])
              : run_catchup_consumer(phase, *consumers[i], consumer_plans[i], *meters.consume[i]);
      if (!ok) phase.fail(ok.error());
    });
  }
  std::thread waiter([&] {
    for (std::thread& t : threads)
      t.join();
    if (o.sync_at_end && !phase.error) {
      if (Status ok = phase.target.sync(); !ok) phase.fail(ok.error());
    }
    std::lock_guard lock(phase.mu);
    phase.done = true;
    phase.done_cv.notify_all();
  });
  std::optional<Reporter> reporter;
  if (report != nullptr) {
    reporter.emplace(phase, meters, *report, progress, csv);
    reporter->run();
  }
  waiter.join();
  const auto end = Clock::now();
  if (report != nullptr) {
    reporter->finish(end);
    report->elapsed_s = seconds(end - phase.start);
  }
  if (phase.error) return std::unexpected(*phase.error);
  return {};
}

// Consumers split the partitions: consumer i reads partitions i, i + consumers, ...
Result<std::vector<ConsumerPlan>> consumer_plans(const BenchOptions& o, Target& target,
                                                 bool from_start) {
  std::vector<ConsumerPlan> plans(
      std::max(1u, std::min<unsigned>(o.consumers, static_cast<unsigned>(o.partitions))));
  for (std::int32_t p = 0; p < o.partitions; ++p) {
    auto offsets = target.offsets(o.topic, p);
    if (!offsets) return std::unexpected(offsets.error());
    ConsumerPlan& plan = plans[static_cast<std::size_t>(p) % plans.size()];
    plan.partitions.push_back(p);
    plan.offsets.push_back(from_start ? offsets->first : offsets->second);
    plan.ends.push_back(from_start ? offsets->second : std::numeric_limits<std::int64_t>::max());
  }
  // --rate paces the consumers only where nothing else sets their pace (e2e follows producers).
  if (o.workload == Workload::kConsume) {
    for (ConsumerPlan& plan : plans)
      plan.interval_ns = pacing_interval_ns(o.rate, plans.size());
  }
  return plans;
}

// consume: appends what is missing for `messages` to be readable (not measured).
Result<std::uint64_t> fill_topic(const BenchOptions& o, Target& target) {
  std::uint64_t available = 0;
  for (std::int32_t p = 0; p < o.partitions; ++p) {
    auto offsets = target.offsets(o.topic, p);
    if (!offsets) return std::unexpected(offsets.error());
    available += static_cast<std::uint64_t>(offsets->second - offsets->first);
  }
  if (available >= o.messages) return std::uint64_t{0};
  const std::uint64_t missing = o.messages - available;
  BenchOptions fill = o;
  fill.workload = Workload::kProduce;
  fill.rate = 0;
  fill.duration_ms = 0;
  fill.sync_at_end = false;
  fill.producers =
      std::min<unsigned>(std::max(o.producers, 1u), static_cast<unsigned>(o.partitions));
  Phase phase(fill, target);
  Meters meters;
  if (auto ok = run_phase(phase, meters, producer_plans(fill, missing, false), {}, nullptr, nullptr,
                          nullptr);
      !ok)
    return std::unexpected(ok.error());
  return missing;
}

Status check_options(const BenchOptions& o) {
  auto bad = [](const std::string& why) -> Status {
    return std::unexpected(Error(Errc::kInvalidArgument, why));
  };
  if (o.partitions < 1) return bad("partitions must be at least 1");
  if (o.workload != Workload::kConsume && o.producers < 1) return bad("producers must be >= 1");
  if (o.workload != Workload::kProduce && o.consumers < 1) return bad("consumers must be >= 1");
  if (o.messages == 0 && o.duration_ms == 0) return bad("give a message count or a duration");
  if (!(o.rate >= 0) || std::isinf(o.rate)) return bad("rate must be a number of messages/s >= 0");
  if (o.workload == Workload::kConsume && o.messages == 0)
    return bad("consume reads a count of messages: give --messages");
  if (o.workload == Workload::kE2e && o.message_bytes < kStampBytes)
    return bad("e2e stamps the send time into the message: messages of at least 8 bytes");
  if (kBatchHeaderBytes + o.message_bytes + kRecordOverheadBytes > o.batch_bytes)
    return bad("a message does not fit in a batch: raise --batch-size");
  return {};
}

void take_counters(Target& target, const std::optional<LogCounters>& before, BenchReport& report) {
  auto after = target.counters();
  if (!before || !after) return;
  report.log_bytes = after->append_bytes - before->append_bytes;
  report.syncs = after->syncs - before->syncs;
  report.write_cycles = after->write_cycles - before->write_cycles;
  if (after->writes && before->writes) report.writes = *after->writes - *before->writes;
}

Status run_with_target(const BenchOptions& o, Target& target, BenchReport& report,
                       std::FILE* progress, std::FILE* csv) {
  report.target = target.describe();
  if (auto ok = target.prepare_topic(o.topic, o.partitions); !ok) return ok;
  auto durability = target.durability(o.topic);
  report.durability = durability ? *durability : "unknown";
  if (o.workload == Workload::kConsume) {
    auto filled = fill_topic(o, target);
    if (!filled) return std::unexpected(filled.error());
    report.filled = *filled;
  }
  std::vector<ProducerPlan> plans;
  std::vector<ConsumerPlan> readers;
  if (o.workload != Workload::kConsume) {
    plans = producer_plans(o, o.messages, o.workload == Workload::kE2e);
  }
  if (o.workload != Workload::kProduce) {
    auto made = consumer_plans(o, target, o.workload == Workload::kConsume);
    if (!made) return std::unexpected(made.error());
    readers = std::move(*made);
  }
  std::optional<LogCounters> before;
  if (auto got = target.counters()) before = *got;
  const CpuTimes cpu_before = cpu_now();
  Phase phase(o, target);
  Meters meters;
  Status ok = run_phase(phase, meters, plans, readers, &report, progress, csv);
  const CpuTimes cpu_after = cpu_now();
  report.cpu_user_s = cpu_after.user_s - cpu_before.user_s;
  report.cpu_system_s = cpu_after.system_s - cpu_before.system_s;
  const MeterTotals produced = sum(meters.produce);
  const MeterTotals consumed = sum(meters.consume);
  report.produced = produced.messages;
  report.produced_bytes = produced.bytes;
  report.consumed = consumed.messages;
  report.consumed_bytes = consumed.bytes;
  report.errors = produced.errors + consumed.errors;
  for (const auto& m : meters.produce)
    m->merge_total(report.ack_latency);
  for (const auto& m : meters.consume)
    m->merge_total(report.e2e_latency);
  take_counters(target, before, report);
  return ok;
}

}  // namespace

double BenchReport::produce_msgs_per_s() const {
  return elapsed_s > 0 ? static_cast<double>(produced) / elapsed_s : 0;
}
double BenchReport::produce_mb_per_s() const {
  return elapsed_s > 0 ? static_cast<double>(produced_bytes) / elapsed_s / 1e6 : 0;
}
double BenchReport::consume_msgs_per_s() const {
  return elapsed_s > 0 ? static_cast<double>(consumed) / elapsed_s : 0;
}
double BenchReport::consume_mb_per_s() const {
  return elapsed_s > 0 ? static_cast<double>(consumed_bytes) / elapsed_s / 1e6 : 0;
}
double BenchReport::mean_write_bytes() const {
  if (!log_bytes || !writes || *writes == 0) return 0;
  return static_cast<double>(*log_bytes) / static_cast<double>(*writes);
}
double BenchReport::mean_sync_bytes() const {
  if (!log_bytes || !syncs || *syncs == 0) return 0;
  return static_cast<double>(*log_bytes) / static_cast<double>(*syncs);
}

Result<BenchReport> run_bench(const BenchOptions& options, std::FILE* progress) {
  if (auto ok = check_options(options); !ok) return std::unexpected(ok.error());
  std::FILE* csv = nullptr;
  if (!options.csv_path.empty()) {
    csv = std::fopen(options.csv_path.c_str(), "w");
    if (csv == nullptr) {
      return std::unexpected(Error(
          Errc::kIo, "cannot write " + options.csv_path + ": " + std::strerror(errno), errno));
    }
    std::fputs(csv_header().c_str(), csv);
  }
  BenchReport report;
  report.options = options;
  Status ok;
  auto target = open_target(options);
  if (!target) {
    ok = std::unexpected(target.error());
  } else {
    ok = run_with_target(options, **target, report, options.progress ? progress : nullptr, csv);
    Status closed = (*target)->close();
    if (ok && !closed) ok = closed;
  }
  if (csv != nullptr) std::fclose(csv);
  if (!ok) return std::unexpected(ok.error());
  return report;
}

}  // namespace ringlog::bench
