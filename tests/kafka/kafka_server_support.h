// The real server (protocol::Server) with its Kafka listener on an ephemeral loopback port, and
// a blocking Kafka connection that speaks the wire protocol frame by frame (5 s deadline on
// every read), for socket-level tests.
#pragma once

#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <ringlog/batch.h>
#include <ringlog/engine.h>

#include "kafka_test_support.h"
#include "protocol/kafka/frame.h"
#include "protocol/kafka/messages.h"
#include "protocol/server_fixture.h"

namespace ringlog::kafka::test {

inline protocol::ServerOptions kafka_server_options() {
  protocol::ServerOptions options;
  options.kafka_listen = "127.0.0.1:0";
  options.kafka_group_initial_delay_ms = 100;
  return options;
}

inline EngineOptions fast_engine_options() {
  EngineOptions options;
  options.durability.mode = Durability::Mode::kNever;
  return options;
}

// Calls `done` every 10 ms until it returns true or `limit` passes; returns whether it did.
inline bool eventually(const std::function<bool()>& done,
                       std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

inline std::string_view as_text(std::span<const std::byte> bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

class KafkaConnection {
 public:
  explicit KafkaConnection(const std::string& address) : raw_(address) {}

  void send_raw(std::span<const std::byte> bytes) { raw_.send(as_text(bytes)); }

  // Sends a request; returns its correlation id.
  template <typename M>
  std::int32_t send(const M& body, std::int16_t version, std::string client_id = "test") {
    const std::int32_t correlation = ++correlation_;
    RequestHeader h{static_cast<std::int16_t>(M::kApiKey), version, correlation,
                    std::move(client_id)};
    send_raw(encode_request_frame(h, encoded(body, version)));
    return correlation;
  }

  // The next response frame without its size prefix; nullopt when the connection closed (or
  // nothing came for 5 s).
  std::optional<Bytes> read_frame() {
    const std::string size_bytes = raw_.bytes(4);
    if (size_bytes.size() < 4) return std::nullopt;
    Reader size_reader(std::as_bytes(std::span(size_bytes.data(), 4)));
    const std::int32_t size = size_reader.i32();
    REQUIRE(size >= 4);
    const std::string body = raw_.bytes(static_cast<std::size_t>(size));
    if (body.size() < static_cast<std::size_t>(size)) return std::nullopt;
    const auto span = std::as_bytes(std::span(body.data(), body.size()));
    return Bytes(span.begin(), span.end());
  }

  // Reads the next response, which must answer `R` at `version`; its correlation id goes to
  // `correlation`.
  template <typename R>
  R read(std::int16_t version, std::int32_t* correlation = nullptr) {
    std::optional<Bytes> frame = read_frame();
    REQUIRE(frame.has_value());
    Reader r(*frame);
    const std::int32_t id = r.i32();
    if (correlation != nullptr) *correlation = id;
    if (response_header_is_flexible(static_cast<std::int16_t>(R::kApiKey), version)) {
      r.skip_tagged_fields();
    }
    auto decoded = decode<R>(r.rest(), version);
    REQUIRE(decoded.has_value());
    return *decoded;
  }

  template <typename R, typename M>
  R call(const M& body, std::int16_t version) {
    const std::int32_t sent = send(body, version);
    std::int32_t answered = -1;
    R response = read<R>(version, &answered);
    CHECK(answered == sent);
    return response;
  }

  // True when the server closed the connection (after anything still buffered).
  bool closed() { return raw_.closed_by_server(); }
  void shutdown_write() { raw_.shutdown_write(); }

 private:
  protocol::testing::RawConnection raw_;
  std::int32_t correlation_ = 0;
};

// One uncompressed batch of `values` (keys "k0", "k1", ...).
inline Bytes batch_of(const std::vector<std::string>& values, BatchOptions options = {}) {
  BatchBuilder builder(options);
  for (std::size_t i = 0; i < values.size(); ++i)
    builder.add("k" + std::to_string(i), values[i], {}, 1700000000000);
  auto bytes = builder.finish();
  return {bytes.begin(), bytes.end()};
}

inline ProduceRequest produce_request(const std::string& topic, Bytes records,
                                      std::int16_t acks = -1) {
  ProduceRequest request;
  request.acks = acks;
  request.timeout_ms = 5000;
  request.topics = {{topic, {{0, std::move(records)}}}};
  return request;
}

inline FetchRequest fetch_request(const std::string& topic, std::int64_t offset,
                                  std::int32_t max_wait_ms = 0,
                                  std::int32_t partition_max_bytes = 1 << 20) {
  FetchRequest request;
  request.max_wait_ms = max_wait_ms;
  request.min_bytes = 1;
  request.max_bytes = 64 << 20;
  request.topics = {{topic, {{0, -1, offset, -1, partition_max_bytes}}}};
  return request;
}

// The values of the whole batches in `records` at offsets >= `from`.
inline std::vector<std::string> values_in(std::span<const std::byte> records,
                                          std::int64_t from = 0) {
  std::vector<std::string> out;
  BatchReader reader(records);
  for (ParsedBatch b = reader.next(); b.ok(); b = reader.next()) {
    for (const RecordView& r : b.batch.records()) {
      if (r.offset >= from && r.value) out.emplace_back(as_text(*r.value));
    }
  }
  return out;
}

}  // namespace ringlog::kafka::test
