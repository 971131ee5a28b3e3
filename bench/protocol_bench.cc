// Benchmarks of the line protocol.
//
//   BM_ProtocolParsePut/<value bytes>/<recv chunk>   - the request parser on pipelined puts
//   BM_ProtocolParseFetch, BM_ProtocolEncode*        - parser and reply encoders
//   BM_ProtocolProduce/<msg bytes>/<conns>/<durability 0=always 1=never>/<batched 0|1>
//       end to end over loopback: an Engine in a temp dir, a Server, <conns> client threads each
//       pipelining puts (batched=1: a Producer sending 64 KiB putb batches). Counters: msgs/s,
//       MB/s and acknowledgement latency p50/p99/p99.9 in microseconds.
//   BM_ProtocolCatchUp/<zero_copy 0|1>
//       a consumer fetching a whole partition (RINGLOG_BENCH_CATCHUP_MIB, default 256 MiB; the
//       issue's figure is 4096) from page cache in 4 MiB fetches: bytes/s. The zero-copy gain is
//       the ratio of the two runs.
//   BM_ProtocolColdFetch/<with consumer 0|1>
//       put acknowledgement latency (durability never, one connection, one put at a time) while
//       another connection fetches a partition whose pages were dropped from the cache
//       (RINGLOG_BENCH_COLD_MIB, default 256): does cold reading stall other connections?
// The loopback cases put their data under $TMPDIR (default /tmp).
#include <benchmark/benchmark.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <ringlog/batch.h>
#include <ringlog/engine.h>

#include "io/log.h"
#include "protocol/client.h"
#include "protocol/reply.h"
#include "protocol/request.h"
#include "protocol/server.h"

namespace ringlog::protocol {
namespace {

std::string put_stream(std::size_t value_bytes, std::size_t requests) {
  const std::string value(value_bytes, 'v');
  std::string wire;
  for (std::size_t i = 0; i < requests; ++i) {
    wire += "put orders 0 " + std::to_string(value_bytes) + " key=user" + std::to_string(i % 100) +
            "\r\n" + value + "\r\n";
  }
  return wire;
}

// Parses a stream of pipelined puts, received in chunks of range(1) bytes as from recv().
void BM_ProtocolParsePut(benchmark::State& state) {
  const auto value_bytes = static_cast<std::size_t>(state.range(0));
  const auto chunk_bytes = static_cast<std::size_t>(state.range(1));
  const std::string wire = put_stream(value_bytes, 256);
  std::size_t requests = 0;
  for (auto _ : state) {
    RequestParser parser;
    std::size_t at = 0;
    while (at < wire.size()) {
      std::span<std::byte> space = parser.prepare();
      const std::size_t n = std::min({space.size(), chunk_bytes, wire.size() - at});
      std::memcpy(space.data(), wire.data() + at, n);
      parser.commit(n);
      at += n;
      Request request;
      while (parser.next(request) == ParseOutcome::kReady) {
        benchmark::DoNotOptimize(request.body.data());
        ++requests;
      }
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(requests));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * wire.size()));
}
BENCHMARK(BM_ProtocolParsePut)->ArgsProduct({{16, 100, 1024, 65536}, {1500, 65536}});

void BM_ProtocolParseFetch(benchmark::State& state) {
  std::string wire;
  for (int i = 0; i < 256; ++i)
    wire += "fetch orders 3 " + std::to_string(i * 1000) + " 1048576 500\r\n";
  std::size_t requests = 0;
  for (auto _ : state) {
    RequestParser parser;
    parser.feed(wire);
    Request request;
    while (parser.next(request) == ParseOutcome::kReady)
      ++requests;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(requests));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * wire.size()));
}
BENCHMARK(BM_ProtocolParseFetch);

void BM_ProtocolEncodeOk(benchmark::State& state) {
  std::string out;
  std::int64_t offset = 1'000'000'000;
  for (auto _ : state) {
    out.clear();
    for (int i = 0; i < 64; ++i)
      append_ok(out, offset++);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * 64);
}
BENCHMARK(BM_ProtocolEncodeOk);

void BM_ProtocolEncodeMsgHeader(benchmark::State& state) {
  std::string out;
  const std::string key = "user42";
  const auto key_bytes = std::as_bytes(std::span(key.data(), key.size()));
  for (auto _ : state) {
    out.clear();
    for (int i = 0; i < 64; ++i)
      append_msg_header(out, 123456789 + i, 1764000000000, 100, key_bytes);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * 64);
}
BENCHMARK(BM_ProtocolEncodeMsgHeader);

// ---- end to end over loopback -------------------------------------------------------------------

using Clock = std::chrono::steady_clock;

// An Engine in a fresh temporary directory and a Server on an ephemeral port, running.
class LoopbackServer {
 public:
  LoopbackServer(Durability::Mode durability, bool zero_copy) {
    set_log_level(LogLevel::kWarn);
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp ? tmp : "/tmp") + "/ringlog-bench-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) return;
    dir_ = pattern;
    EngineOptions engine_options;
    engine_options.data_dir = dir_ + "/data";
    engine_options.durability.mode = durability;
    engine_options.max_batch_bytes = 8 << 20;
    auto engine = Engine::open(engine_options);
    if (!engine) {
      error_ = engine.error().to_string();
      return;
    }
    engine_ = std::move(*engine);
    ServerOptions options;
    options.listen = "127.0.0.1:0";
    options.zero_copy = zero_copy;
    auto server = Server::create(*engine_, options);
    if (!server) {
      error_ = server.error().to_string();
      return;
    }
    server_ = std::move(*server);
    thread_ = std::thread([this] { (void)server_->run(); });
  }

  ~LoopbackServer() {
    if (server_) {
      server_->stop();
      thread_.join();
      server_.reset();
    }
    if (engine_) (void)engine_->close();
    std::error_code ignored;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ignored);
  }

  const std::string& error() const { return error_; }
  Engine& engine() const { return *engine_; }
  const std::string& data_dir() const { return dir_; }

  std::unique_ptr<Client> client() const {
    ClientOptions options;
    options.address = server_->address();
    auto client = Client::connect(options);
    return client ? std::move(*client) : nullptr;
  }

 private:
  std::string dir_;
  std::string error_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<Server> server_;
  std::thread thread_;
};

constexpr std::size_t kWindow = 64;  // puts outstanding per connection

// One connection's share of a produce run: pipelined puts, latency of each acknowledgement.
void produce_puts(Client& client, std::string_view topic, std::size_t count, std::size_t bytes,
                  std::vector<double>& latencies_us, std::atomic<bool>& failed) {
  const std::string value(bytes, 'v');
  std::vector<Clock::time_point> sent(kWindow);
  std::size_t next_send = 0;
  for (std::size_t acked = 0; acked < count;) {
    while (next_send < count && next_send - acked < kWindow) {
      if (!client.send_put(topic, 0, as_bytes(value))) return failed.store(true);
      sent[next_send % kWindow] = Clock::now();
      ++next_send;
    }
    if (!client.flush() || !client.read_put()) return failed.store(true);
    latencies_us.push_back(
        std::chrono::duration<double, std::micro>(Clock::now() - sent[acked % kWindow]).count());
    ++acked;
  }
}

// The same through a Producer: 64 KiB putb batches, latency from a batch's first message.
void produce_batched(Client& client, std::string_view topic, std::size_t count, std::size_t bytes,
                     std::vector<double>& latencies_us, std::atomic<bool>& failed) {
  const std::string value(bytes, 'v');
  Producer producer(
      client, {.batch_bytes = 64 << 10, .linger_us = 1000, .max_in_flight = 8},
      [&](const Producer::Ack& ack) {
        if (!ack.result) failed.store(true);
        const double us =
            std::chrono::duration<double, std::micro>(Clock::now() - ack.first_added).count();
        latencies_us.insert(latencies_us.end(), ack.records, us);
      });
  for (std::size_t i = 0; i < count; ++i) {
    if (!producer.add(topic, 0, as_bytes(value))) return failed.store(true);
  }
  if (!producer.flush()) failed.store(true);
}

double percentile(std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const auto at = static_cast<std::size_t>(p * static_cast<double>(sorted.size() - 1));
  return sorted[at];
}

void BM_ProtocolProduce(benchmark::State& state) {
  const auto bytes = static_cast<std::size_t>(state.range(0));
  const auto connections = static_cast<std::size_t>(state.range(1));
  const auto durability =
      state.range(2) == 0 ? Durability::Mode::kAlways : Durability::Mode::kNever;
  const bool batched = state.range(3) != 0;
  const std::size_t total = batched ? 400'000 : 100'000;
  LoopbackServer server(durability, /*zero_copy=*/true);
  if (!server.error().empty()) return state.SkipWithError(server.error().c_str());
  std::vector<double> all_latencies;
  std::size_t messages = 0;
  for (auto _ : state) {
    std::vector<std::vector<double>> latencies(connections);
    std::atomic<bool> failed{false};
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < connections; ++i) {
      threads.emplace_back([&, i] {
        auto client = server.client();
        if (!client) return failed.store(true);
        const std::string topic = "bench-" + std::to_string(i % 8);
        latencies[i].reserve(total / connections);
        (batched ? produce_batched : produce_puts)(*client, topic, total / connections, bytes,
                                                   latencies[i], failed);
      });
    }
    for (std::thread& t : threads)
      t.join();
    if (failed.load()) return state.SkipWithError("a produce request failed");
    for (const auto& l : latencies)
      all_latencies.insert(all_latencies.end(), l.begin(), l.end());
    messages += (total / connections) * connections;
  }
  std::sort(all_latencies.begin(), all_latencies.end());
  state.SetItemsProcessed(static_cast<std::int64_t>(messages));
  state.SetBytesProcessed(static_cast<std::int64_t>(messages * bytes));
  state.counters["p50_us"] = percentile(all_latencies, 0.50);
  state.counters["p99_us"] = percentile(all_latencies, 0.99);
  state.counters["p999_us"] = percentile(all_latencies, 0.999);
}
BENCHMARK(BM_ProtocolProduce)
    ->ArgNames({"bytes", "conns", "never", "batched"})
    ->ArgsProduct({{100, 1024}, {1, 8, 64}, {0, 1}, {0, 1}})
    ->Iterations(1)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// Drops the page cache of every segment file under `dir` (after a sync, so the pages are clean).
void drop_cache(const std::string& dir) {
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (entry.path().extension() != ".log") continue;
    const int fd = ::open(entry.path().c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    (void)::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
  }
}

// Fills partition 0 of `topic` with `mib` 1 MiB batches of 1 KiB records.
bool fill_partition(Client& client, std::string_view topic, std::size_t mib) {
  BatchBuilder builder;
  const std::string value(1024, 'c');
  while (builder.size_bytes() < (1 << 20) - 2048)
    builder.add(std::nullopt, as_bytes(value));
  const auto batch = builder.finish();
  for (std::size_t i = 0; i < mib; ++i) {
    if (!client.send_putb(topic, 0, batch)) return false;
    if (i % 8 == 7 || i + 1 == mib) {
      if (!client.flush()) return false;
      while (client.outstanding() > 0) {
        if (!client.read_putb()) return false;
      }
    }
  }
  return true;
}

void BM_ProtocolCatchUp(benchmark::State& state) {
  const bool zero_copy = state.range(0) != 0;
  const char* env = std::getenv("RINGLOG_BENCH_CATCHUP_MIB");
  const std::size_t mib = env ? std::strtoull(env, nullptr, 10) : 256;
  LoopbackServer server(Durability::Mode::kNever, zero_copy);
  if (!server.error().empty()) return state.SkipWithError(server.error().c_str());
  auto client = server.client();
  if (!client) return state.SkipWithError("connect failed");
  if (!fill_partition(*client, "catchup", mib)) return state.SkipWithError("fill failed");
  std::uint64_t bytes = 0;
  FetchReply reply;
  for (auto _ : state) {
    std::int64_t offset = 0;
    for (;;) {
      if (!client->fetch("catchup", 0, offset, 4 << 20, 0, reply)) {
        return state.SkipWithError("fetch failed");
      }
      if (reply.batches.empty()) break;
      bytes += reply.bytes.size();
      offset = reply.next_offset;
    }
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
  state.counters["zero_copy"] = zero_copy ? 1 : 0;
}
BENCHMARK(BM_ProtocolCatchUp)
    ->Arg(0)
    ->Arg(1)
    ->Iterations(3)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

void BM_ProtocolColdFetch(benchmark::State& state) {
  const bool with_consumer = state.range(0) != 0;
  const char* env = std::getenv("RINGLOG_BENCH_COLD_MIB");
  const std::size_t mib = env ? std::strtoull(env, nullptr, 10) : 256;
  LoopbackServer server(Durability::Mode::kNever, /*zero_copy=*/true);
  if (!server.error().empty()) return state.SkipWithError(server.error().c_str());
  auto producer = server.client();
  auto consumer = server.client();
  if (!producer || !consumer) return state.SkipWithError("connect failed");
  if (!fill_partition(*producer, "cold", mib)) return state.SkipWithError("fill failed");
  std::vector<double> latencies;
  std::uint64_t consumed = 0;
  double consume_s = 0;
  for (auto _ : state) {
    if (!server.engine().sync()) return state.SkipWithError("sync failed");
    drop_cache(server.data_dir());
    std::atomic<bool> done{!with_consumer};
    std::thread reader;
    if (with_consumer) {
      reader = std::thread([&] {
        const auto start = Clock::now();
        FetchReply reply;
        for (std::int64_t offset = 0;;) {
          if (!consumer->fetch("cold", 0, offset, 4 << 20, 0, reply) || reply.batches.empty())
            break;
          consumed += reply.bytes.size();
          offset = reply.next_offset;
        }
        consume_s += std::chrono::duration<double>(Clock::now() - start).count();
        done.store(true);
      });
    }
    const std::string value(100, 'p');
    const auto until = Clock::now() + std::chrono::seconds(2);
    while (!done.load() || (!with_consumer && Clock::now() < until)) {
      const auto start = Clock::now();
      if (!producer->put("hot", 0, as_bytes(value))) break;
      latencies.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
      if (!with_consumer && Clock::now() >= until) break;
    }
    if (reader.joinable()) reader.join();
  }
  std::sort(latencies.begin(), latencies.end());
  state.counters["puts"] = static_cast<double>(latencies.size());
  state.counters["p50_us"] = percentile(latencies, 0.50);
  state.counters["p99_us"] = percentile(latencies, 0.99);
  state.counters["p999_us"] = percentile(latencies, 0.999);
  state.counters["max_us"] = latencies.empty() ? 0 : latencies.back();
  if (consume_s > 0) state.counters["cold_MBps"] = static_cast<double>(consumed) / 1e6 / consume_s;
}
BENCHMARK(BM_ProtocolColdFetch)
    ->Arg(0)
    ->Arg(1)
    ->Iterations(1)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace ringlog::protocol
