#include "runtime/config/host_port.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>

namespace ami {

namespace {

// The text quoted for a message; control characters escaped, long text cut.
std::string QuoteText(std::string_view text) {
  std::string out = "\"";
  for (size_t i = 0; i < text.size() && i < 80; ++i) {
    unsigned char c = text[i];
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  if (text.size() > 80) out += "...";
  return out + "\"";
}

bool IsNameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
}

bool IsLocalhostName(std::string_view host) {
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  if (host.size() != 9) return false;
  return std::equal(host.begin(), host.end(), "localhost",
                    [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == b; });
}

}  // namespace

std::string HostPort::ToString() const {
  return (is_ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

Result<HostPort> ParseHostPort(std::string_view text, bool allow_port_zero) {
  auto bad = [&](std::string_view why = {}) {
    std::string message = "expected host:port like 127.0.0.1:7101, got " + QuoteText(text);
    if (!why.empty()) message += ": " + std::string(why);
    return Status::InvalidArgument(message);
  };
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return bad();
  std::string_view host = text.substr(0, colon);
  std::string_view port_text = text.substr(colon + 1);
  if (port_text.empty() || port_text.size() > 5 ||
      !std::all_of(port_text.begin(), port_text.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return bad();
  const int port = std::stoi(std::string(port_text));
  if (port > 65535 || (port == 0 && !allow_port_zero)) return bad();

  HostPort out;
  out.port = static_cast<uint16_t>(port);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    const std::string literal(host.substr(1, host.size() - 2));
    in6_addr addr{};
    if (inet_pton(AF_INET6, literal.c_str(), &addr) != 1)
      return bad(QuoteText(literal) + " is not an IPv6 address");
    char canonical[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, &addr, canonical, sizeof canonical);
    out.host = canonical;
    out.is_ip = out.is_ipv6 = true;
    out.is_loopback = IN6_IS_ADDR_LOOPBACK(&addr) ||
                      (IN6_IS_ADDR_V4MAPPED(&addr) && addr.s6_addr[12] == 127);
    return out;
  }
  if (host.empty()) return bad();
  if (host.find(':') != std::string_view::npos) return bad("write an IPv6 address in brackets, like [::1]:7101");
  if (!std::all_of(host.begin(), host.end(), IsNameChar)) return bad();
  out.host = std::string(host);
  // Digits and dots only: it must be a dotted-quad IPv4 address, never a name (names
  // such as "127.1" would otherwise reach the resolver, which reads them its own way).
  if (std::all_of(host.begin(), host.end(), [](char c) { return (c >= '0' && c <= '9') || c == '.'; })) {
    in_addr addr{};
    if (inet_pton(AF_INET, out.host.c_str(), &addr) != 1)
      return bad(QuoteText(host) + " is not an IPv4 address");
    out.is_ip = true;
    out.is_loopback = (ntohl(addr.s_addr) >> 24) == 127;
    return out;
  }
  out.is_loopback = IsLocalhostName(host);
  return out;
}

}  // namespace ami
