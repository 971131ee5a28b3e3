#include "protocol/reply.h"

#include <doctest/doctest.h>

#include <limits>
#include <string>
#include <string_view>

namespace ringlog::protocol {
namespace {

std::span<const std::byte> bytes_of(std::string_view text) {
  return std::as_bytes(std::span(text.data(), text.size()));
}

TEST_CASE("reply: each encoder writes one documented line") {
  std::string out;
  SUBCASE("ok") {
    append_ok(out);
    CHECK(out == "ok\r\n");
  }
  SUBCASE("ok <offset>") {
    append_ok(out, 42);
    CHECK(out == "ok 42\r\n");
  }
  SUBCASE("ok <first> <last>") {
    append_ok(out, 10, 19);
    CHECK(out == "ok 10 19\r\n");
  }
  SUBCASE("pong") {
    append_pong(out);
    CHECK(out == "pong\r\n");
  }
  SUBCASE("version") {
    append_version(out, kProtocolVersion);
    CHECK(out == "version 0.1.0\r\n");
  }
  SUBCASE("offsets") {
    append_offsets(out, 3, std::numeric_limits<std::int64_t>::max());
    CHECK(out == "offsets 3 9223372036854775807\r\n");
  }
  SUBCASE("offset, including -1 for none") {
    append_committed(out, 7);
    append_committed(out, -1);
    CHECK(out == "offset 7\r\noffset -1\r\n");
  }
  SUBCASE("topic and partition lines") {
    append_topic(out, "orders", 4);
    append_partition(out, 2, 0, 99);
    CHECK(out == "topic orders 4\r\npartition 2 0 99\r\n");
  }
  SUBCASE("stat lines and end") {
    append_stat(out, "cmd_put", 12);
    append_stat(out, "version", "0.1.0");
    append_end(out);
    CHECK(out == "stat cmd_put 12\r\nstat version 0.1.0\r\nend\r\n");
  }
  SUBCASE("end <next_offset>") {
    append_end(out, 5);
    CHECK(out == "end 5\r\n");
  }
  SUBCASE("batches header") {
    append_batches_header(out, 4096, 17);
    CHECK(out == "batches 4096 17\r\n");
  }
}

TEST_CASE("reply: error lines carry the code and a one-line message") {
  std::string out;
  append_error(out, StatusCode::kOutOfRange, "offset 99 out of range [0, 42]");
  CHECK(out == "error 416 offset 99 out of range [0, 42]\r\n");
  out.clear();
  append_error(out, StatusCode::kInternal, "bad\r\nthing\x7f");
  CHECK(out == "error 500 bad  thing \r\n");
  out.clear();
  append_error(out, StatusCode::kDiskFull, "");
  CHECK(out == "error 507 disk full\r\n");
}

TEST_CASE("reply: msg headers show plain keys as key= and others as keyhex=") {
  std::string out;
  SUBCASE("no key") {
    append_msg_header(out, 1, 1700000000000, 5, std::nullopt);
    CHECK(out == "msg 1 1700000000000 5\r\n");
  }
  SUBCASE("plain key") {
    append_msg_header(out, 2, 3, 0, bytes_of("user42"));
    CHECK(out == "msg 2 3 0 key=user42\r\n");
  }
  SUBCASE("binary key") {
    append_msg_header(out, 2, 3, 1, bytes_of(std::string_view("a b\0", 4)));
    CHECK(out == "msg 2 3 1 keyhex=61206200\r\n");
  }
  SUBCASE("empty key") {
    append_msg_header(out, 2, 3, 1, bytes_of(""));
    CHECK(out == "msg 2 3 1 keyhex=\r\n");
  }
  SUBCASE("negative timestamp (Kafka's 'none')") {
    append_msg_header(out, 0, -1, 1, std::nullopt);
    CHECK(out == "msg 0 -1 1\r\n");
  }
}

}  // namespace
}  // namespace ringlog::protocol
