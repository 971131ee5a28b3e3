#include "tests/hardening/hardening_support.h"

#include <cstdlib>
#include <fstream>
#include <stdexcept>

#include "tests/support/process.h"

namespace ringlog::hardening {

namespace {

// "... Kafka on 127.0.0.1:PORT (advertised ..." -> "127.0.0.1:PORT".
std::string kafka_listen_address(const std::string& log) {
  const std::string marker = "Kafka on ";
  const auto at = log.find(marker);
  if (at == std::string::npos) return "";
  const auto from = at + marker.size();
  const auto end = log.find(' ', from);
  return end == std::string::npos ? "" : log.substr(from, end - from);
}

testing::ServeOptions serve_options(const std::string& data_dir, std::uint16_t kafka_port,
                                    const std::vector<std::string>& extra_args,
                                    const std::string& binary, int listen_timeout_s) {
  testing::ServeOptions o;
  o.binary = binary;
  o.listen_timeout_s = listen_timeout_s;
  o.args = {"--data",         data_dir,
            "--listen",       "127.0.0.1:0",
            "--kafka-listen", "127.0.0.1:" + std::to_string(kafka_port),
            "--log-level",    "warn"};
  o.args.insert(o.args.end(), extra_args.begin(), extra_args.end());
  o.out_path = data_dir + ".serve.log";
  o.err_path = o.out_path;
  // Under ASan, freed memory sits in a quarantine that would count as the server's RSS.
  const char* asan = std::getenv("ASAN_OPTIONS");
  o.env.push_back("ASAN_OPTIONS=" + std::string(asan ? asan : "") + ":quarantine_size_mb=8");
  return o;
}

}  // namespace

Served::Served(std::string data_dir, std::vector<std::string> extra_args, std::string binary,
               int listen_timeout_s)
    : data_dir_(std::move(data_dir)) {
  for (int attempt = 0;; ++attempt) {
    try {
      process_ = std::make_unique<testing::ServeProcess>(
          serve_options(data_dir_, testing::free_port(), extra_args, binary, listen_timeout_s));
      break;
    } catch (const std::runtime_error& e) {
      // The free port may have been taken between free_port() and the server's bind.
      const bool port_taken =
          std::string(e.what()).find("Address already in use") != std::string::npos;
      if (!port_taken || attempt == 4) throw;
    }
  }
  kafka_address_ = kafka_listen_address(process_->log());
  if (kafka_address_.empty()) throw std::runtime_error("no Kafka listener: " + process_->log());
}

Served::~Served() {
  if (process_ && process_->running()) (void)process_->stop();
}

std::uint64_t Served::rss_kib() const {
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

std::string line_reply(const std::string& address, std::string_view command) {
  RawConnection conn(address);
  conn.send(std::string(command) + "\r\n");
  return conn.line();
}

std::string line_listing(const std::string& address, std::string_view command) {
  RawConnection conn(address);
  conn.send(std::string(command) + "\r\n");
  std::string out;
  for (int i = 0; i < 100000; ++i) {
    std::string line = conn.line();
    if (line == "<timeout>" || line == "<closed>") return out + line;
    out += line;
    out += '\n';
    if (line == "end" || line.starts_with("end ") || line.starts_with("error ")) break;
  }
  return out;
}

int run_verify(const std::string& data_dir, std::string* output) {
  testing::RunResult r =
      testing::run_command({testing::ringlog_binary(), "verify", "--data", data_dir});
  if (output != nullptr) *output = r.out + r.err;
  return r.exit_code;
}

}  // namespace ringlog::hardening
