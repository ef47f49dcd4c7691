// The `http:` section: the node's HTTP gateway (REST API, /metrics, and later WebFIX, log
// streams and WebSocket). See docs/configuration.md ("http") and docs/http-api.md.
//
// Rules enforced here, in the style of the other sections (problems are
// "file:line:col: http.<key>: message", all reported at once):
//   - `listen` is host:port (port 0 = any free port, for tests); a non-loopback address
//     requires `http.tls`, because without it bearer tokens and session ids would cross
//     the network in clear text. The top-level `tls:` block does not count: it secures
//     CAF remoting with client certificates, which browsers do not present.
//   - `http.tls` files must be readable now, so a typo stops the node before it starts.
//   - `cors_origins` entries are "*" or an origin "scheme://host[:port]" (no path), as
//     browsers send them in the Origin header.
//   - wallet addresses are base58 text; a wallet is listed once (developer or viewer).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace ami {

struct HttpTlsSection {
  std::filesystem::path cert_file;        // PEM certificate chain presented to clients
  std::filesystem::path key_file;         // its private key
};

// STELS wallet login (next slice): who may do what. Kept as written; checked for shape only.
struct HttpWallets {
  std::vector<std::string> developers;    // may create/edit/start/stop workers
  std::vector<std::string> viewers;       // may read
};

struct HttpSection {
  std::string listen;                     // "host:port" as written (port 0 = any free port)
  std::optional<HttpTlsSection> tls;
  std::vector<std::string> cors_origins;  // "*" or exact origins; empty = no CORS headers
  std::chrono::milliseconds session_ttl{std::chrono::hours(12)};   // `sessions: {ttl}`
  HttpWallets wallets;
  // Limits (docs/http-api.md "Limits"): past them a request gets 413 / 431, a connection
  // beyond max_connections is closed at once, and a connection that sends nothing (or
  // only part of a request) for idle_timeout is closed.
  uint64_t max_body = 1ull << 20;
  uint64_t max_header = 16ull << 10;
  int max_connections = 1024;
  std::chrono::milliseconds idle_timeout{30000};
  // The WebSocket's "sonar" heartbeat period (docs/webfix.md "WebSocket"); sessions of
  // open sockets are checked again at the same pace.
  std::chrono::milliseconds sonar_interval{10000};
  // Where the web editor's built files are (docs/editor.md); empty = the build tree's
  // web/dist (gateway/static_files.h, AMI_WEB_ROOT). Relative to the config file.
  std::filesystem::path web_root;
  // The network a WebFIX login must name (docs/webfix.md "Setup"); "" = the node's own:
  // the cluster's name, or "local". The STELS frontend offers "localnet" and "testnet".
  std::string network;
};

namespace config_internal {
class Context;
class ValueReader;
}  // namespace config_internal

// Reads the `http:` value (absent → nullopt, nothing reported). Relative file paths
// resolve against `base_dir`. Problems go to `ctx`; the returned section is then partial
// and must not be used (the loader refuses the whole file).
std::optional<HttpSection> ReadHttpSection(config_internal::Context& ctx, const config_internal::ValueReader& value,
                                           const std::filesystem::path& base_dir);

}  // namespace ami
