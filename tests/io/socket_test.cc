#include "io/socket.h"

#include <netinet/in.h>

#include <doctest/doctest.h>

namespace ringlog {

TEST_CASE("socket: addresses parse as IPv4, bracketed IPv6 and localhost") {
  CHECK(parse_address("127.0.0.1:8123").value().to_string() == "127.0.0.1:8123");
  CHECK(parse_address("localhost:80").value().to_string() == "127.0.0.1:80");
  CHECK(parse_address(":9000").value().to_string() == "0.0.0.0:9000");
  SocketAddress v6 = parse_address("[::1]:8123").value();
  CHECK(v6.family() == AF_INET6);
  CHECK(v6.port() == 8123);
  CHECK(v6.to_string() == "[::1]:8123");
}

TEST_CASE("socket: malformed addresses are invalid arguments") {
  for (const char* bad : {"127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "1.2.3:80", "[::1:80",
                          "host.example:80", "127.0.0.1:8x"}) {
    CAPTURE(bad);
    Result<SocketAddress> parsed = parse_address(bad);
    REQUIRE_FALSE(parsed);
    CHECK(parsed.error().code() == Errc::kInvalidArgument);
  }
}

TEST_CASE("socket: a listener on port 0 gets a port that clients can connect to") {
  Result<UniqueFd> listener = listen_on(parse_address("127.0.0.1:0").value());
  REQUIRE(listener);
  SocketAddress bound = local_address(listener->get()).value();
  CHECK(bound.port() != 0);
  Result<UniqueFd> client = connect_to(bound);
  REQUIRE(client);
  CHECK(set_nodelay(client->get()));
}

TEST_CASE("socket: connecting where nobody listens is refused") {
  Result<UniqueFd> listener = listen_on(parse_address("127.0.0.1:0").value());
  SocketAddress bound = local_address(listener->get()).value();
  listener->reset();
  Result<UniqueFd> client = connect_to(bound);
  REQUIRE_FALSE(client);
  CHECK(client.error().message().find("connect 127.0.0.1:") != std::string::npos);
}

TEST_CASE("socket: an IPv6 loopback listener accepts a client") {
  Result<UniqueFd> listener = listen_on(parse_address("[::1]:0").value());
  if (!listener) {  // a host without IPv6
    MESSAGE("skipped: " << listener.error().to_string());
    return;
  }
  SocketAddress bound = local_address(listener->get()).value();
  CHECK(bound.family() == AF_INET6);
  CHECK(connect_to(bound).has_value());
}

}  // namespace ringlog
