// rdkafka_roundtrip (a librdkafka producer and consumer group, rdkafka_roundtrip.cc) against the
// real `ringlog serve` binary. Skipped when librdkafka-dev was missing at configure time.
#include <doctest/doctest.h>

#include <cstdlib>

#include "kafka_clients_support.h"

namespace ringlog::kafka_clients::test {
namespace {

TEST_CASE_FIXTURE(ServerFixture,
                  "librdkafka: idempotent produce, consume in a group, commit and resume, plain "
                  "and with gzip, snappy, lz4 and zstd batches") {
  const char* program = std::getenv("RDKAFKA_ROUNDTRIP");
  if (program == nullptr || *program == '\0') {
    MESSAGE(
        "librdkafka-dev (pkg-config rdkafka) was not found when configuring: "
        "rdkafka_roundtrip was not built, skipped");
    return;
  }
  // The plain round trip spreads over two partitions; the compressed topics are auto-created.
  REQUIRE(shell(ringlog("topics create rt-none --partitions 2" + server_flag())).exit_code == 0);
  ShellResult run =
      shell("timeout 240 " + sh_quote(program) + " --bootstrap " + server->bootstrap() +
            " --topic-prefix rt --messages 300 --codecs none,gzip,snappy,lz4,zstd 2>&1");
  INFO("rdkafka_roundtrip:\n", run.out, "\nserver:\n", server->log());
  CHECK(run.exit_code == 0);
  CHECK(run.out.find("rt-none: 300 messages over 2 partition(s): produced, read back, "
                     "committed, resumed") != std::string::npos);

  // The compressed batches were stored as the producer compressed them.
  const std::pair<const char*, int> codecs[] = {
      {"rt-gzip", 1}, {"rt-snappy", 2}, {"rt-lz4", 3}, {"rt-zstd", 4}};
  for (const auto& [topic, codec] : codecs) {
    CAPTURE(topic);
    CHECK(run.out.find(std::string(topic) + ": 300 messages over 1 partition(s): produced, "
                                            "read back, committed, resumed") != std::string::npos);
    int records = 0;
    for (const BatchSummary& b : dump_batches(topic, 0)) {
      CHECK(b.crc_ok);
      CHECK((b.attributes & 7) == codec);
      CHECK(b.producer_id >= 0);
      records += b.record_count;
    }
    CHECK(records == 300);
  }
}

}  // namespace
}  // namespace ringlog::kafka_clients::test
