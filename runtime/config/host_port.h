// "host:port" as operators write it in the config and on the command line.
//
// The host is a DNS name, an IPv4 literal (127.0.0.1) or a bracketed IPv6 literal
// ([::1]); IP literals are checked with inet_pton, so "127.evil.example" is a name, not
// an address in 127/8, and "999.0.0.1" is an error. Use ParseHostPort wherever an
// address from the config is published, connected to or compared: the host it returns
// has no brackets (that is what CAF and getaddrinfo want), and is_loopback says whether
// only this machine can reach it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "runtime/base/status.h"

namespace ami {

struct HostPort {
  std::string host;          // without brackets: "::1", "127.0.0.1", "node-2.example.com"
  uint16_t port = 0;
  bool is_ip = false;        // an IPv4 or IPv6 literal (host is then in its canonical form)
  bool is_ipv6 = false;
  // 127.0.0.0/8, ::1, ::ffff:127.x.x.x, or the name "localhost" (any case, optional
  // trailing dot). Any other name is not loopback, whatever it resolves to today.
  bool is_loopback = false;
  // "host:port", with brackets around an IPv6 host: "[::1]:7101".
  std::string ToString() const;
};

// Parses "host:port" / "[v6]:port". The port must be 1..65535, or 0 when
// `allow_port_zero` (listen on any free port). An unbracketed IPv6 literal ("::1:7101")
// is an error: it is ambiguous. Errors are kInvalidArgument with a message that quotes
// the text: `expected host:port like 127.0.0.1:7101, got "…"` plus why, when known.
Result<HostPort> ParseHostPort(std::string_view text, bool allow_port_zero = false);

}  // namespace ami
