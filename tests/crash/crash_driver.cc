// The kill -9 crash loop (issue 7): proves that an acknowledged message survives SIGKILL.
//
//   ringlog_crash_driver --binary build/ringlog [--rounds 50] [--seconds 240] [--seed X]
//                        [--durability always|interval=MS] [--producers 4] [--keep]
//
// Each round starts `ringlog serve` on a free loopback port over the same data directory,
// checks everything acknowledged so far (below), runs producer connections that pipeline `put`
// and `putb` requests and record every acknowledged offset with a hash of its payload, and
// SIGKILLs the server at a random moment (sometimes right after it starts listening, during
// recovery). After each kill `ringlog verify DIR` must exit 0. The check after a restart
// fetches every partition from offset 0 to its high watermark and requires:
//   - offsets contiguous from 0 and every batch's CRC intact (the client checks CRCs);
//   - every acknowledged offset present with its payload's hash;
//   - every record that was not acknowledged is one that was sent but whose reply was lost in
//     the kill (nothing invented); it is adopted: later rounds must keep it;
//   - `always`: nothing acknowledged is missing. `interval=MS`: acknowledged records may be
//     missing only as a suffix (the unsynced tail), never as a hole. SIGKILL keeps the page
//     cache, so even there nothing is expected to be lost; losses are counted and reported.
// The last round ends with SIGTERM (clean shutdown) instead, and a final check.
// --sabotage damages the log after each kill, to show that the checks catch a loss (exit 1).
// Exit status: 0 all good, 1 loss or corruption found, 2 usage, 3 infrastructure failure.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include <ringlog/batch.h>

#include "protocol/client.h"
#include "tests/support/files.h"
#include "tests/support/process.h"
#include "tests/support/serve.h"

namespace {

using namespace std::chrono_literals;
using ringlog::protocol::Client;
using ringlog::protocol::ClientOptions;
using ringlog::testing::ServeProcess;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kTopic = "crash";
constexpr int kPartitions = 2;

struct Options {
  std::string binary;
  int rounds = 50;
  int seconds = 240;
  std::uint64_t seed = 0;
  std::string durability = "always";
  int producers = 4;
  bool keep = false;
  bool sabotage = false;
  std::string segment_size = "4MiB";
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "crash_driver: %s\nusage: ringlog_crash_driver --binary PATH [--rounds N] "
               "[--seconds S] [--seed X] [--durability always|interval=MS] [--producers P] "
               "[--segment-size SIZE] [--keep] [--sabotage]\n",
               why);
  std::exit(2);
}

Options parse_options(int argc, char** argv) {
  Options o;
  if (const char* env = std::getenv("RINGLOG_BINARY")) o.binary = env;
  o.seed = std::random_device{}();
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(("missing value for " + a).c_str());
      return argv[++i];
    };
    if (a == "--binary")
      o.binary = value();
    else if (a == "--rounds")
      o.rounds = std::stoi(value());
    else if (a == "--seconds")
      o.seconds = std::stoi(value());
    else if (a == "--seed")
      o.seed = std::stoull(value());
    else if (a == "--durability")
      o.durability = value();
    else if (a == "--producers")
      o.producers = std::stoi(value());
    else if (a == "--segment-size")
      o.segment_size = value();
    else if (a == "--keep")
      o.keep = true;
    else if (a == "--sabotage")
      o.sabotage = true;
    else
      usage(("unknown option " + a).c_str());
  }
  if (o.binary.empty()) usage("no ringlog binary: pass --binary or set RINGLOG_BINARY");
  if (o.durability != "always" && o.durability.rfind("interval=", 0) != 0) {
    usage("--durability must be always or interval=MS");
  }
  return o;
}

std::uint64_t fnv1a(std::span<const std::byte> bytes) {
  std::uint64_t h = 1469598103934665603ull;
  for (std::byte b : bytes) {
    h ^= static_cast<std::uint8_t>(b);
    h *= 1099511628211ull;
  }
  return h;
}

std::atomic<int> g_failures{0};

void failure(const char* format, ...) {
  va_list args;
  va_start(args, format);
  std::fprintf(stderr, "FAIL: ");
  std::vfprintf(stderr, format, args);
  std::fprintf(stderr, "\n");
  va_end(args);
  g_failures.fetch_add(1);
}

// ---- the server process -------------------------------------------------------------------

// `ringlog serve` on a free loopback port over `data_dir`, started and waited for by
// tests/support/serve.h; nullptr (with the reason on stderr) when it does not come up.
std::unique_ptr<ServeProcess> start_server(const Options& o, const std::string& data_dir,
                                           const std::string& log_path) {
  ringlog::testing::ServeOptions serve;
  serve.binary = o.binary;
  serve.args = {"--data",     data_dir,         "--listen",     "127.0.0.1:0", "--durability",
                o.durability, "--segment-size", o.segment_size, "--log-level", "warn"};
  serve.out_path = log_path;
  serve.err_path = log_path;
  try {
    return std::make_unique<ServeProcess>(serve);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return nullptr;
  }
}

// Runs `args` with stdout and stderr in `log_path` and waits for it; the exit code.
int run_command(const std::vector<std::string>& args, const std::string& log_path) {
  ringlog::testing::Child command(args, {.out_path = log_path, .err_path = log_path});
  return command.wait();
}

// ---- the model of what was acknowledged ---------------------------------------------------

// Per partition: the hash of every record known to be stored (acknowledged, or seen after a
// restart), and the hashes of records sent whose acknowledgement has not arrived.
struct PartitionModel {
  std::mutex mu;
  std::map<std::int64_t, std::uint64_t> known;
  std::unordered_multiset<std::uint64_t> in_flight;
  std::uint64_t acked = 0;
};

struct Model {
  PartitionModel partitions[kPartitions];
};

struct Totals {
  std::atomic<std::uint64_t> acked{0};
  std::atomic<std::uint64_t> error_replies{0};
  std::uint64_t adopted = 0;
  std::uint64_t lost_in_window = 0;
};

// One request whose reply is awaited.
struct Sent {
  std::vector<std::uint64_t> hashes;
  bool batch = false;
};

void note_acked(PartitionModel& m, const Sent& sent, std::int64_t first, std::int64_t last,
                Totals& totals) {
  std::lock_guard lock(m.mu);
  if (last - first + 1 != static_cast<std::int64_t>(sent.hashes.size())) {
    failure("ack of %zu records spans offsets %" PRId64 "..%" PRId64, sent.hashes.size(), first,
            last);
  }
  for (std::size_t i = 0; i < sent.hashes.size(); ++i) {
    const std::int64_t offset = first + static_cast<std::int64_t>(i);
    auto [it, inserted] = m.known.emplace(offset, sent.hashes[i]);
    if (!inserted && it->second != sent.hashes[i]) {
      failure("offset %" PRId64 " acknowledged for two different records", offset);
    }
    auto f = m.in_flight.find(sent.hashes[i]);
    if (f != m.in_flight.end()) m.in_flight.erase(f);
  }
  m.acked += sent.hashes.size();
  totals.acked += sent.hashes.size();
}

void forget_in_flight(PartitionModel& m, const Sent& sent) {
  std::lock_guard lock(m.mu);
  for (std::uint64_t h : sent.hashes) {
    auto f = m.in_flight.find(h);
    if (f != m.in_flight.end()) m.in_flight.erase(f);
  }
}

// ---- producers ------------------------------------------------------------------------------

std::string payload(std::mt19937_64& rng, int producer, int round, std::uint64_t seq) {
  std::string s = "p" + std::to_string(producer) + "-r" + std::to_string(round) + "-s" +
                  std::to_string(seq) + "-";
  const std::size_t extra = rng() % 300;
  for (std::size_t i = 0; i < extra; ++i)
    s += static_cast<char>('a' + rng() % 26);
  return s;
}

// Sends pipelined put/putb requests until the connection breaks (the kill) or `stop`.
void produce(const std::string& address, int producer, int round, std::uint64_t seed, Model& model,
             Totals& totals, const std::atomic<bool>& stop) {
  auto client = Client::connect({.address = address, .io_timeout_ms = 10000});
  if (!client) return;  // killed before we connected
  std::mt19937_64 rng(seed);
  const int partition = producer % kPartitions;
  PartitionModel& m = model.partitions[partition];
  std::deque<Sent> awaiting;
  std::uint64_t seq = 0;
  ringlog::BatchBuilder builder;
  while (!stop.load()) {
    while (awaiting.size() < 32) {
      Sent sent;
      ringlog::Status status;
      if (rng() % 4 == 0) {
        sent.batch = true;
        builder.reset();
        const int records = 1 + static_cast<int>(rng() % 20);
        std::vector<std::string> values;
        for (int i = 0; i < records; ++i)
          values.push_back(payload(rng, producer, round, seq++));
        for (const auto& v : values) {
          builder.add(std::nullopt, ringlog::as_bytes(v));
          sent.hashes.push_back(fnv1a(ringlog::as_bytes(v)));
        }
        {
          std::lock_guard lock(m.mu);
          for (auto h : sent.hashes)
            m.in_flight.insert(h);
        }
        status = (*client)->send_putb(kTopic, partition, builder.finish());
      } else {
        const std::string v = payload(rng, producer, round, seq++);
        sent.hashes.push_back(fnv1a(ringlog::as_bytes(v)));
        {
          std::lock_guard lock(m.mu);
          m.in_flight.insert(sent.hashes[0]);
        }
        status = (*client)->send_put(kTopic, partition, ringlog::as_bytes(v));
      }
      awaiting.push_back(std::move(sent));
      if (!status) return;
    }
    if (!(*client)->flush()) return;
    for (std::size_t n = awaiting.size() / 2; n > 0; --n) {
      Sent sent = std::move(awaiting.front());
      awaiting.pop_front();
      ringlog::Result<ringlog::protocol::AppendRange> range;
      if (sent.batch) {
        range = (*client)->read_putb();
      } else {
        auto offset = (*client)->read_put();
        if (offset)
          range = ringlog::protocol::AppendRange{*offset, *offset};
        else
          range = std::unexpected(offset.error());
      }
      if (range) {
        note_acked(m, sent, range->first_offset, range->last_offset, totals);
      } else if (ringlog::protocol::server_status(range.error())) {
        // An error reply: never stored. Worth a look, but not a loss.
        totals.error_replies++;
        std::fprintf(stderr, "producer %d: error reply: %s\n", producer,
                     range.error().message().c_str());
        forget_in_flight(m, sent);
      } else {
        return;  // the connection died (the kill): the rest stays in flight
      }
    }
  }
}

// ---- checking a restarted server ------------------------------------------------------------

// Fetches partition `p` from 0 to its high watermark and checks it against the model.
bool check_partition(Client& client, int p, PartitionModel& m, bool interval_mode, Totals& totals) {
  auto offsets = client.offsets(kTopic, p);
  if (!offsets) {
    if (ringlog::protocol::server_status(offsets.error()) && m.known.empty()) return true;
    failure("offsets of partition %d: %s", p, offsets.error().message().c_str());
    return false;
  }
  if (offsets->log_start != 0) failure("partition %d starts at %" PRId64, p, offsets->log_start);
  const std::int64_t hw = offsets->high_watermark;
  std::int64_t next = 0;
  std::lock_guard lock(m.mu);
  while (next < hw) {
    auto reply = client.fetch(kTopic, p, next, 1 << 20);
    if (!reply) {
      failure("fetch partition %d at %" PRId64 ": %s", p, next, reply.error().message().c_str());
      return false;
    }
    if (reply->batches.empty()) {
      failure("fetch partition %d at %" PRId64 " below the watermark %" PRId64 " returned nothing",
              p, next, hw);
      return false;
    }
    for (const ringlog::BatchView& batch : reply->batches) {
      for (const ringlog::RecordView& r : batch.records()) {
        if (r.offset < next) continue;
        if (r.offset != next) {
          failure("partition %d: offset %" PRId64 " follows %" PRId64 " (a hole)", p, r.offset,
                  next - 1);
          return false;
        }
        const std::uint64_t h = r.value ? fnv1a(*r.value) : 0;
        auto known = m.known.find(r.offset);
        if (known != m.known.end()) {
          if (known->second != h) failure("partition %d offset %" PRId64 " changed", p, r.offset);
        } else if (auto f = m.in_flight.find(h); f != m.in_flight.end()) {
          m.in_flight.erase(f);  // sent, reply lost in the kill, but stored: keep it from now on
          m.known.emplace(r.offset, h);
          totals.adopted++;
        } else {
          failure("partition %d offset %" PRId64 " holds a record nobody sent", p, r.offset);
        }
        ++next;
      }
    }
  }
  // Acknowledged records at or past the watermark are lost.
  auto lost = m.known.lower_bound(hw);
  const auto lost_count = static_cast<std::uint64_t>(std::distance(lost, m.known.end()));
  if (lost_count > 0) {
    if (!interval_mode) {
      failure("partition %d: %" PRIu64 " acknowledged records lost (offsets %" PRId64
              "..), watermark %" PRId64,
              p, lost_count, lost->first, hw);
    } else {
      // A suffix by construction (everything below hw was checked present): the unsynced tail.
      totals.lost_in_window += lost_count;
      m.known.erase(lost, m.known.end());
    }
  }
  m.in_flight.clear();  // whatever was not stored never will be
  return true;
}

bool check_all(const std::string& address, Model& model, bool interval_mode, Totals& totals) {
  auto client = Client::connect({.address = address, .io_timeout_ms = 30000});
  if (!client) {
    failure("connect to %s: %s", address.c_str(), client.error().message().c_str());
    return false;
  }
  bool ok = true;
  for (int p = 0; p < kPartitions; ++p) {
    ok &= check_partition(**client, p, model.partitions[p], interval_mode, totals);
  }
  return ok;
}

bool ensure_topic(const std::string& address) {
  auto client = Client::connect({.address = address});
  if (!client) return false;
  auto created = (*client)->create(kTopic, kPartitions);
  return created || ringlog::protocol::server_status(created.error()).has_value();
}

// --sabotage: proves the checks can fail. Zeroes 200 bytes in the middle of what partition 0's
// newest segment holds, as a disk that lost acknowledged writes would; the next check must notice.
void sabotage(const std::string& data_dir) {
  const std::filesystem::path dir = std::filesystem::path(data_dir) / kTopic / "0";
  std::filesystem::path newest;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const auto& p = entry.path();
    if (p.extension() == ".log" && p.filename().string()[0] != '@' && p > newest) newest = p;
  }
  if (newest.empty()) return;
  std::fstream file(newest, std::ios::in | std::ios::out | std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(file)), {});
  auto last = bytes.find_last_not_of('\0');
  if (last == std::string::npos) return;
  const std::size_t from = last / 2;  // well before the unacknowledged tail
  last = std::min(last, from + 199);
  file.clear();
  file.seekp(static_cast<std::streamoff>(from));
  file.write(std::string(last + 1 - from, '\0').data(),
             static_cast<std::streamsize>(last + 1 - from));
  std::printf("sabotage: zeroed bytes %zu..%zu of %s\n", from, last, newest.c_str());
}

// The loop described at the top of this file; returns the exit status.
int crash_loop(const Options& o) {
  ::signal(SIGPIPE, SIG_IGN);
  const bool interval_mode = o.durability != "always";
  std::string root = (std::filesystem::temp_directory_path() / "ringlog-crash-XXXXXX").string();
  if (!mkdtemp(root.data())) {
    std::perror("mkdtemp");
    return 3;
  }
  const std::string data_dir = root + "/data";
  std::printf("crash loop: seed %" PRIu64
              ", durability %s, %d rounds (at most %d s), %d producers, "
              "dir %s\n",
              o.seed, o.durability.c_str(), o.rounds, o.seconds, o.producers, root.c_str());
  std::fflush(stdout);

  std::mt19937_64 rng(o.seed);
  Model model;
  Totals totals;
  const auto started = Clock::now();
  int rounds_done = 0;
  bool infra_failed = false;
  for (int round = 0; round <= o.rounds; ++round) {
    const bool last = round == o.rounds || Clock::now() - started > std::chrono::seconds(o.seconds);
    std::unique_ptr<ServeProcess> server = start_server(o, data_dir, root + "/serve.log");
    if (!server) {
      infra_failed = true;
      break;
    }
    if (round == 0 && !ensure_topic(server->address())) {
      std::fprintf(stderr, "could not create the topic\n");
      infra_failed = true;
      break;
    }
    check_all(server->address(), model, interval_mode, totals);
    if (last) {
      const int status = server->stop();
      if (status != 0) failure("clean shutdown exited %d", status);
      break;
    }
    // Kill during startup work now and then; otherwise while producers are busy.
    const bool early = rng() % 10 == 0;
    const auto kill_after = std::chrono::milliseconds(early ? rng() % 20 : 30 + rng() % 400);
    std::atomic<bool> stop{false};
    std::vector<std::thread> producers;
    for (int i = 0; i < o.producers; ++i) {
      producers.emplace_back(produce, server->address(), i, round, rng(), std::ref(model),
                             std::ref(totals), std::cref(stop));
    }
    std::this_thread::sleep_for(kill_after);
    (void)server->kill();
    stop = true;
    for (auto& t : producers)
      t.join();
    const int verify = run_command({o.binary, "verify", data_dir}, root + "/verify.log");
    if (verify != 0) {
      failure("round %d: `ringlog verify` exited %d (log in %s/verify.log)", round, verify,
              root.c_str());
      std::fprintf(stderr, "%s\n", ringlog::testing::read_file(root + "/verify.log").c_str());
    }
    if (o.sabotage) sabotage(data_dir);
    ++rounds_done;
    std::printf("round %d: killed after %lld ms, acknowledged %" PRIu64 ", adopted %" PRIu64
                ", failures %d\n",
                round, static_cast<long long>(kill_after.count()), totals.acked.load(),
                totals.adopted, g_failures.load());
    std::fflush(stdout);
    if (g_failures.load() > 0) break;
  }
  // After the clean shutdown the directory must verify clean too.
  if (!infra_failed && g_failures.load() == 0) {
    const int verify = run_command({o.binary, "verify", data_dir}, root + "/verify.log");
    if (verify != 0) failure("final `ringlog verify` exited %d", verify);
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  std::printf("crash loop: %d kill rounds in %.1f s, seed %" PRIu64 ", %" PRIu64
              " records acknowledged, %" PRIu64 " adopted after lost replies, %" PRIu64
              " lost in the unsynced window, %" PRIu64 " error replies, %d failures\n",
              rounds_done, seconds, o.seed, totals.acked.load(), totals.adopted,
              totals.lost_in_window, totals.error_replies.load(), g_failures.load());
  if (g_failures.load() > 0 || infra_failed) {
    std::printf("crash loop: FAILED (data kept in %s; rerun with --seed %" PRIu64 ")\n",
                root.c_str(), o.seed);
    return infra_failed && g_failures.load() == 0 ? 3 : 1;
  }
  if (!o.keep) std::filesystem::remove_all(root);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse_options(argc, argv);
  try {
    return crash_loop(o);
  } catch (const std::exception& e) {  // the loop's own machinery failed (fork, ...)
    std::fprintf(stderr, "crash_driver: %s\n", e.what());
    return 3;
  }
}
