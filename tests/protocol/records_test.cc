// The pure halves of get and fetch: rendering records for `get`, decoding `fetch` bytes.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include <ringlog/batch.h>

#include "protocol/client.h"
#include "protocol/reply.h"

namespace ringlog::protocol {
namespace {

std::vector<std::byte> log_of(std::int64_t base, std::initializer_list<std::string_view> values) {
  BatchBuilder builder(BatchOptions{.base_offset = base,
                                    .leader_epoch = kNoLeaderEpoch,
                                    .producer_id = kNoProducerId,
                                    .producer_epoch = kNoProducerEpoch,
                                    .base_sequence = kNoSequence,
                                    .transactional = false,
                                    .control = false});
  std::int64_t ts = 1000;
  for (std::string_view v : values)
    builder.add(std::nullopt, as_bytes(v), {}, ts++);
  const auto bytes = builder.finish();
  return {bytes.begin(), bytes.end()};
}

void append(std::vector<std::byte>& to, const std::vector<std::byte>& more) {
  to.insert(to.end(), more.begin(), more.end());
}

TEST_CASE("records: get shows records from the requested offset and says where to go on") {
  std::vector<std::byte> log = log_of(0, {"a", "bb", "ccc"});
  append(log, log_of(3, {"dddd"}));
  std::string out;
  CHECK(append_records(out, log, 1, 1 << 20) == 4);
  CHECK(out == "msg 1 1001 2\r\nbb\r\nmsg 2 1002 3\r\nccc\r\nmsg 3 1000 4\r\ndddd\r\nend 4\r\n");
}

TEST_CASE("records: get stops before max_bytes but always returns the first record") {
  const std::vector<std::byte> log = log_of(10, {"0123456789", "x"});
  std::string out;
  CHECK(append_records(out, log, 10, 3) == 11);
  CHECK(out == "msg 10 1000 10\r\n0123456789\r\nend 11\r\n");
}

TEST_CASE("records: get ignores a cut trailing batch and an empty read") {
  std::vector<std::byte> log = log_of(0, {"a"});
  const auto next = log_of(1, {"b"});
  log.insert(log.end(), next.begin(), next.begin() + 20);
  std::string out;
  CHECK(append_records(out, log, 0, 100) == 1);
  CHECK(out == "msg 0 1000 1\r\na\r\nend 1\r\n");
  out.clear();
  CHECK(append_records(out, {}, 7, 100) == 7);
  CHECK(out == "end 7\r\n");
}

TEST_CASE("records: fetch decoding splits batches, checks CRCs and skips a cut tail") {
  FetchReply reply;
  append(reply.bytes, log_of(0, {"a", "b"}));
  append(reply.bytes, log_of(2, {"c"}));
  SUBCASE("whole batches") {
    REQUIRE(decode_fetch(1, reply));
    CHECK(reply.batches.size() == 2);
    CHECK(reply.cut_tail_bytes == 0);
    CHECK(reply.next_offset == 3);
  }
  for (std::size_t cut : {1, 4, 16, 40, 61, 70}) {
    CAPTURE(cut);
    FetchReply tail = reply;
    const auto more = log_of(3, {"dddddddddddddddddddddddddddd"});
    tail.bytes.insert(tail.bytes.end(), more.begin(), more.begin() + static_cast<long>(cut));
    REQUIRE(decode_fetch(0, tail));
    CHECK(tail.batches.size() == 2);
    CHECK(tail.cut_tail_bytes == cut);
    CHECK(tail.next_offset == 3);
  }
  SUBCASE("a CRC mismatch is corruption") {
    reply.bytes.back() ^= std::byte{1};
    auto r = decode_fetch(0, reply);
    REQUIRE_FALSE(r);
    CHECK(r.error().code() == Errc::kCorruption);
  }
  SUBCASE("a cut first batch is corruption") {
    reply.bytes.resize(30);
    auto r = decode_fetch(0, reply);
    REQUIRE_FALSE(r);
    CHECK(r.error().code() == Errc::kCorruption);
  }
  SUBCASE("no bytes: nothing, and the next offset is the requested one") {
    reply.bytes.clear();
    REQUIRE(decode_fetch(5, reply));
    CHECK(reply.batches.empty());
    CHECK(reply.next_offset == 5);
  }
}

TEST_CASE("records: server_status reads the code back from a client error") {
  const Error from_server(Errc::kOutOfRange, "server: error 416 offset 9 out of range [0, 1]");
  REQUIRE(server_status(from_server));
  CHECK(*server_status(from_server) == StatusCode::kOutOfRange);
  CHECK_FALSE(server_status(Error(Errc::kClosed, "the server closed the connection")));
}

}  // namespace
}  // namespace ringlog::protocol
