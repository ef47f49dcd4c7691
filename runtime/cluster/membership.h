// The configured membership as every node must see it (docs/cluster.md, "Membership").
//
// Members are addresses ("host:port", "[v6]:port"). A node recognises its own address
// however it is written: a peer entry is this node when its port is the listen port and
// its host resolves to an address of the listen host — or, for a wildcard listen host
// (0.0.0.0, ::), to an address of a local interface or loopback.
//
// The view hash lets two nodes check they agree before they talk: SHA-256 over the
// sorted canonical member addresses (each host resolved to its numeric address, IPv4
// preferred, the smallest when there are several), the lease TTL and the margin. This
// node's own entry is its listen address, or, when that is a wildcard, the peer entry
// that resolved to this node (so a node listening on 0.0.0.0 must list itself in
// `peers` to agree with nodes that name it by address — MakeView says so in a note).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ami::cluster {

// "host:port" or "[v6]:port" → host (without brackets) and port; false when malformed.
bool SplitAddress(const std::string& address, std::string* host, uint16_t* port);

// Numeric forms of the addresses `host` resolves to (getaddrinfo), IPv4-mapped IPv6
// folded to IPv4; empty when it does not resolve. A numeric host resolves to itself.
std::vector<std::string> ResolveHost(const std::string& host);

// Addresses of this machine's interfaces (getifaddrs), loopback included.
std::vector<std::string> LocalAddresses();

bool IsWildcardHost(const std::string& host);

struct View {
  std::vector<std::string> peers;     // configured peers minus this node's own entries
  std::vector<std::string> dropped;   // peer entries recognised as this node
  std::vector<std::string> members;   // canonical addresses, sorted, this node included
  std::string hash;                   // hex
  int64_t ttl_ms = 0, margin_ms = 0;
  std::vector<std::string> notes;     // things worth a log line at start
};

// `local_addresses` is LocalAddresses() (a parameter so tests can pass their own).
View MakeView(const std::string& listen, const std::vector<std::string>& peers, int64_t ttl_ms, int64_t margin_ms,
              const std::vector<std::string>& local_addresses);

}  // namespace ami::cluster
