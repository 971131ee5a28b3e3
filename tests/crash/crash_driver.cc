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
// --damage (issue 15): every fourth round, once the recovery checkpoint has caught up with what
// was acknowledged, the kill is followed by damage an operator or a disk could do: a sealed
// segment deleted (a hole), the active segment deleted or cut, the partition directory removed,
// or `@lock` removed. A damaged partition must then be reported (`stats <topic>` names its lost
// offsets, `ringlog verify` exits 3), answer `error 510` for the lost offsets, keep its high
// watermark and refuse appends, so that no acknowledged offset is ever handed out again, while
// every acknowledged record outside the lost range stays intact; its topic is retired and the
// producers move to a new one. After `@lock` is removed, a second server on the directory must
// still be refused.
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

constexpr std::string_view kTopic = "crash";  // the first topic; --damage adds crash-1, ...
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
  bool damage = false;
  std::string segment_size = "4MiB";
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "crash_driver: %s\nusage: ringlog_crash_driver --binary PATH [--rounds N] "
               "[--seconds S] [--seed X] [--durability always|interval=MS] [--producers P] "
               "[--segment-size SIZE] [--keep] [--sabotage] [--damage]\n",
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
    else if (a == "--damage")
      o.damage = true;
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

// What was done to a partition between rounds (--damage): the offsets whose data was removed.
struct Damage {
  std::string kind;
  std::int64_t lost_from = 0;
  std::int64_t lost_to = 0;  // exclusive
  std::int64_t high_watermark = 0;  // when the server was killed
};

// One topic's partitions. With --damage, a topic that had a partition damaged is retired:
// nobody produces to it any more, but every later round checks it.
struct TopicModel {
  std::string name;
  PartitionModel partitions[kPartitions];
  std::optional<Damage> damage[kPartitions];
  bool retired = false;
};

struct Model {
  std::vector<std::unique_ptr<TopicModel>> topics;
  TopicModel& current() { return *topics.back(); }
  bool any_damage() const {
    for (const auto& t : topics)
      for (const auto& d : t->damage)
        if (d) return true;
    return false;
  }
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
void produce(const std::string& address, int producer, int round, std::uint64_t seed,
             TopicModel& topic, Totals& totals, const std::atomic<bool>& stop) {
  auto client = Client::connect({.address = address, .io_timeout_ms = 10000});
  if (!client) return;  // killed before we connected
  std::mt19937_64 rng(seed);
  const int partition = producer % kPartitions;
  PartitionModel& m = topic.partitions[partition];
  const std::string_view topic_name = topic.name;
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
        status = (*client)->send_putb(topic_name, partition, builder.finish());
      } else {
        const std::string v = payload(rng, producer, round, seq++);
        sent.hashes.push_back(fnv1a(ringlog::as_bytes(v)));
        {
          std::lock_guard lock(m.mu);
          m.in_flight.insert(sent.hashes[0]);
        }
        status = (*client)->send_put(topic_name, partition, ringlog::as_bytes(v));
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

// A damaged partition's lost ranges as `stats <topic>` reports them (`partition.<p>.lost
// from-to,...`), and its high watermark.
struct Reported {
  std::vector<std::pair<std::int64_t, std::int64_t>> lost;
  std::int64_t high_watermark = -1;
};

Reported reported(Client& client, std::string_view topic, int p) {
  Reported out;
  auto stats = client.stats(topic);
  if (!stats) {
    failure("stats %.*s: %s", static_cast<int>(topic.size()), topic.data(),
            stats.error().message().c_str());
    return out;
  }
  const std::string prefix = "partition." + std::to_string(p) + ".";
  for (const auto& [name, value] : *stats) {
    if (name == prefix + "high_watermark") out.high_watermark = std::stoll(value);
    if (name != prefix + "lost") continue;
    std::size_t at = 0;
    while (at < value.size()) {
      const std::size_t dash = value.find('-', at);
      std::size_t comma = value.find(',', at);
      if (comma == std::string::npos) comma = value.size();
      out.lost.emplace_back(std::stoll(value.substr(at, dash - at)),
                            std::stoll(value.substr(dash + 1, comma - dash - 1)));
      at = comma + 1;
    }
  }
  return out;
}

// The range of `lost` that holds `offset`, if any.
const std::pair<std::int64_t, std::int64_t>* lost_at(const Reported& r, std::int64_t offset) {
  for (const auto& range : r.lost)
    if (offset >= range.first && offset < range.second) return &range;
  return nullptr;
}

// A damaged partition: the damage is reported and covers what was removed, the lost offsets
// answer 510, the high watermark is what was acknowledged, appends are refused; the rest of
// what was acknowledged must be there (checked by check_partition, which skips the lost ranges).
bool check_damage(Client& client, const TopicModel& topic, int p, const Damage& d,
                  const Reported& r) {
  const char* name = topic.name.c_str();
  if (r.high_watermark != d.high_watermark)
    failure("%s/%d (%s): high watermark %" PRId64 " after the damage, %" PRId64 " before", name,
            p, d.kind.c_str(), r.high_watermark, d.high_watermark);
  if (d.lost_from < d.lost_to) {
    const auto* range = lost_at(r, d.lost_from);
    if (range == nullptr || range->second < d.lost_to) {
      failure("%s/%d (%s): offsets %" PRId64 "..%" PRId64 " were removed but not all reported "
              "lost",
              name, p, d.kind.c_str(), d.lost_from, d.lost_to - 1);
      return false;
    }
    auto lost = client.fetch(topic.name, p, d.lost_from, 1 << 20);
    if (lost || ringlog::protocol::server_status(lost.error()) !=
                    ringlog::protocol::StatusCode::kDataLoss)
      failure("%s/%d (%s): a fetch of the lost offset %" PRId64 " did not answer 510", name, p,
              d.kind.c_str(), d.lost_from);
  }
  const std::string value = "no reuse";
  auto appended = client.put(topic.name, p, ringlog::as_bytes(value));
  if (appended)
    failure("%s/%d (%s): a damaged partition accepted an append at offset %" PRId64, name, p,
            d.kind.c_str(), *appended);
  return true;
}

// Fetches partition `p` from 0 to its high watermark and checks it against the model. Offsets a
// damaged partition reports lost are skipped (and their acknowledged records dropped from the
// model: check_damage has checked that the damage is what was done).
bool check_partition(Client& client, TopicModel& topic, int p, bool interval_mode,
                     Totals& totals) {
  PartitionModel& m = topic.partitions[p];
  const std::string_view name = topic.name;
  auto offsets = client.offsets(name, p);
  if (!offsets) {
    if (ringlog::protocol::server_status(offsets.error()) && m.known.empty()) return true;
    failure("offsets of %s/%d: %s", topic.name.c_str(), p, offsets.error().message().c_str());
    return false;
  }
  Reported damaged;
  if (topic.damage[p]) {
    damaged = reported(client, name, p);
    if (!check_damage(client, topic, p, *topic.damage[p], damaged)) return false;
  }
  if (offsets->log_start != 0) failure("partition %d starts at %" PRId64, p, offsets->log_start);
  const std::int64_t hw = offsets->high_watermark;
  std::int64_t next = 0;
  std::lock_guard lock(m.mu);
  while (next < hw) {
    if (const auto* lost = lost_at(damaged, next)) {
      m.known.erase(m.known.lower_bound(lost->first), m.known.lower_bound(lost->second));
      next = lost->second;
      continue;
    }
    auto reply = client.fetch(name, p, next, 1 << 20);
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
        if (lost_at(damaged, next)) break;
      }
      if (lost_at(damaged, next)) break;
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
  for (auto& topic : model.topics) {
    for (int p = 0; p < kPartitions; ++p) {
      ok &= check_partition(**client, *topic, p, interval_mode, totals);
    }
  }
  return ok;
}

bool ensure_topic(const std::string& address, std::string_view topic) {
  auto client = Client::connect({.address = address});
  if (!client) return false;
  auto created = (*client)->create(topic, kPartitions);
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

// ---- --damage -------------------------------------------------------------------------------

namespace fs = std::filesystem;

// The segment files of a partition directory, by base offset.
std::map<std::int64_t, fs::path> segment_files(const fs::path& dir) {
  std::map<std::int64_t, fs::path> out;
  if (!fs::exists(dir)) return out;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.size() == 24 && name.ends_with(".log") && name[0] != '@')
      out.emplace(std::stoll(name.substr(0, 20)), entry.path());
  }
  return out;
}

void remove_segment(const fs::path& log) {
  fs::remove(log);
  fs::path index = log;
  fs::remove(index.replace_extension(".index"));
  fs::remove(index.replace_extension(".timeindex"));
}

// Offsets and byte positions of the batches at the start of a segment file (up to its data end).
std::vector<std::pair<std::int64_t, std::uint64_t>> batch_starts(const fs::path& log) {
  std::ifstream in(log, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  std::vector<std::pair<std::int64_t, std::uint64_t>> out;
  ringlog::BatchReader reader(ringlog::as_bytes(bytes));
  std::uint64_t at = 0;
  for (ringlog::ParsedBatch b = reader.next(); b.ok(); b = reader.next()) {
    out.emplace_back(b.batch.base_offset(), at);
    at += b.bytes;
  }
  return out;
}

// Lets the server's recovery checkpoint catch up with what it acknowledged (it is rewritten
// within a checkpoint interval, 1 s, of a change), so that the damage that follows is of what
// the checkpoint guards (docs/durability.md, "Files that go missing").
void wait_for_checkpoint() {
  std::this_thread::sleep_for(2s);
}

// Applies one kind of damage to `topic`/`p` of the (stopped) server's directory; nullopt when the
// partition has nothing the kind could damage.
std::optional<Damage> damage_partition(const std::string& data_dir, const TopicModel& topic, int p,
                                       std::int64_t hw, std::uint64_t choice) {
  const fs::path dir = fs::path(data_dir) / topic.name / std::to_string(p);
  const auto files = segment_files(dir);
  if (files.empty() || hw == 0) return std::nullopt;
  Damage d;
  d.high_watermark = hw;
  std::vector<std::int64_t> bases;
  for (const auto& [base, path] : files)
    bases.push_back(base);
  switch (choice % 4) {
    case 0:  // a sealed segment in the middle: a hole
      if (bases.size() >= 3) {
        const std::size_t i = 1 + choice / 4 % (bases.size() - 2);
        d = {"sealed segment deleted", bases[i], bases[i + 1], hw};
        remove_segment(files.at(bases[i]));
        return d;
      }
      [[fallthrough]];
    case 1:  // the active segment deleted
      if (bases.back() < hw) {
        d = {"active segment deleted", bases.back(), hw, hw};
        remove_segment(files.at(bases.back()));
        return d;
      }
      return std::nullopt;
    case 2: {  // the active segment cut in the middle of its batches
      const auto starts = batch_starts(files.at(bases.back()));
      if (starts.size() < 2) return std::nullopt;
      const auto& cut = starts[starts.size() / 2];
      fs::resize_file(files.at(bases.back()), cut.second);
      return Damage{"active segment cut", cut.first, hw, hw};
    }
    default:  // the partition directory removed
      fs::remove_all(dir);
      return Damage{"partition directory removed", 0, hw, hw};
  }
}

// After `@lock` was removed under a running server: a second server on the directory must still
// be refused (it exits with the in-use message instead of listening).
void check_lock_holds(const Options& o, const std::string& data_dir, const std::string& root) {
  ringlog::testing::ServeOptions serve;
  serve.binary = o.binary;
  serve.args = {"--data", data_dir, "--listen", "127.0.0.1:0", "--kafka-listen", "off"};
  serve.err_path = root + "/second.log";
  try {
    ringlog::testing::ServeProcess second(serve);
    failure("a second server started on %s after @lock was removed", data_dir.c_str());
  } catch (const std::exception& e) {
    if (std::string(e.what()).find("in use") == std::string::npos)
      failure("the second server failed, but not for the lock: %s", e.what());
  }
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
              ", durability %s, %d rounds (at most %d s), %d producers, %sdir %s\n",
              o.seed, o.durability.c_str(), o.rounds, o.seconds, o.producers,
              o.damage ? "damage between rounds, " : "", root.c_str());
  std::fflush(stdout);

  std::mt19937_64 rng(o.seed);
  Model model;
  model.topics.push_back(std::make_unique<TopicModel>());
  model.current().name = std::string(kTopic);
  Totals totals;
  const auto started = Clock::now();
  int rounds_done = 0;
  int damages = 0;
  bool infra_failed = false;
  bool lock_removed = false;
  bool topic_needed = true;
  for (int round = 0; round <= o.rounds; ++round) {
    const bool last = round == o.rounds || Clock::now() - started > std::chrono::seconds(o.seconds);
    std::unique_ptr<ServeProcess> server = start_server(o, data_dir, root + "/serve.log");
    if (!server) {
      infra_failed = true;
      break;
    }
    if (topic_needed && !ensure_topic(server->address(), model.current().name)) {
      std::fprintf(stderr, "could not create the topic\n");
      infra_failed = true;
      break;
    }
    topic_needed = false;
    check_all(server->address(), model, interval_mode, totals);
    if (lock_removed) {
      std::filesystem::remove(std::filesystem::path(data_dir) / "@lock");
      check_lock_holds(o, data_dir, root);
      lock_removed = false;
    }
    if (last) {
      const int status = server->stop();
      if (status != 0) failure("clean shutdown exited %d", status);
      break;
    }
    const bool damage_round = o.damage && round % 4 == 3 && round + 1 < o.rounds;
    // Kill during startup work now and then; otherwise while producers are busy.
    const bool early = !damage_round && rng() % 10 == 0;
    const auto kill_after = std::chrono::milliseconds(early ? rng() % 20 : 30 + rng() % 400);
    std::atomic<bool> stop{false};
    std::vector<std::thread> producers;
    for (int i = 0; i < o.producers; ++i) {
      producers.emplace_back(produce, server->address(), i, round, rng(),
                             std::ref(model.current()), std::ref(totals), std::cref(stop));
    }
    std::this_thread::sleep_for(kill_after);
    std::int64_t hw[kPartitions] = {};
    if (damage_round) {
      // Stop producing, let the checkpoint catch up, note the watermarks, then kill.
      stop = true;
      for (auto& t : producers)
        t.join();
      producers.clear();
      wait_for_checkpoint();
      auto client = Client::connect({.address = server->address(), .io_timeout_ms = 10000});
      for (int p = 0; client && p < kPartitions; ++p) {
        auto offsets = (*client)->offsets(model.current().name, p);
        if (offsets) hw[p] = offsets->high_watermark;
      }
    }
    (void)server->kill();
    stop = true;
    for (auto& t : producers)
      t.join();
    const int expected_verify = model.any_damage() ? 3 : 0;
    const int verify = run_command({o.binary, "verify", data_dir}, root + "/verify.log");
    if (verify != expected_verify) {
      failure("round %d: `ringlog verify` exited %d, not %d (log in %s/verify.log)", round, verify,
              expected_verify, root.c_str());
      std::fprintf(stderr, "%s\n", ringlog::testing::read_file(root + "/verify.log").c_str());
    }
    if (o.sabotage) sabotage(data_dir);
    if (damage_round) {
      const std::uint64_t choice = rng();
      if (choice % 5 == 4) {
        lock_removed = true;  // removed under the next server, which must keep its lock
        std::printf("round %d: @lock will be removed under the next server\n", round);
      } else {
        const int p = static_cast<int>(choice / 5 % kPartitions);
        TopicModel& topic = model.current();
        if (auto d = damage_partition(data_dir, topic, p, hw[p], choice / 10)) {
          std::printf("round %d: %s of %s/%d: offsets %" PRId64 "..%" PRId64 " removed\n", round,
                      d->kind.c_str(), topic.name.c_str(), p, d->lost_from, d->lost_to - 1);
          topic.damage[p] = *d;
          topic.retired = true;
          ++damages;
          model.topics.push_back(std::make_unique<TopicModel>());
          model.current().name = std::string(kTopic) + "-" + std::to_string(damages);
          topic_needed = true;
        }
      }
    }
    ++rounds_done;
    std::printf("round %d: killed after %lld ms, acknowledged %" PRIu64 ", adopted %" PRIu64
                ", failures %d\n",
                round, static_cast<long long>(kill_after.count()), totals.acked.load(),
                totals.adopted, g_failures.load());
    std::fflush(stdout);
    if (g_failures.load() > 0) break;
  }
  // After the clean shutdown the directory must verify as before: clean, or damaged (exit 3).
  if (!infra_failed && g_failures.load() == 0) {
    const int expected = model.any_damage() ? 3 : 0;
    const int verify = run_command({o.binary, "verify", data_dir}, root + "/verify.log");
    if (verify != expected) failure("final `ringlog verify` exited %d, not %d", verify, expected);
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  std::printf("crash loop: %d kill rounds in %.1f s, seed %" PRIu64 ", %" PRIu64
              " records acknowledged, %" PRIu64 " adopted after lost replies, %" PRIu64
              " lost in the unsynced window, %" PRIu64 " error replies, %d damaged partitions, "
              "%d failures\n",
              rounds_done, seconds, o.seed, totals.acked.load(), totals.adopted,
              totals.lost_in_window, totals.error_replies.load(), damages, g_failures.load());
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
