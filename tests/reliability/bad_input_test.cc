// Bad input over real sockets (issue 7, item 5): every case gets a clear error, the server stays
// up, other clients are unaffected and nothing acknowledged is lost.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>
#include <vector>

#include <ringlog/batch.h>

#include "tests/reliability/reliability_support.h"

namespace ringlog::reliability {
namespace {

// A server with a bystander: a Ledger of acknowledged messages and an open connection that
// must keep working whatever the attacker does.
class Attacked {
 public:
  Attacked() : ledger_(server_.address()), bystander_(server_.address()) {
    ledger_.produce(20);
    REQUIRE(bystander_.send("create t 2\r\n"));
    REQUIRE(bystander_.line() == "ok");
  }

  const std::string& address() const { return server_.address(); }
  InProcessServer& server() { return server_; }

  // The attack left everyone else alone: the server runs, the bystander's connection answers,
  // a new connection answers, the ledger is intact and can grow.
  void check_unharmed() {
    REQUIRE(server_.running());
    CHECK(bystander_.send("ping\r\n"));
    CHECK(bystander_.line() == "pong");
    CHECK(server_answers(address()));
    ledger_.produce(3);
    ledger_.check();
  }

  std::int64_t high_watermark(const std::string& topic, int partition) {
    CHECK(bystander_.send("offsets " + topic + " " + std::to_string(partition) + "\r\n"));
    const std::string reply = bystander_.line();
    const auto space = reply.rfind(' ');
    REQUIRE(reply.rfind("offsets ", 0) == 0);
    return std::stoll(reply.substr(space + 1));
  }

 private:
  InProcessServer server_;
  Ledger ledger_;
  RawConnection bystander_;
};

bool starts_with(const std::string& text, std::string_view prefix) {
  return text.rfind(prefix, 0) == 0;
}

// Sends `request` and expects `error <code> ...` with the connection still usable after it.
void expect_error_and_usable(RawConnection& conn, const std::string& request, int code) {
  CAPTURE(request);
  REQUIRE(conn.send(request));
  const std::string reply = conn.line();
  CAPTURE(reply);
  CHECK(starts_with(reply, "error " + std::to_string(code) + " "));
  CHECK(reply.size() > 10);  // a message, not just a code
  REQUIRE(conn.send("ping\r\n"));
  CHECK(conn.line() == "pong");
}

// Sends `request` and expects `error <code> ...`, then the server closing the connection.
void expect_error_and_closed(const std::string& address, const std::string& request, int code) {
  CAPTURE(request);
  RawConnection conn(address);
  REQUIRE(conn.send(request));
  const std::string reply = conn.line();
  CAPTURE(reply);
  CHECK(starts_with(reply, "error " + std::to_string(code) + " "));
  CHECK(conn.closed_by_server());
}

std::vector<std::byte> valid_batch(int records) {
  BatchBuilder builder;
  for (int i = 0; i < records; ++i)
    builder.add("k", "value-" + std::to_string(i));
  auto bytes = builder.finish();
  return {bytes.begin(), bytes.end()};
}

std::string putb_request(const std::string& topic, const std::vector<std::byte>& body) {
  std::string request = "putb " + topic + " 0 " + std::to_string(body.size()) + "\r\n";
  request.append(reinterpret_cast<const char*>(body.data()), body.size());
  return request + "\r\n";
}

void store_be32(std::vector<std::byte>& bytes, std::size_t at, std::uint32_t value) {
  for (int i = 0; i < 4; ++i)
    bytes[at + i] = static_cast<std::byte>(value >> (24 - 8 * i));
}

TEST_CASE("bad input: malformed lines and numbers get 400 and the connection keeps working") {
  Attacked a;
  RawConnection conn(a.address());
  const std::vector<std::string> requests = {
      "get t\r\n",                         // too few
      "get t 0 0 10 10 10\r\n",            // too many
      "get t zero 0\r\n",                  // non-numeric partition
      "get t 0 0x10\r\n",                  // hex offset
      "get t 0 -1\r\n",                    // negative offset
      "get t -1 0\r\n",                    // negative partition
      "get t 0 99999999999999999999\r\n",  // offset above 2^63-1
      "get t 0 9223372036854775808\r\n",   // exactly 2^63
      "get t 2147483648 0\r\n",            // partition above 2^31-1
      "get t 0 0 99999999999\r\n",         // max_bytes above 2^31-1
      "fetch t 0 0 +5\r\n",                // a sign
      "create t2 -3\r\n",                  // negative partition count
      "create t3 0\r\n",                   // zero partitions
      "commit g t 0 -5\r\n",               // negative commit offset
      "\x01\x02\x03\xff\r\n",              // binary garbage
  };
  for (const std::string& request : requests)
    expect_error_and_usable(conn, request, 400);
  a.check_unharmed();
}

TEST_CASE("bad input: unknown commands get 400 and do not disturb framing") {
  Attacked a;
  RawConnection conn(a.address());
  for (const char* request : {"frob\r\n", "PUTX t 0 1\r\n", "get-all\r\n", "stats t u v w\r\n"}) {
    expect_error_and_usable(conn, request, 400);
  }
  a.check_unharmed();
}

TEST_CASE("bad input: an unreadable body length loses framing: error, then close") {
  Attacked a;
  for (const char* request : {"put t 0 abc\r\n", "put t 0 -1\r\nx\r\n",
                              "put t 0 99999999999999999999999\r\n", "putb t 0 1e6\r\n"}) {
    expect_error_and_closed(a.address(), request, 400);
  }
  a.check_unharmed();
}

TEST_CASE("bad input: a line above the line limit gets 413 and the connection is closed") {
  Attacked a;
  expect_error_and_closed(a.address(), "get t 0 " + std::string(5000, '1') + "\r\n", 413);
  expect_error_and_closed(a.address(), std::string(100000, 'x'), 413);  // no newline at all
  a.check_unharmed();
}

TEST_CASE("bad input: a body above the size limit gets 413, is skipped and writes nothing") {
  Attacked a;
  RawConnection conn(a.address());
  const std::int64_t before = a.high_watermark("t", 0);
  SUBCASE("put above 1 MiB") {
    const std::string body((1 << 20) + 1, 'm');
    expect_error_and_usable(conn, "put t 0 " + std::to_string(body.size()) + "\r\n" + body + "\r\n",
                            413);
  }
  SUBCASE("putb above 8 MiB") {
    const std::string body((8 << 20) + 1, 'b');
    expect_error_and_usable(
        conn, "putb t 0 " + std::to_string(body.size()) + "\r\n" + body + "\r\n", 413);
  }
  CHECK(a.high_watermark("t", 0) == before);
  a.check_unharmed();
}

TEST_CASE("bad input: a body shorter than declared, then a disconnect, writes nothing") {
  Attacked a;
  const std::int64_t before = a.high_watermark("t", 0);
  for (int i = 0; i < 20; ++i) {
    RawConnection conn(a.address());
    REQUIRE(conn.send("put t 0 100\r\n" + std::string(50, 'h')));
    conn.close();
    RawConnection batch(a.address());
    const auto body = valid_batch(3);
    const std::string request = putb_request("t", body);
    REQUIRE(batch.send(request.substr(0, request.size() / 2)));
    batch.close();
  }
  CHECK(a.high_watermark("t", 0) == before);
  a.check_unharmed();
}

TEST_CASE("bad input: putb with a damaged batch gets 400 and nothing is written") {
  Attacked a;
  RawConnection conn(a.address());
  const std::int64_t before = a.high_watermark("t", 0);
  std::vector<std::byte> body = valid_batch(3);
  SUBCASE("bad CRC") {
    body[body.size() - 2] ^= std::byte{0x01};
  }
  SUBCASE("wrong magic") {
    body[kMagicAt] = std::byte{1};
  }
  SUBCASE("batchLength claims more than the body") {
    store_be32(body, kBatchLengthAt, static_cast<std::uint32_t>(body.size()));
  }
  SUBCASE("batchLength claims less than the body") {
    store_be32(body, kBatchLengthAt, static_cast<std::uint32_t>(body.size() - 12 - 5));
  }
  SUBCASE("batchLength negative") {
    store_be32(body, kBatchLengthAt, 0xffffff00u);
  }
  SUBCASE("record count lies (more)") {
    // The count is CRC-covered: recompute nothing, so this is a lie *and* a CRC failure; the
    // CRC-valid lie comes from the second subcase below.
    store_be32(body, kRecordCountAt, 4);
  }
  SUBCASE("record count lies with a valid CRC") {
    store_be32(body, kRecordCountAt, 7);
    const std::uint32_t crc = BatchView(std::span<const std::byte>(body)).compute_crc();
    store_be32(body, kCrcAt, crc);
  }
  SUBCASE("a valid batch followed by garbage") {
    body.push_back(std::byte{0x42});
  }
  SUBCASE("empty body") {
    body.clear();
  }
  expect_error_and_usable(conn, putb_request("t", body), 400);
  CHECK(a.high_watermark("t", 0) == before);
  a.check_unharmed();
}

TEST_CASE("bad input: topic names that could escape or confuse the data directory are refused") {
  Attacked a;
  RawConnection conn(a.address());
  const std::string too_long(250, 'n');
  for (const std::string& name :
       {std::string("../x"), std::string("a/b"), std::string("."), std::string(".."),
        std::string("..%2fx"), too_long, std::string("t\xc3\xb3pico"), std::string("a\\b"),
        std::string("x\x01y"), std::string("/etc")}) {
    CAPTURE(name);
    expect_error_and_usable(conn, "put " + name + " 0 1\r\nz\r\n", 400);
    expect_error_and_usable(conn, "create " + name + " 1\r\n", 400);
    expect_error_and_usable(conn, "get " + name + " 0 0\r\n", 400);
  }
  // An empty name is a missing token: the length cannot be read, so framing is lost.
  expect_error_and_closed(a.address(), "put  0 1\r\nz\r\n", 400);
  // The longest legal name works.
  REQUIRE(conn.send("put " + std::string(249, 'n') + " 0 1\r\nz\r\n"));
  CHECK(conn.line() == "ok 0");
  // Nothing was created outside the data directory, nor under a strange name inside it.
  const std::filesystem::path data = a.server().data_dir();
  CHECK_FALSE(std::filesystem::exists(data.parent_path() / "x"));
  CHECK_FALSE(std::filesystem::exists(data / "a"));
  CHECK_FALSE(std::filesystem::exists(data.parent_path().parent_path() / "x"));
  a.check_unharmed();
}

TEST_CASE("bad input: partitions out of range get 404 or 400, never a new partition") {
  Attacked a;  // topic t has partitions 0 and 1
  RawConnection conn(a.address());
  expect_error_and_usable(conn, "put t 2 1\r\nz\r\n", 404);
  expect_error_and_usable(conn, "put t 2147483647 1\r\nz\r\n", 404);
  expect_error_and_usable(conn, "get t 2 0\r\n", 404);
  expect_error_and_usable(conn, "fetch t 99 0 100\r\n", 404);
  expect_error_and_usable(conn, "offsets t 5\r\n", 404);
  expect_error_and_usable(conn, "put t 2147483648 1\r\nz\r\n", 400);
  REQUIRE(conn.send("describe t\r\n"));
  CHECK(starts_with(conn.line(), "partition 0 "));
  CHECK(starts_with(conn.line(), "partition 1 "));
  CHECK(conn.line() == "end");
  a.check_unharmed();
}

TEST_CASE("bad input: offsets out of range get 416 naming the valid range") {
  Attacked a;
  RawConnection conn(a.address());
  REQUIRE(conn.send("get ledger 0 999999\r\n"));
  const std::string reply = conn.line();
  CHECK(starts_with(reply, "error 416 "));
  CHECK(reply.find('[') != std::string::npos);
  a.check_unharmed();
}

}  // namespace
}  // namespace ringlog::reliability
