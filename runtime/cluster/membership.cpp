#include "runtime/cluster/membership.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <set>

#include "runtime/base/digest.h"

namespace ami::cluster {

namespace {

// The numeric text of a socket address; IPv4-mapped IPv6 becomes plain IPv4.
std::string Numeric(const sockaddr* sa) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (sa->sa_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, buf, sizeof buf);
  } else if (sa->sa_family == AF_INET6) {
    const auto* a6 = &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(a6)) inet_ntop(AF_INET, &a6->s6_addr[12], buf, sizeof buf);
    else inet_ntop(AF_INET6, a6, buf, sizeof buf);
  }
  return buf;
}

bool IsV4(const std::string& numeric) { return numeric.find(':') == std::string::npos; }

std::string Join(const std::string& host, uint16_t port) {
  return (IsV4(host) ? host : "[" + host + "]") + ":" + std::to_string(port);
}

// The one numeric address that stands for `host` in the hash.
std::string Canonical(const std::string& host) {
  auto all = ResolveHost(host);
  if (all.empty()) {
    std::string lower = host;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    return lower;
  }
  std::sort(all.begin(), all.end());
  for (const auto& a : all)
    if (IsV4(a)) return a;
  return all.front();
}

bool Intersects(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  for (const auto& x : a)
    if (std::find(b.begin(), b.end(), x) != b.end()) return true;
  return false;
}

}  // namespace

bool SplitAddress(const std::string& address, std::string* host, uint16_t* port) {
  const auto colon = address.rfind(':');
  if (colon == std::string::npos || colon + 1 >= address.size()) return false;
  std::string h = address.substr(0, colon);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  else if (h.find(':') != std::string::npos) return false;  // an IPv6 literal needs brackets
  unsigned long p = 0;
  for (size_t i = colon + 1; i < address.size(); ++i) {
    if (address[i] < '0' || address[i] > '9') return false;
    p = p * 10 + static_cast<unsigned long>(address[i] - '0');
    if (p > 65535) return false;
  }
  *host = h;
  *port = static_cast<uint16_t>(p);
  return true;
}

std::vector<std::string> ResolveHost(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &res) != 0 || !res) return {};
  std::set<std::string> out;
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    std::string n = Numeric(ai->ai_addr);
    if (!n.empty()) out.insert(n);
  }
  freeaddrinfo(res);
  return {out.begin(), out.end()};
}

std::vector<std::string> LocalAddresses() {
  std::set<std::string> out{"127.0.0.1", "::1"};
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) == 0) {
    for (ifaddrs* i = list; i; i = i->ifa_next) {
      if (!i->ifa_addr) continue;
      std::string n = Numeric(i->ifa_addr);
      if (!n.empty()) out.insert(n);
    }
    freeifaddrs(list);
  }
  return {out.begin(), out.end()};
}

bool IsWildcardHost(const std::string& host) {
  return host.empty() || host == "0.0.0.0" || host == "::" || host == "*" || host == "::0" ||
         host == "0:0:0:0:0:0:0:0";
}

View MakeView(const std::string& listen, const std::vector<std::string>& peers, int64_t ttl_ms, int64_t margin_ms,
              const std::vector<std::string>& local_addresses) {
  View v;
  v.ttl_ms = ttl_ms;
  v.margin_ms = margin_ms;
  std::string listen_host;
  uint16_t listen_port = 0;
  const bool listen_ok = SplitAddress(listen, &listen_host, &listen_port);
  const bool wildcard = listen_ok && IsWildcardHost(listen_host);
  std::vector<std::string> self_addresses;
  if (listen_ok) self_addresses = wildcard ? local_addresses : ResolveHost(listen_host);
  std::set<std::string> members;
  std::string self_entry;
  for (const auto& peer : peers) {
    std::string host;
    uint16_t port = 0;
    if (!SplitAddress(peer, &host, &port)) {
      v.notes.push_back("peer " + peer + " is not host:port; kept as written");
      v.peers.push_back(peer);
      members.insert(peer);
      continue;
    }
    const auto resolved = ResolveHost(host);
    if (listen_ok && port == listen_port && Intersects(resolved, self_addresses)) {
      v.dropped.push_back(peer);
      if (self_entry.empty()) self_entry = Join(Canonical(host), port);
      continue;
    }
    if (resolved.empty()) v.notes.push_back("peer " + peer + " does not resolve (yet); it is compared as written");
    v.peers.push_back(peer);
    members.insert(Join(Canonical(host), port));
  }
  if (self_entry.empty()) {
    if (wildcard)
      v.notes.push_back("cluster.listen " + listen +
                        " is a wildcard address and cluster.peers does not name this node: list this node's "
                        "address in cluster.peers, or peers will refuse it as having a different membership");
    self_entry = listen_ok ? Join(wildcard ? listen_host : Canonical(listen_host), listen_port) : listen;
  }
  members.insert(self_entry);
  v.members.assign(members.begin(), members.end());
  std::string text = "ami-members";
  for (const auto& m : v.members) text += "|" + m;
  text += "|ttl=" + std::to_string(ttl_ms) + "|margin=" + std::to_string(margin_ms);
  v.hash = Sha256Hex(text);
  return v;
}

}  // namespace ami::cluster
