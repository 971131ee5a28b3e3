// kcat (librdkafka 2.0.2) against the real server: an in-process protocol::Server with its Kafka
// listener on an ephemeral loopback port, in front of an Engine in a scratch directory.
// Skipped when kcat is not installed.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include <ringlog/batch.h>
#include <ringlog/engine.h>

#include "kafka_server_support.h"

namespace ringlog::kafka {
namespace {

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

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A shell command in the background, its stdout and stderr in files; stopped by its PID.
class Background {
 public:
  Background(const std::string& command, const std::string& out, const std::string& err) {
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      const int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(o, 1);
      ::dup2(e, 2);
      ::execl("/bin/sh", "sh", "-c", ("exec " + command).c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
  }
  ~Background() { stop(); }
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
};

struct KcatFixture : protocol::testing::ServerFixture {
  KcatFixture() : ServerFixture(test::kafka_server_options(), test::fast_engine_options()) {}

  std::string bootstrap() { return server().kafka_address(); }
  // A kcat command line against the server, killed after `seconds`.
  std::string kcat(const std::string& args, int seconds = 30) {
    return "timeout " + std::to_string(seconds) + " kcat -b " + bootstrap() + " " + args;
  }
  std::string scratch(const std::string& name) const { return data_dir() + "/../" + name; }
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
    auto read = engine().read(topic, 0, 0, 1 << 20);
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

TEST_CASE_FIXTURE(KcatFixture,
                  "kcat: a consumer group reads, commits and resumes after a restart") {
  if (!have_kcat()) return;
  REQUIRE(run("printf 'g1\\ng2\\n' | " + kcat("-P -t grouped 2>&1")).first == 0);
  auto [status, out] = run(kcat("-G grp -o beginning -e -q grouped 2>&1"));
  CHECK(status == 0);
  CHECK(out == "g1\ng2\n");
  auto committed = engine().committed_offset("grp", "grouped", 0);
  REQUIRE(committed);
  REQUIRE(committed->has_value());
  CHECK((*committed)->offset == 2);

  restart();  // a new server (and Kafka port) on the same data directory
  REQUIRE(run("printf 'g3\\n' | " + kcat("-P -t grouped 2>&1")).first == 0);
  // Without -o (which kcat applies to every assigned partition) it starts at the committed offset.
  auto [again_status, again] = run(kcat("-G grp -e -q grouped 2>&1"));
  CHECK(again_status == 0);
  CHECK(again == "g3\n");
}

// The partitions the last "assigned:" line of a kcat -G log names ("" before any).
std::string last_assignment(const std::string& log) {
  const std::size_t at = log.rfind("assigned:");
  if (at == std::string::npos) return "";
  return log.substr(at, log.find('\n', at) - at);
}

TEST_CASE_FIXTURE(KcatFixture, "kcat: two group members share the partitions after a rebalance") {
  if (!have_kcat()) return;
  TopicConfig config;
  config.partitions = 2;
  REQUIRE(engine().create_topic("two", config));
  // kcat logs each assignment on stderr ("% Group shared rebalanced (memberid ...): assigned:
  // two [0], two [1]"); the test follows those lines instead of sleeping.
  const std::string consumer =
      kcat("-G shared -u -o beginning -X heartbeat.interval.ms=500 -f '%p %s\\n' two", 60);
  Background a(consumer, scratch("a.out"), scratch("a.err"));
  CHECK(test::eventually(
      [&] { return last_assignment(read_text(scratch("a.err"))) == "assigned: two [0], two [1]"; },
      std::chrono::seconds(20)));
  Background b(consumer, scratch("b.out"), scratch("b.err"));
  const auto one_each = [&] {
    const std::string for_a = last_assignment(read_text(scratch("a.err")));
    const std::string for_b = last_assignment(read_text(scratch("b.err")));
    return (for_a == "assigned: two [0]" && for_b == "assigned: two [1]") ||
           (for_a == "assigned: two [1]" && for_b == "assigned: two [0]");
  };
  CHECK(test::eventually(one_each, std::chrono::seconds(30)));
  REQUIRE(run("printf 'x0\\n' | " + kcat("-P -t two -p 0 2>&1")).first == 0);
  REQUIRE(run("printf 'x1\\n' | " + kcat("-P -t two -p 1 2>&1")).first == 0);
  CHECK(test::eventually([&] {
    return read_text(scratch("a.out")).size() + read_text(scratch("b.out")).size() == 10;
  }));
  a.stop();
  b.stop();
  const std::string out_a = read_text(scratch("a.out"));
  const std::string out_b = read_text(scratch("b.out"));
  CAPTURE(out_a);
  CAPTURE(out_b);
  CAPTURE(read_text(scratch("a.err")));
  CAPTURE(read_text(scratch("b.err")));
  const bool split = (last_assignment(read_text(scratch("a.err"))) == "assigned: two [0]")
                         ? (out_a == "0 x0\n" && out_b == "1 x1\n")
                         : (out_a == "1 x1\n" && out_b == "0 x0\n");
  CHECK(split);
}

}  // namespace
}  // namespace ringlog::kafka
