// A server on an ephemeral loopback port over an Engine in a temporary directory, with clients
// that speak the protocol the way a program does (Client) and the way a person does with nc
// (RawConnection: bytes in, lines out).
#pragma once

#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include <ringlog/engine.h>

#include "io/log.h"
#include "protocol/client.h"
#include "protocol/server.h"
#include "tests/support/files.h"
#include "tests/support/raw_connection.h"

namespace ringlog::protocol::testing {

inline std::span<const std::byte> bytes_of(std::string_view text) {
  return std::as_bytes(std::span(text.data(), text.size()));
}

using ::ringlog::testing::RawConnection;

class ServerFixture {
 public:
  explicit ServerFixture(ServerOptions options = {}, EngineOptions engine_options = {})
      : options_(std::move(options)), engine_options_(std::move(engine_options)) {
    options_.listen = "127.0.0.1:0";
    options_.worker_threads = 2;
    engine_options_.data_dir = dir_ / "data";
    engine_options_.segment_bytes = 1 << 20;
    engine_options_.preallocation = Preallocation::kNone;
    start();
  }

  ~ServerFixture() { stop(); }

  void start() {
    set_log_level(LogLevel::kWarn);
    auto engine = Engine::open(engine_options_);
    REQUIRE_MESSAGE(engine, (engine ? "" : engine.error().to_string()));
    engine_ = std::move(*engine);
    auto server = Server::create(*engine_, options_);
    REQUIRE_MESSAGE(server, (server ? "" : server.error().to_string()));
    server_ = std::move(*server);
    thread_ = std::thread([this] { run_status_ = server_->run(); });
  }

  // Stops the server as SIGTERM would, then closes the engine.
  void stop() {
    if (!server_) return;
    server_->stop();
    thread_.join();
    CHECK(run_status_.has_value());
    server_.reset();
    CHECK(engine_->close().has_value());
    engine_.reset();
  }

  void restart() {
    stop();
    start();
  }

  std::unique_ptr<Client> client() {
    ClientOptions options;
    options.address = server_->address();
    options.io_timeout_ms = 5000;
    auto client = Client::connect(options);
    REQUIRE_MESSAGE(client, (client ? "" : client.error().to_string()));
    return std::move(*client);
  }

  RawConnection raw() { return RawConnection(server_->address()); }

  Engine& engine() { return *engine_; }
  Server& server() { return *server_; }
  const std::string& data_dir() const { return engine_options_.data_dir; }
  ServerOptions& options() { return options_; }

 private:
  ServerOptions options_;
  EngineOptions engine_options_;
  ringlog::testing::TempDir dir_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<Server> server_;
  std::thread thread_;
  Status run_status_;
};

}  // namespace ringlog::protocol::testing
