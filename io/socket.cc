#include "io/socket.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>

namespace ringlog {
namespace {

Result<std::uint16_t> parse_port(std::string_view text, std::string_view whole) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value > 65535) {
    return fail(Errc::kInvalidArgument, "bad port in address '" + std::string(whole) + "'");
  }
  return static_cast<std::uint16_t>(value);
}

Result<SocketAddress> ipv4(const std::string& host, std::uint16_t port, std::string_view whole) {
  SocketAddress out;
  auto* in = reinterpret_cast<sockaddr_in*>(&out.storage);
  in->sin_family = AF_INET;
  in->sin_port = htons(port);
  std::string numeric = host == "localhost" ? "127.0.0.1" : host.empty() ? "0.0.0.0" : host;
  if (::inet_pton(AF_INET, numeric.c_str(), &in->sin_addr) != 1) {
    return fail(Errc::kInvalidArgument, "bad IPv4 address in '" + std::string(whole) + "'");
  }
  out.length = sizeof(sockaddr_in);
  return out;
}

Result<SocketAddress> ipv6(const std::string& host, std::uint16_t port, std::string_view whole) {
  SocketAddress out;
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&out.storage);
  in6->sin6_family = AF_INET6;
  in6->sin6_port = htons(port);
  if (::inet_pton(AF_INET6, host.c_str(), &in6->sin6_addr) != 1) {
    return fail(Errc::kInvalidArgument, "bad IPv6 address in '" + std::string(whole) + "'");
  }
  out.length = sizeof(sockaddr_in6);
  return out;
}

Error errno_error(std::string_view what, const SocketAddress& address) {
  return error_from_errno(errno, std::string(what) + ' ' + address.to_string());
}

}  // namespace

std::uint16_t SocketAddress::port() const {
  if (family() == AF_INET6)
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
  return ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port);
}

std::string SocketAddress::to_string() const {
  char host[INET6_ADDRSTRLEN] = {};
  if (family() == AF_INET6) {
    ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_addr, host,
                sizeof(host));
  } else {
    ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage)->sin_addr, host,
                sizeof(host));
  }
  char out[INET6_ADDRSTRLEN + 16];
  std::snprintf(out, sizeof out, family() == AF_INET6 ? "[%s]:%u" : "%s:%u", host,
                static_cast<unsigned>(port()));
  return out;
}

Result<SocketAddress> parse_address(std::string_view text) {
  std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    return fail(Errc::kInvalidArgument, "address '" + std::string(text) + "' lacks ':PORT'");
  }
  Result<std::uint16_t> port = parse_port(text.substr(colon + 1), text);
  if (!port) return fail(port.error());
  std::string_view host = text.substr(0, colon);
  if (host.starts_with('[') && host.ends_with(']')) {
    return ipv6(std::string(host.substr(1, host.size() - 2)), *port, text);
  }
  return ipv4(std::string(host), *port, text);
}

Result<UniqueFd> listen_on(const SocketAddress& address, int backlog, bool nonblocking) {
  int type = SOCK_STREAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0);
  UniqueFd fd(::socket(address.family(), type, 0));
  if (!fd.valid()) return fail(errno_error("socket for", address));
  int one = 1;
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0) {
    return fail(errno_error("SO_REUSEADDR on", address));
  }
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address.storage), address.length) != 0) {
    return fail(errno_error("bind", address));
  }
  if (::listen(fd.get(), backlog) != 0) return fail(errno_error("listen", address));
  return fd;
}

Result<UniqueFd> connect_to(const SocketAddress& address) {
  UniqueFd fd(::socket(address.family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return fail(errno_error("socket for", address));
  int r = 0;
  do {
    r = ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address.storage), address.length);
  } while (r != 0 && errno == EINTR);
  if (r != 0) return fail(errno_error("connect", address));
  return fd;
}

Result<SocketAddress> local_address(int fd) {
  SocketAddress out;
  out.length = sizeof(out.storage);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&out.storage), &out.length) != 0) {
    return fail(error_from_errno(errno, "getsockname fd " + std::to_string(fd)));
  }
  return out;
}

Status set_nodelay(int fd, bool on) {
  int value = on ? 1 : 0;
  if (::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &value, sizeof(value)) != 0) {
    return fail(error_from_errno(errno, "TCP_NODELAY on fd " + std::to_string(fd)));
  }
  return {};
}

}  // namespace ringlog
