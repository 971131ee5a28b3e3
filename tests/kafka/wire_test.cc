// Kafka primitive types, framing and headers.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <memory>

#include "kafka_test_support.h"
#include "protocol/kafka/api.h"
#include "protocol/kafka/frame.h"
#include "protocol/kafka/wire.h"

namespace ringlog::kafka {
namespace {

using test::bytes_of;
using test::hex;
using test::text_bytes;

TEST_CASE("kafka wire: integers are big-endian and round-trip") {
  Writer w;
  w.i8(-2);
  w.i16(0x0102);
  w.i32(-1);
  w.i64(0x0102030405060708);
  w.boolean(true);
  const Bytes b = std::move(w).take().bytes;
  CHECK(hex(b) ==
        "fe"
        "0102"
        "ffffffff"
        "0102030405060708"
        "01");
  Reader r(b);
  CHECK(r.i8() == -2);
  CHECK(r.i16() == 0x0102);
  CHECK(r.i32() == -1);
  CHECK(r.i64() == 0x0102030405060708);
  CHECK(r.boolean());
  CHECK(r.ok());
  CHECK(r.remaining() == 0);
}

TEST_CASE("kafka wire: a read past the end fails for good and returns zeros") {
  const Bytes b = bytes_of({0, 1, 2});
  Reader r(b);
  CHECK(r.i16() == 1);
  CHECK(r.i16() == 0);
  CHECK_FALSE(r.ok());
  CHECK(r.i8() == 0);  // even though one byte is left
  CHECK(r.remaining() == 0);
  CHECK(r.rest().empty());
}

TEST_CASE("kafka wire: strings and bytes, nullable with -1") {
  Writer w;
  w.string("ab");
  w.nullable_string(std::nullopt);
  w.nullable_bytes(text_bytes("xyz"));
  w.nullable_bytes(std::nullopt);
  const Bytes b = std::move(w).take().bytes;
  CHECK(hex(b) ==
        "00026162"
        "ffff"
        "0000000378797a"
        "ffffffff");
  Reader r(b);
  CHECK(r.string() == "ab");
  CHECK_FALSE(r.nullable_string().has_value());
  CHECK(r.nullable_bytes() == text_bytes("xyz"));
  CHECK_FALSE(r.nullable_bytes().has_value());
  CHECK(r.ok());
}

TEST_CASE("kafka wire: a null where a non-nullable string is expected is malformed") {
  const Bytes b = bytes_of({0xff, 0xff});
  Reader r(b);
  (void)r.string();
  CHECK_FALSE(r.ok());
}

TEST_CASE("kafka wire: unsigned varints and compact types") {
  for (std::uint32_t v : {0u, 1u, 127u, 128u, 300u, 16384u, 0xFFFFFFFFu}) {
    CAPTURE(v);
    Writer w;
    w.uvarint(v);
    const Bytes b = std::move(w).take().bytes;
    Reader r(b);
    CHECK(r.uvarint() == v);
    CHECK(r.ok());
    CHECK(r.remaining() == 0);
  }
  Writer w;
  w.uvarint(300);
  CHECK(hex(std::move(w).take().bytes) == "ac02");

  Writer c;
  c.compact_string("hi");
  c.compact_nullable_string(std::nullopt);
  c.compact_array_count(1);
  c.i8(9);
  c.empty_tagged_fields();
  const Bytes b = std::move(c).take().bytes;
  CHECK(hex(b) ==
        "036869"
        "00"
        "02"
        "09"
        "00");
  Reader r(b);
  CHECK(r.compact_string() == "hi");
  CHECK_FALSE(r.compact_nullable_string().has_value());
  CHECK(r.compact_array_count() == 1);
  CHECK(r.i8() == 9);
  r.skip_tagged_fields();
  CHECK(r.ok());
}

TEST_CASE("kafka wire: tagged fields are skipped by their sizes, truncated ones fail") {
  const Bytes ok = bytes_of({2, 0, 1, 0xAA, 7, 3, 1, 2, 3, 0x55});
  Reader r(ok);
  r.skip_tagged_fields();
  CHECK(r.ok());
  CHECK(r.i8() == 0x55);
  const Bytes cut = bytes_of({1, 0, 5, 1, 2});
  Reader t(cut);
  t.skip_tagged_fields();
  CHECK_FALSE(t.ok());
}

TEST_CASE("kafka wire: array counts beyond the bytes left are refused") {
  const Bytes b = bytes_of({0, 0, 0, 5, 1, 2});
  Reader r(b);
  CHECK(r.array_count() == 0);
  CHECK_FALSE(r.ok());
  const Bytes null_array = bytes_of({0xff, 0xff, 0xff, 0xff});
  Reader n(null_array);
  CHECK(n.array_count() == -1);
  CHECK(n.ok());
  const Bytes negative = bytes_of({0xff, 0xff, 0xff, 0xfe});
  Reader m(negative);
  (void)m.array_count();
  CHECK_FALSE(m.ok());
}

TEST_CASE("kafka frames: the splitter cuts frames fed byte by byte") {
  const Bytes stream = bytes_of({0, 0, 0, 2, 'a', 'b', 0, 0, 0, 0, 0, 0, 0, 1, 'c'});
  FrameSplitter splitter(16);
  std::vector<std::string> frames;
  for (std::byte b : stream) {
    splitter.feed(std::span<const std::byte>(&b, 1));
    for (auto n = splitter.next(); n.status == FrameSplitter::Status::kFrame; n = splitter.next()) {
      frames.emplace_back(reinterpret_cast<const char*>(n.frame.data()), n.frame.size());
    }
  }
  CHECK(frames == std::vector<std::string>{"ab", "", "c"});
  CHECK(splitter.buffered_bytes() == 0);
}

TEST_CASE("kafka frames: peek shows the next frame without consuming it") {
  const auto as_text = [](std::span<const std::byte> b) {
    return std::string(reinterpret_cast<const char*>(b.data()), b.size());
  };
  FrameSplitter splitter(16);
  splitter.feed(bytes_of({0, 0, 0, 2, 'a'}));
  CHECK(splitter.peek().status == FrameSplitter::Status::kNeedMore);
  splitter.feed(bytes_of({'b', 0, 0, 0, 1, 'c'}));
  for (int i = 0; i < 2; ++i) {
    const auto peeked = splitter.peek();
    REQUIRE(peeked.status == FrameSplitter::Status::kFrame);
    CHECK(as_text(peeked.frame) == "ab");
  }
  CHECK(as_text(splitter.next().frame) == "ab");
  CHECK(as_text(splitter.peek().frame) == "c");
  CHECK(as_text(splitter.next().frame) == "c");
  CHECK(splitter.peek().status == FrameSplitter::Status::kNeedMore);
  splitter.feed(bytes_of({0, 0, 0, 17}));
  CHECK(splitter.peek().status == FrameSplitter::Status::kBadSize);
  CHECK(splitter.next().status == FrameSplitter::Status::kBadSize);
}

TEST_CASE("kafka frames: a large frame is received in place into a buffer of its size") {
  constexpr std::size_t kChunk = 64 << 10;
  constexpr std::size_t kBody = 3 << 20;  // above the receive chunk and kKeepCapacityBytes
  FrameSplitter splitter(kBody);
  splitter.feed(bytes_of({0x00, 0x30, 0x00, 0x00, 'x'}));  // 3 MiB declared, 1 byte of it
  CHECK(splitter.incomplete_frame_bytes() == 4 + kBody);
  std::span<std::byte> space = splitter.prepare(kChunk);
  CHECK(space.size() == kBody - 1);  // exactly the rest of the frame, never beyond it
  CHECK(splitter.capacity_bytes() == 4 + kBody);
  std::fill(space.begin(), space.end(), std::byte{'y'});
  splitter.commit(space.size());
  CHECK(splitter.incomplete_frame_bytes() == 0);
  const FrameSplitter::Next next = splitter.next();
  REQUIRE(next.status == FrameSplitter::Status::kFrame);
  CHECK(next.frame.size() == kBody);
  CHECK(next.frame.front() == std::byte{'x'});
  CHECK(next.frame.back() == std::byte{'y'});
  splitter.trim();  // answered: the large buffer goes
  CHECK(splitter.capacity_bytes() == 0);
  CHECK(splitter.prepare(kChunk).size() >= kChunk);
  CHECK(splitter.capacity_bytes() < FrameSplitter::kKeepCapacityBytes);
}

TEST_CASE("kafka frames: a size above the maximum or negative loses framing for good") {
  SUBCASE("too large") {
    FrameSplitter splitter(16);
    splitter.feed(bytes_of({0, 0, 0, 17}));
    CHECK(splitter.next().status == FrameSplitter::Status::kBadSize);
    splitter.feed(bytes_of({0, 0, 0, 0}));
    CHECK(splitter.next().status == FrameSplitter::Status::kBadSize);
  }
  SUBCASE("negative") {
    FrameSplitter splitter(16);
    splitter.feed(bytes_of({0xff, 0xff, 0xff, 0xff}));
    CHECK(splitter.next().status == FrameSplitter::Status::kBadSize);
  }
  SUBCASE("at the maximum is fine") {
    FrameSplitter splitter(2);
    splitter.feed(bytes_of({0, 0, 0, 2, 1}));
    CHECK(splitter.next().status == FrameSplitter::Status::kNeedMore);
    splitter.feed(bytes_of({2}));
    CHECK(splitter.next().status == FrameSplitter::Status::kFrame);
  }
}

TEST_CASE("kafka frames: request header v1 and v2 (client_id keeps its i16 length)") {
  SUBCASE("v1: Metadata v4") {
    const Bytes frame = bytes_of({0, 3, 0, 4, 0, 0, 0, 9, 0, 2, 'k', 'c', 0xAB});
    auto parsed = parse_request_header(frame);
    REQUIRE(parsed);
    CHECK(parsed->header == RequestHeader{3, 4, 9, "kc"});
    CHECK(hex(parsed->body) == "ab");
  }
  SUBCASE("v2: ApiVersions v3 with a tag buffer") {
    const Bytes frame = bytes_of({0, 18, 0, 3, 0, 0, 0, 1, 0xff, 0xff, 1, 0, 1, 0x99, 0xAB});
    auto parsed = parse_request_header(frame);
    REQUIRE(parsed);
    CHECK(parsed->header == RequestHeader{18, 3, 1, std::nullopt});
    CHECK(hex(parsed->body) == "ab");
  }
  SUBCASE("truncated") {
    const Bytes frame = bytes_of({0, 3, 0, 4, 0, 0, 0, 9, 0, 5, 'k'});
    CHECK_FALSE(parse_request_header(frame).has_value());
  }
  SUBCASE("encode_request_frame round-trips") {
    RequestHeader h{18, 3, 77, "ringlog"};
    const Bytes frame = encode_request_frame(h, bytes_of({1, 2}));
    FrameSplitter splitter;
    splitter.feed(frame);
    auto next = splitter.next();
    REQUIRE(next.status == FrameSplitter::Status::kFrame);
    auto parsed = parse_request_header(next.frame);
    REQUIRE(parsed);
    CHECK(parsed->header == h);
    CHECK(hex(parsed->body) == "0102");
  }
}

TEST_CASE("kafka frames: response header v1 only for flexible versions, never ApiVersions") {
  CHECK_FALSE(response_header_is_flexible(18, 3));
  CHECK_FALSE(response_header_is_flexible(3, 4));
  CHECK(response_header_is_flexible(3, 9));
  CHECK(response_header_is_flexible(22, 2));
  Writer w = begin_response(5, true);
  w.i16(0);
  CHECK(hex(finish_response(std::move(w)).bytes) ==
        "00000007"
        "00000005"
        "00"
        "0000");
}

TEST_CASE("kafka frames: a spliced file range counts in the size and lands in place") {
  char path[] = "/tmp/ringlog-kafka-wire-XXXXXX";
  const int fd = ::mkstemp(path);
  REQUIRE(fd >= 0);
  ::unlink(path);
  const std::string content = "0123456789";
  REQUIRE(::write(fd, content.data(), content.size()) == 10);

  Writer w = begin_response(1, false);
  w.i32(4);
  w.splice(FileSlice{nullptr, fd, 3, 4});
  w.i16(0x4142);
  OutFrame frame = finish_response(std::move(w));
  CHECK(frame.total_bytes() == 4 + 4 + 4 + 4 + 2);
  REQUIRE(frame.splices.size() == 1);
  CHECK(frame.splices[0].at == 12);
  auto whole = frame.materialize();
  REQUIRE(whole);
  CHECK(hex(*whole) ==
        "0000000e"
        "00000001"
        "00000004"
        "33343536"
        "4142");
  ::close(fd);
}

TEST_CASE("kafka api: advertised ranges keep librdkafka 2.0.2's feature probes inside") {
  CHECK(is_supported(0, 3));         // Produce v3: MsgVer2
  CHECK(is_supported(0, 7));         // Produce v7: zstd
  CHECK(is_supported(0, 0));         // Produce v0: gzip, snappy and lz4 compression (librdkafka)
  CHECK(is_supported(1, 4));         // Fetch v4: MsgVer2
  CHECK(is_supported(1, 11));        // Fetch v11
  CHECK(is_supported(10, 0));        // FindCoordinator v0: BrokerGroupCoordinator, LZ4
  CHECK(is_supported(22, 0));        // InitProducerId v0: IdempotentProducer
  CHECK_FALSE(is_supported(9, 6));   // OffsetFetch stays below flexible versions
  CHECK_FALSE(is_supported(22, 2));  // InitProducerId too
  CHECK_FALSE(is_supported(19, 0));  // CreateTopics is not served
  for (const ApiRange& api : supported_apis()) {
    CAPTURE(api.name);
    if (api.key != ApiKey::kApiVersions) CHECK(api.max_version < api.first_flexible);
  }
}

}  // namespace
}  // namespace ringlog::kafka
