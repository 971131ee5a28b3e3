// Finding 1: a batch whose records lie (a valid CRC over a count, records or codec that are
// wrong) was accepted by `putb` and Kafka Produce. Now both refuse it, nothing is stored, and
// the log stays consumable and verifiable.
#include <doctest/doctest.h>

#include <random>

#include <ringlog/batch.h>

#include "engine/deflate.h"
#include "engine/endian.h"
#include "tests/hardening/hardening_support.h"
#include "tests/kafka/kafka_server_support.h"

namespace ringlog::hardening {
namespace {

using Bytes = std::vector<std::byte>;

Bytes one_record_batch(std::string_view value = "only") {
  BatchBuilder builder;
  builder.add(std::nullopt, as_bytes(value), {}, 1'700'000'000'000);
  const auto bytes = builder.finish();
  return {bytes.begin(), bytes.end()};
}

Bytes resealed(Bytes b) {
  store_be(b.data() + kCrcAt, BatchView(b).compute_crc());
  return b;
}

// The lies of finding 1, each with a valid CRC.
std::vector<std::pair<std::string, Bytes>> lying_batches() {
  std::vector<std::pair<std::string, Bytes>> out;
  Bytes b = one_record_batch();
  store_be<std::int32_t>(b.data() + kRecordCountAt, INT32_MAX);
  store_be<std::int32_t>(b.data() + kLastOffsetDeltaAt, INT32_MAX - 1);
  out.emplace_back("count 2^31-1 with one record", resealed(b));
  b = one_record_batch();
  store_be<std::int32_t>(b.data() + kRecordCountAt, 5);
  store_be<std::int32_t>(b.data() + kLastOffsetDeltaAt, 4);
  out.emplace_back("count 5 with one record", resealed(b));
  b = one_record_batch("0123456789abcdef");
  std::mt19937 rng(15);
  for (std::size_t i = kRecordsAt; i < b.size(); ++i)
    b[i] = static_cast<std::byte>(rng() | 0x80);  // never a valid one-byte varint
  out.emplace_back("random record bytes", resealed(b));
  b = one_record_batch();
  store_be<std::int16_t>(b.data() + kAttributesAt, 7);
  out.emplace_back("compression codec 7", resealed(b));
  b = one_record_batch();
  store_be<std::int32_t>(b.data() + kRecordCountAt, 3);
  store_be<std::int32_t>(b.data() + kLastOffsetDeltaAt, 2);
  auto zstd = compress_batch(b, Compression::kZstd);
  REQUIRE(zstd.has_value());
  out.emplace_back("zstd records fewer than their count", *zstd);
  return out;
}

std::string putb_command(const std::string& topic, const Bytes& body) {
  std::string out = "putb " + topic + " 0 " + std::to_string(body.size()) + "\r\n";
  out.append(reinterpret_cast<const char*>(body.data()), body.size());
  return out;
}

}  // namespace

TEST_CASE("hardening: batches whose records lie are refused by putb and Kafka Produce") {
  TempDir dir;
  const std::string data = dir.path() + "/data";
  Served served(data);
  // A good record first, so that the lies would land at offset 1.
  REQUIRE(line_reply(served.line_address(), putb_command("t", one_record_batch("good")))
              .starts_with("ok 0 0"));
  kafka::test::KafkaConnection kafka(served.kafka_address());
  for (const auto& [what, batch] : lying_batches()) {
    CAPTURE(what);
    const std::string line = line_reply(served.line_address(), putb_command("t", batch));
    CHECK(line.starts_with("error 400 invalid batch: batch 0 at byte 0: "));
    const auto response =
        kafka.call<kafka::ProduceResponse>(kafka::test::produce_request("t", batch), 7);
    const std::int16_t code = response.responses.at(0).partitions.at(0).error_code;
    CHECK((code == kafka::error::kInvalidRecord || code == kafka::error::kCorruptMessage));
    CHECK(line_reply(served.line_address(), "offsets t 0") == "offsets 0 1");
  }
  // The log after all of them: one record, consumable to its end by the line protocol and by
  // Kafka, and verify finds nothing wrong.
  REQUIRE(line_reply(served.line_address(), putb_command("t", one_record_batch("after")))
              .starts_with("ok 1 1"));
  const auto fetched = kafka.call<kafka::FetchResponse>(kafka::test::fetch_request("t", 0), 11);
  const auto& partition = fetched.responses.at(0).partitions.at(0);
  CHECK(partition.high_watermark == 2);
  CHECK(kafka::test::values_in(partition.records.bytes) ==
        std::vector<std::string>{"good", "after"});
  CHECK(served.stop() == 0);
  std::string report;
  CHECK_MESSAGE(run_verify(data, &report) == 0, report);
}

}  // namespace ringlog::hardening
