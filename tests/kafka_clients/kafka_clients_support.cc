#include "kafka_clients_support.h"

#include <cstdlib>
#include <sstream>
#include <stdexcept>

#include <doctest/doctest.h>

namespace ringlog::kafka_clients::test {

std::string ringlog_binary() {
  const std::string path = testing::ringlog_binary();
  static const bool has_kafka_listener =
      shell(sh_quote(path) + " serve --help 2>&1").out.find("--kafka-listen") != std::string::npos;
  REQUIRE_MESSAGE(has_kafka_listener, path << " has no `serve --kafka-listen`: this binary "
                                              "predates the Kafka listener (issue 8)");
  return path;
}

KafkaServer::KafkaServer(const std::string& work_dir, std::vector<std::string> extra_args)
    : work_dir_(work_dir), data_dir_(work_dir + "/data"), extra_args_(std::move(extra_args)) {
  start();
}

KafkaServer::~KafkaServer() {
  if (process_) (void)stop();
}

std::string KafkaServer::line_address() const {
  return "127.0.0.1:" + std::to_string(line_port_);
}

std::string KafkaServer::bootstrap() const {
  return "127.0.0.1:" + std::to_string(kafka_port_);
}

std::string KafkaServer::log() const {
  std::string out;
  for (int i = 1; i <= starts_; ++i)
    out += read_file(work_dir_ + "/serve-" + std::to_string(i) + ".err");
  return out;
}

bool KafkaServer::try_start() {
  ++starts_;
  testing::ServeOptions options;
  options.binary = ringlog_binary();
  options.args = {"--data",    data_dir_,        "--listen", line_address(), "--kafka-listen",
                  bootstrap(), "--segment-size", "4MiB",     "--log-level",  "info"};
  options.args.insert(options.args.end(), extra_args_.begin(), extra_args_.end());
  const std::string stem = work_dir_ + "/serve-" + std::to_string(starts_);
  options.out_path = stem + ".out";
  options.err_path = stem + ".err";
  try {
    process_ = std::make_unique<testing::ServeProcess>(options);
  } catch (const std::runtime_error&) {
    return false;  // it exited (a port was taken) or stayed silent: log() has why
  }
  const bool up = wait_until(std::chrono::seconds(20), [&] {
    return !process_->running() || (testing::accepts(line_port_) && testing::accepts(kafka_port_));
  });
  if (up && process_->running()) return true;
  (void)process_->stop();
  process_.reset();
  return false;
}

void KafkaServer::start() {
  REQUIRE(!process_);
  const bool restart = line_port_ != 0;
  for (int attempt = 0; attempt < (restart ? 1 : 3); ++attempt) {
    if (!restart) {
      line_port_ = testing::free_port();
      do {
        kafka_port_ = testing::free_port();
      } while (kafka_port_ == line_port_);
    }
    if (try_start()) return;
  }
  FAIL("ringlog serve did not come up on " << line_address() << " and " << bootstrap() << ":\n"
                                           << log());
}

int KafkaServer::stop() {
  if (!process_) return -1;
  const int code = process_->stop(std::chrono::seconds(30));
  process_.reset();
  return code;
}

std::vector<PartitionOffsets> parse_offsets_table(const std::string& text) {
  // partition  log_start  high_watermark  committed  lag   (header line first)
  std::vector<PartitionOffsets> rows;
  std::istringstream in(text);
  std::string line;
  if (!std::getline(in, line) || line.rfind("partition", 0) != 0) return {};
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string partition, log_start, high_watermark, committed;
    if (!(fields >> partition >> log_start >> high_watermark >> committed)) return {};
    PartitionOffsets row;
    row.high_watermark = std::stoll(high_watermark);
    if (committed != "-") row.committed = std::stoll(committed);
    rows.push_back(row);
  }
  return rows;
}

bool kcat_installed() {
  if (testing::have_command("kcat")) return true;
  MESSAGE("kcat is not installed (scripts/setup installs it): skipped");
  return false;
}

ServerFixture::ServerFixture() : server(std::make_unique<KafkaServer>(work.path())) {}

std::string ServerFixture::kcat(const std::string& args, int seconds) const {
  return "timeout " + std::to_string(seconds) + " kcat -b " + server->bootstrap() + " " + args;
}

std::string ServerFixture::ringlog(const std::string& args) const {
  return "timeout 60 " + sh_quote(ringlog_binary()) + " " + args;
}

std::vector<PartitionOffsets> ServerFixture::offsets(const std::string& topic,
                                                     const std::string& group) const {
  ShellResult r = shell(ringlog("offsets " + topic + " --group " + group + server_flag()));
  if (r.exit_code != 0) return {};
  return parse_offsets_table(r.out);
}

bool ServerFixture::wait_for_high_watermark(const std::string& topic, int partition,
                                            std::int64_t high_watermark,
                                            std::chrono::milliseconds limit) const {
  return wait_until(limit, [&] {
    auto rows = offsets(topic, "probe");
    return static_cast<int>(rows.size()) > partition &&
           rows[static_cast<std::size_t>(partition)].high_watermark == high_watermark;
  });
}

namespace {

// The integer after "key": in one line of JSON (no nesting needed for dump's batch lines).
std::int64_t json_int(const std::string& line, const std::string& key) {
  const std::string needle = "\"" + key + "\":";
  const auto at = line.find(needle);
  REQUIRE_MESSAGE(at != std::string::npos, "no " << key << " in " << line);
  return std::strtoll(line.c_str() + at + needle.size(), nullptr, 10);
}

}  // namespace

std::vector<BatchSummary> ServerFixture::dump_batches(const std::string& topic,
                                                      int partition) const {
  const std::string segment = server->data_dir() + "/" + topic + "/" + std::to_string(partition) +
                              "/00000000000000000000.log";
  ShellResult r = shell(ringlog("dump --json --batches-only " + sh_quote(segment) + " 2>&1"));
  INFO("ringlog dump ", segment, ":\n", r.out);
  REQUIRE(r.exit_code == 0);
  std::vector<BatchSummary> batches;
  std::istringstream in(r.out);
  std::string line;
  while (std::getline(in, line)) {
    if (line.find("\"base_offset\"") == std::string::npos) continue;
    BatchSummary b;
    b.attributes = static_cast<int>(json_int(line, "attributes"));
    b.record_count = static_cast<int>(json_int(line, "record_count"));
    b.base_offset = json_int(line, "base_offset");
    b.producer_id = json_int(line, "producer_id");
    b.base_sequence = static_cast<int>(json_int(line, "base_sequence"));
    b.crc_ok = line.find("\"crc_ok\":true") != std::string::npos;
    batches.push_back(b);
  }
  return batches;
}

}  // namespace ringlog::kafka_clients::test
