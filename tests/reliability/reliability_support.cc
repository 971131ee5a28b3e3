#include "tests/reliability/reliability_support.h"

#include <doctest/doctest.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>

#include "io/log.h"

namespace ringlog::reliability {

// ---- InProcessServer --------------------------------------------------------------------------

InProcessServer::InProcessServer(protocol::ServerOptions options, EngineOptions engine)
    : options_(std::move(options)), engine_options_(std::move(engine)) {
  set_log_level(LogLevel::kError);
  options_.listen = "127.0.0.1:0";
  engine_options_.data_dir = dir_.path() + "/data";
  if (engine_options_.segment_bytes == EngineOptions{}.segment_bytes) {
    engine_options_.segment_bytes = 1 << 20;
  }
  auto opened = Engine::open(engine_options_);
  REQUIRE_MESSAGE(opened, (opened ? "" : opened.error().to_string()));
  engine_ = std::move(*opened);
  auto created = protocol::Server::create(*engine_, options_);
  REQUIRE_MESSAGE(created, (created ? "" : created.error().to_string()));
  server_ = std::move(*created);
  address_ = server_->address();
  loop_ = std::thread([this] {
    Status status = server_->run();
    if (!status) std::fprintf(stderr, "server run: %s\n", status.error().to_string().c_str());
    finished_ = true;
  });
}

InProcessServer::~InProcessServer() {
  stop();
}

bool InProcessServer::running() const {
  return !finished_.load();
}

void InProcessServer::stop() {
  if (!server_) return;
  server_->stop();
  loop_.join();
  server_.reset();
  CHECK(engine_->close().has_value());
  engine_.reset();
}

// ---- ServerSubprocess -------------------------------------------------------------------------

namespace {

testing::ServeOptions subprocess_options(const std::string& data_dir,
                                         const std::vector<std::string>& extra_args) {
  testing::ServeOptions o;
  o.args = {"--data", data_dir, "--listen", "127.0.0.1:0", "--log-level", "warn"};
  o.args.insert(o.args.end(), extra_args.begin(), extra_args.end());
  o.out_path = data_dir + ".serve.log";
  o.err_path = o.out_path;
  // Under ASan, freed memory sits in a 256 MiB quarantine and would count as the server's
  // RSS: keep it small so the memory-bound tests measure the server, not the sanitizer.
  const char* asan = std::getenv("ASAN_OPTIONS");
  o.env.push_back("ASAN_OPTIONS=" + std::string(asan ? asan : "") + ":quarantine_size_mb=8");
  return o;
}

}  // namespace

ServerSubprocess::ServerSubprocess(const std::string& data_dir,
                                   const std::vector<std::string>& extra_args)
    : ServeProcess(subprocess_options(data_dir, extra_args)) {}

std::uint64_t ServerSubprocess::rss_kib() const {
  std::ifstream in("/proc/" + std::to_string(pid()) + "/status");
  std::string key;
  while (in >> key) {
    if (key == "VmRSS:") {
      std::uint64_t kib = 0;
      in >> kib;
      return kib;
    }
    in.ignore(1 << 20, '\n');
  }
  return 0;
}

std::uint64_t raise_fd_limit(std::uint64_t wanted) {
  rlimit limit{};
  ::getrlimit(RLIMIT_NOFILE, &limit);
  if (limit.rlim_cur < wanted) {
    limit.rlim_cur = std::min<rlim_t>(wanted, limit.rlim_max);
    ::setrlimit(RLIMIT_NOFILE, &limit);
    ::getrlimit(RLIMIT_NOFILE, &limit);
  }
  return limit.rlim_cur;
}

// ---- Ledger -----------------------------------------------------------------------------------

Ledger::Ledger(std::string address, std::string topic)
    : address_(std::move(address)), topic_(std::move(topic)) {}

void Ledger::produce(int count) {
  auto client = protocol::Client::connect({.address = address_, .io_timeout_ms = 10000});
  REQUIRE(client);
  for (int i = 0; i < count; ++i) {
    const int n = next_++;
    std::string value =
        "ledger-" + std::to_string(n) + std::string(static_cast<std::size_t>(n % 97), 'v');
    auto offset = (*client)->put(topic_, 0, bytes_of(value));
    REQUIRE_MESSAGE(offset, (offset ? "" : offset.error().to_string()));
    acked_.emplace(*offset, std::move(value));
  }
}

void Ledger::check() const {
  auto client = protocol::Client::connect({.address = address_, .io_timeout_ms = 10000});
  REQUIRE(client);
  std::map<std::int64_t, std::string> found;
  std::int64_t next = 0;
  const std::int64_t end = acked_.empty() ? 0 : acked_.rbegin()->first + 1;
  while (next < end) {
    auto reply = (*client)->fetch(topic_, 0, next, 1 << 20);
    REQUIRE_MESSAGE(reply, (reply ? "" : reply.error().to_string()));
    REQUIRE_MESSAGE(!reply->batches.empty(), "no data at offset " << next);
    for (const BatchView& batch : reply->batches) {
      for (const RecordView& r : batch.records()) {
        if (r.offset < next) continue;
        found.emplace(
            r.offset,
            r.value ? std::string(reinterpret_cast<const char*>(r.value->data()), r.value->size())
                    : std::string());
      }
    }
    next = reply->next_offset;
  }
  for (const auto& [offset, value] : acked_) {
    auto it = found.find(offset);
    REQUIRE_MESSAGE(it != found.end(), "acknowledged offset " << offset << " is missing");
    CHECK_MESSAGE(it->second == value, "acknowledged offset " << offset << " changed");
  }
}

bool server_answers(const std::string& address) {
  auto client = protocol::Client::connect({.address = address, .io_timeout_ms = 5000});
  return client && (*client)->ping().has_value();
}

}  // namespace ringlog::reliability
