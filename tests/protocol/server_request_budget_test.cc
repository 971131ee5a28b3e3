// The server's request budget on the line protocol: a request with a large body waits, unread,
// while the budget is spent, and is read once an earlier one gives its share back.
#include <doctest/doctest.h>

#include <chrono>
#include <functional>
#include <string>

#include "tests/protocol/server_fixture.h"
#include "tests/support/process.h"

namespace ringlog::protocol::testing {
namespace {

constexpr std::size_t kBody = 256 << 10;  // above the 64 KiB that need no budget

ServerOptions one_request_at_a_time() {
  ServerOptions o;
  o.limits.max_batch_bytes = kBody;
  o.limits.max_message_bytes = kBody;
  o.max_request_bytes = o.limits.max_line_bytes + kBody + 2;
  return o;
}

// A put of kBody bytes; `unfinished`: without the body's last byte and the "\r\n" after it.
std::string large_put(std::string_view topic, bool unfinished = false) {
  std::string request = "put " + std::string(topic) + " 0 " + std::to_string(kBody) + "\r\n";
  request.append(kBody - (unfinished ? 1 : 0), 'v');
  if (!unfinished) request += "\r\n";
  return request;
}

bool eventually(const std::function<bool()>& done) {
  return ::ringlog::testing::wait_until(std::chrono::seconds(10), done,
                                        std::chrono::milliseconds(10));
}

}  // namespace

TEST_CASE("server: a line request beyond the request budget waits unread for its turn") {
  ServerFixture fixture(one_request_at_a_time());
  RawConnection first = fixture.raw();
  RawConnection second = fixture.raw();
  REQUIRE(first.send(large_put("a", /*unfinished=*/true)));
  REQUIRE(eventually([&] { return fixture.server().stats().request_bytes > kBody; }));
  REQUIRE(second.send(large_put("b")));
  REQUIRE(eventually([&] { return fixture.server().stats().request_waits == 1; }));
  // Small requests need no budget: others are served meanwhile.
  RawConnection bystander = fixture.raw();
  REQUIRE(bystander.send("put c 0 1\r\nx\r\n"));
  CHECK(bystander.line() == "ok 0");

  SUBCASE("the first request is parsed: the second is read") {
    REQUIRE(first.send("v\r\n"));
    CHECK(first.line() == "ok 0");
  }
  SUBCASE("the first client goes away: its share goes to the second") {
    first.close();
  }
  CHECK(second.line() == "ok 0");
  CHECK(eventually([&] {
    const ServerStats s = fixture.server().stats();
    return s.request_bytes == 0 && s.request_waits == 0;
  }));
}

TEST_CASE("server: a request budget smaller than the largest request is refused") {
  ServerOptions o = one_request_at_a_time();
  o.max_request_bytes -= 1;
  ::ringlog::testing::TempDir dir;
  EngineOptions e;
  e.data_dir = dir.path() + "/data";
  auto engine = Engine::open(e);
  REQUIRE(engine.has_value());
  o.listen = "127.0.0.1:0";
  CHECK_FALSE(Server::create(**engine, o).has_value());
  CHECK((*engine)->close().has_value());
}

}  // namespace ringlog::protocol::testing
