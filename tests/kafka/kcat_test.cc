// kcat (librdkafka 2.0.2) against the Broker, over real TCP. The sockets here are a deliberately
// simple blocking harness (a reader thread per connection, one "loop" thread that owns the
// Broker), standing in for the io_uring server until the Kafka listener lives in it. Skipped
// when kcat is not installed.
#include <doctest/doctest.h>

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include <ringlog/batch.h>
#include <ringlog/engine.h>

#include "io/socket.h"
#include "kafka_test_support.h"
#include "protocol/kafka/broker.h"
#include "protocol/kafka/frame.h"

namespace ringlog::kafka {
namespace {

std::int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

bool have_kcat() {
  return ::system("command -v kcat >/dev/null 2>&1") == 0;
}

// Runs a shell command; returns its exit status and stdout.
std::pair<int, std::string> run(const std::string& command) {
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  char buffer[4096];
  while (std::size_t n = ::fread(buffer, 1, sizeof buffer, pipe))
    out.append(buffer, n);
  const int status = ::pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

class ThreadedKafkaServer {
 public:
  explicit ThreadedKafkaServer(Engine& engine) {
    auto address = parse_address("127.0.0.1:0");
    REQUIRE(address);
    auto fd = listen_on(*address);
    REQUIRE(fd);
    listener_ = std::move(*fd);
    port_ = local_address(listener_.get())->port();
    BrokerOptions options;
    options.advertised_port = port_;
    options.coordinator.initial_join_delay_ms = 100;
    options.coordinator.start_ms = 1;
    BrokerHooks hooks;
    hooks.post = [this](BrokerHooks::Task t) { post(std::move(t)); };
    hooks.run_blocking = [](BrokerHooks::Task t) { t(); };  // the loop may block in a test
    broker_ = std::make_unique<Broker>(engine, options, hooks);
    engine.set_visibility_listener([this](std::string_view topic, std::int32_t p, std::int64_t) {
      post([this, t = std::string(topic), p] { broker_->on_visible(t, p, steady_ms()); });
    });
    loop_ = std::thread([this] { run_loop(); });
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  ~ThreadedKafkaServer() {
    stop_ = true;
    ::shutdown(listener_.get(), SHUT_RDWR);
    acceptor_.join();
    {
      std::lock_guard lock(mu_);
      for (auto& c : connections_)
        ::shutdown(c->fd.get(), SHUT_RDWR);
    }
    for (auto& t : readers_)
      t.join();
    cv_.notify_all();
    loop_.join();
  }
  std::uint16_t port() const { return port_; }
  std::string bootstrap() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  struct Connection {
    UniqueFd fd;
    std::uint64_t next_seq = 0;            // loop thread
    std::uint64_t next_send = 0;           // loop thread
    std::map<std::uint64_t, Reply> ready;  // loop thread
  };

  void post(BrokerHooks::Task task) {
    std::lock_guard lock(mu_);
    tasks_.push_back(std::move(task));
    cv_.notify_all();
  }

  void run_loop() {
    while (!stop_) {
      std::deque<BrokerHooks::Task> tasks;
      {
        std::unique_lock lock(mu_);
        cv_.wait_for(lock, std::chrono::milliseconds(10), [&] { return !tasks_.empty(); });
        tasks.swap(tasks_);
      }
      for (auto& t : tasks)
        t();
      broker_->tick(steady_ms());
    }
  }

  void accept_loop() {
    while (!stop_) {
      const int fd = ::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) return;
      auto conn = std::make_shared<Connection>();
      conn->fd = UniqueFd(fd);
      std::lock_guard lock(mu_);
      connections_.push_back(conn);
      readers_.emplace_back([this, conn] { read_loop(conn); });
    }
  }

  void read_loop(std::shared_ptr<Connection> conn) {
    FrameSplitter splitter(1 << 20);
    while (true) {
      auto space = splitter.prepare(64 << 10);
      const ssize_t n = ::recv(conn->fd.get(), space.data(), space.size(), 0);
      if (n <= 0) return;
      splitter.commit(static_cast<std::size_t>(n));
      for (auto f = splitter.next(); f.status != FrameSplitter::Status::kNeedMore;
           f = splitter.next()) {
        if (f.status == FrameSplitter::Status::kBadSize) {
          ::shutdown(conn->fd.get(), SHUT_RDWR);
          return;
        }
        post([this, conn, frame = Bytes(f.frame.begin(), f.frame.end())] {
          const std::uint64_t seq = conn->next_seq++;
          broker_->handle(frame, steady_ms(), [this, conn, seq](Reply r) {
            conn->ready.emplace(seq, std::move(r));
            flush(*conn);
          });
        });
      }
    }
  }

  // Sends the ready replies in request order (loop thread; blocking writes are fine here).
  static void flush(Connection& conn) {
    for (auto it = conn.ready.find(conn.next_send); it != conn.ready.end();
         it = conn.ready.find(conn.next_send)) {
      Reply& r = it->second;
      if (r.kind == Reply::Kind::kClose) ::shutdown(conn.fd.get(), SHUT_RDWR);
      if (r.kind == Reply::Kind::kFrame) {
        auto bytes = r.frame.materialize();
        REQUIRE(bytes);
        std::size_t done = 0;
        while (done < bytes->size()) {
          const ssize_t n =
              ::send(conn.fd.get(), bytes->data() + done, bytes->size() - done, MSG_NOSIGNAL);
          if (n <= 0) break;
          done += static_cast<std::size_t>(n);
        }
      }
      conn.ready.erase(it);
      ++conn.next_send;
    }
  }

  UniqueFd listener_;
  std::uint16_t port_ = 0;
  std::unique_ptr<Broker> broker_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<BrokerHooks::Task> tasks_;
  std::vector<std::shared_ptr<Connection>> connections_;
  std::vector<std::thread> readers_;
  std::thread loop_;
  std::thread acceptor_;
};

struct KcatFixture {
  std::string dir;
  std::unique_ptr<Engine> engine;
  std::unique_ptr<ThreadedKafkaServer> server;

  KcatFixture() {
    std::string pattern = "/tmp/ringlog-kcat-XXXXXX";
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    dir = pattern;
    EngineOptions options;
    options.data_dir = dir + "/data";
    options.segment_bytes = 1 << 20;
    options.preallocation = Preallocation::kNone;
    options.durability.mode = Durability::Mode::kNever;
    auto opened = Engine::open(options);
    REQUIRE(opened);
    engine = std::move(*opened);
    server = std::make_unique<ThreadedKafkaServer>(*engine);
  }
  ~KcatFixture() {
    server.reset();
    engine->set_visibility_listener(nullptr);
    (void)engine->close();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  // A kcat command line against the server, killed after `seconds`.
  std::string kcat(const std::string& args, int seconds = 30) const {
    return "timeout " + std::to_string(seconds) + " kcat -b " + server->bootstrap() + " " + args;
  }
};

TEST_CASE_FIXTURE(KcatFixture, "kcat: metadata, produce with every acks, consume back") {
  if (!have_kcat()) {
    MESSAGE("kcat not installed: skipped");
    return;
  }
  auto [list_status, listing] = run(kcat("-L 2>&1"));
  CHECK(list_status == 0);
  CHECK(listing.find("1 brokers") != std::string::npos);

  for (const char* acks : {"all", "1", "0"}) {
    CAPTURE(acks);
    auto [status, out] = run("printf 'v-" + std::string(acks) + "-1\\nv-" + acks + "-2\\n' | " +
                             kcat("-P -t events -X acks=" + std::string(acks) + " 2>&1"));
    CHECK(status == 0);
    CHECK(out == "");
  }
  auto [idem_status, idem_out] =
      run("printf 'i-1\\ni-2\\ni-3\\n' | " + kcat("-P -t events -X enable.idempotence=true 2>&1"));
  CHECK(idem_status == 0);
  CHECK(idem_out == "");

  auto [status, out] = run(kcat("-C -t events -o beginning -e -q 2>&1"));
  CHECK(status == 0);
  CHECK(out == "v-all-1\nv-all-2\nv-1-1\nv-1-2\nv-0-1\nv-0-2\ni-1\ni-2\ni-3\n");
}

TEST_CASE_FIXTURE(KcatFixture, "kcat: compressed batches are stored and served unchanged") {
  if (!have_kcat()) return;
  // librdkafka sends a batch uncompressed unless compression makes it smaller: repetitive values.
  const std::string value(300, 'c');
  std::string expected;
  for (int i = 0; i < 20; ++i)
    expected += value + std::to_string(i) + "\n";
  for (const std::string codec : {"lz4", "zstd", "gzip", "snappy"}) {
    CAPTURE(codec);
    const std::string topic = "z-" + codec;
    auto [status, out] = run("for i in $(seq 0 19); do echo " + value + "$i; done | " +
                             kcat("-P -t " + topic + " -X compression.codec=" + codec + " 2>&1"));
    CHECK(status == 0);
    CHECK(out == "");
    auto read = engine->read(topic, 0, 0, 1 << 20);
    REQUIRE(read);
    ParsedBatch batch = parse_batch(*read);
    REQUIRE(batch.ok());
    CHECK(batch.batch.is_compressed());
    auto [cstatus, cout] = run(kcat("-C -t " + topic + " -o beginning -e -q 2>&1"));
    CHECK(cstatus == 0);
    CHECK(cout == expected);
  }
}

TEST_CASE_FIXTURE(KcatFixture, "kcat: keys and headers come back byte-identical") {
  if (!have_kcat()) return;
  auto [status, out] =
      run("printf 'k1:value one\\n' | " + kcat("-P -t kv -K: -H h1=x -H h2=y 2>&1"));
  CHECK(status == 0);
  auto [cstatus, cout] = run(kcat("-C -t kv -o beginning -e -q -f '%k|%s|%h|%o\\n' 2>&1"));
  CHECK(cstatus == 0);
  CHECK(cout == "k1|value one|h1=x,h2=y|0\n");
}

TEST_CASE_FIXTURE(KcatFixture, "kcat: a consumer group reads and commits") {
  if (!have_kcat()) return;
  REQUIRE(run("printf 'g1\\ng2\\n' | " + kcat("-P -t grouped 2>&1")).first == 0);
  auto [status, out] = run(kcat("-G grp -o beginning -e -q grouped 2>&1"));
  CHECK(status == 0);
  CHECK(out == "g1\ng2\n");
  auto committed = engine->committed_offset("grp", "grouped", 0);
  REQUIRE(committed);
  REQUIRE(committed->has_value());
  CHECK((*committed)->offset == 2);
}

// Reads everything a command prints until it exits.
std::string drain(FILE* pipe) {
  std::string out;
  char buffer[4096];
  while (std::size_t n = ::fread(buffer, 1, sizeof buffer, pipe))
    out.append(buffer, n);
  ::pclose(pipe);
  return out;
}

TEST_CASE_FIXTURE(KcatFixture, "kcat: two group members share the partitions after a rebalance") {
  if (!have_kcat()) return;
  TopicConfig config;
  config.partitions = 2;
  REQUIRE(engine->create_topic("two", config));
  const std::string consumer =
      "-G shared -o beginning -q -X heartbeat.interval.ms=500 -f '%p %s\\n' two 2>/dev/null";
  FILE* a = ::popen(kcat(consumer, 8).c_str(), "r");
  REQUIRE(a != nullptr);
  std::this_thread::sleep_for(std::chrono::seconds(2));  // A alone: p0 and p1
  FILE* b = ::popen(kcat(consumer, 6).c_str(), "r");
  REQUIRE(b != nullptr);
  std::this_thread::sleep_for(std::chrono::milliseconds(3500));  // rebalance: one each
  REQUIRE(run("printf 'x0\\n' | " + kcat("-P -t two -p 0 2>&1")).first == 0);
  REQUIRE(run("printf 'x1\\n' | " + kcat("-P -t two -p 1 2>&1")).first == 0);
  const std::string out_a = drain(a);
  const std::string out_b = drain(b);
  CAPTURE(out_a);
  CAPTURE(out_b);
  const bool split =
      (out_a == "0 x0\n" && out_b == "1 x1\n") || (out_a == "1 x1\n" && out_b == "0 x0\n");
  CHECK(split);
}

}  // namespace
}  // namespace ringlog::kafka
