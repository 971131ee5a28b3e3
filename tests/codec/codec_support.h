// Helpers shared by the codec tests: hex vectors and small batch fixtures.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "ringlog/batch.h"

namespace ringlog::test {

// "0a ff 01" -> bytes; whitespace and '|' are ignored.
inline std::vector<std::byte> from_hex(std::string_view hex) {
  std::vector<std::byte> out;
  int high = -1;
  for (char c : hex) {
    int nibble;
    if (c >= '0' && c <= '9') {
      nibble = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      nibble = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      nibble = c - 'A' + 10;
    } else {
      continue;
    }
    if (high < 0) {
      high = nibble;
    } else {
      out.push_back(static_cast<std::byte>(high << 4 | nibble));
      high = -1;
    }
  }
  return out;
}

inline std::string to_string(std::span<const std::byte> bytes) {
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

inline std::string to_string(const std::optional<std::span<const std::byte>>& bytes) {
  return bytes ? to_string(*bytes) : std::string("<null>");
}

// The batch kcat 1.7.1 (librdkafka 2.0.2, Debian 12) produced for `echo msg-1 | kcat -P`:
// one record, null key, value "msg-1", CreateTime 0x1a20bde2229. Captured on the wire and
// recorded in ../shared/ref/kafka-compat.md §2 ("Observed kcat batch").
inline constexpr std::string_view kKcatMsg1Batch =
    "0000000000000000 0000003d 00000000 02 d821fcfb 0000 00000000"
    "000001a20bde2229 000001a20bde2229 ffffffffffffffff ffff ffffffff 00000001"
    "16 00 00 00 01 0a 6d73672d31 00";

// The record batch inside a Produce v10 request sent by Kafka's Java console-producer
// (client software apache-kafka-java 3.6.1), captured by tansu-io/tansu and published in
// tansu-sans-io/benches/decode_bench.rs (`produce_request_v10_001`): the frame's compact
// `records` field holds these 290 bytes. An idempotent batch (producerId 1, epoch 0,
// baseSequence 0), leader epoch -1, 5 records with keys, values, three headers each and
// timestamp deltas 0, 8, 8, 8, 8 ms; CRC 0xb9c2f9b8.
inline constexpr std::string_view kJavaProducerBatch =
    "0000000000000000 00000116 ffffffff 02 b9c2f9b8 0000 00000004"
    "00000190edeed786 00000190edeed78e 0000000000000001 0000 00000000 00000005"
    "4c0000000c7177657274790a706f6975790604683106707172046832066a6b6c"
    "0468330675696f4c0010020c6173646667680a6c6b6a68670604683106727479"
    "04683206646667046833066c6b6a4c0010040c6a6b6c6a6b6c0a697569756906"
    "046831067a786304683206637662046833066d6e62540010060c717765727479"
    "127974727272777165650604683106657269046832066569750468330670706f"
    "8601001008127177727272746969703e6a6b6c6a6b6c6a6b6c6b6a6b6a6b6c6b"
    "6a6c6a6c6b6a6c6a6b6c6a6c6b6a6a060468310669696f046832066572740468"
    "3306717765";

// A finished batch copied out of a builder, so tests can corrupt it.
inline std::vector<std::byte> build_batch(std::initializer_list<std::string_view> values,
                                          std::int64_t timestamp_ms = 1'700'000'000'000) {
  BatchBuilder builder;
  for (std::string_view v : values)
    builder.add(std::nullopt, as_bytes(v), {}, timestamp_ms);
  const auto bytes = builder.finish();
  return {bytes.begin(), bytes.end()};
}

}  // namespace ringlog::test
