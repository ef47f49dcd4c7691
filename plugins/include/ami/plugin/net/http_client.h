// HTTP client for REST connectors, on libcurl. Part of the connector SDK (net/): plugins
// link the support library `ami_connector_sdk` (plugins/sdk/); nothing here crosses the
// plugin ABI.
//
// Contract:
//   - Thread-safe: any number of threads may call Perform() at once. Connections are
//     kept alive and reused between calls (a pool of curl easy handles, one shared
//     connection/DNS/TLS-session cache), so a connector shared by 50 workers opens a
//     handful of connections, not one per call.
//   - Never throws and never blocks past `timeout`, connecting included (a new
//     connection must also open within connect_timeout). A transport failure is a
//     response with error_class set:
//       RequestTimeout        the whole request did not finish within its timeout — the
//                             request MAY have reached the exchange (ambiguous);
//       NetworkError          connection reset / closed mid-reply / TLS failure after
//                             sending — may have reached it (ambiguous);
//       ExchangeNotAvailable  could not connect or resolve: it did NOT reach it.
//     `sent` says whether any byte of the request may have left (false only when the
//     connection never opened), which is what the ambiguous-timeout rule needs.
//     (A URL curl cannot use fails with BadRequest, sent=false: the connector's mistake.)
//   - TLS certificates are verified by default (system CA store); `verify_tls: false`
//     exists for loopback tests only. Proxies: `proxy` (curl syntax), else the usual
//     environment variables (https_proxy, no_proxy), as curl does.
//   - Bodies larger than `max_response_bytes` fail with BadResponse (sent=true).
//   - Only the caller's headers are added (curl's own User-Agent/Accept/Accept-Encoding
//     aside): no Content-Type and no "Expect: 100-continue". HTTP/1.1 only.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ami::plugin::net {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method = "GET";              // GET, POST, PUT, DELETE
  std::string url;                         // absolute: scheme://host[:port]/path?query
  HeaderList headers;                      // sent in this order
  std::string body;                        // sent as is (no Content-Type added)
  std::chrono::milliseconds timeout{10000};
};

struct HttpResponse {
  int status = 0;                          // 0 when the transport failed
  HeaderList headers;                      // names as received
  std::string body;
  std::string error_class;                 // "" on a transport success (any status)
  std::string error;                       // what failed, with the URL's host and path
  bool sent = false;                       // the request may have reached the server
  std::chrono::microseconds elapsed{0};

  bool ok() const { return error_class.empty(); }
  // The first header named `name` (ASCII case-insensitive), "" when absent.
  std::string Header(std::string_view name) const;
};

struct HttpClientOptions {
  std::string user_agent = "ami-connector/1";
  std::string proxy;                       // "" = curl's defaults (environment)
  bool verify_tls = true;
  std::string ca_file;                     // "" = the system store
  std::chrono::milliseconds connect_timeout{5000};
  std::size_t max_response_bytes = 32u << 20;
  int max_idle_handles = 16;               // easy handles kept for reuse
  // Idle connections kept open for reuse (curl's CURLOPT_MAXCONNECTS, whose default of 5
  // would close and reopen connections as soon as more than 5 requests run at once).
  int max_connections = 64;
};

class HttpClient {
 public:
  explicit HttpClient(HttpClientOptions options = {});
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  HttpResponse Perform(const HttpRequest& request);

  // Connections opened so far (for tests and benchmarks: reuse keeps this small).
  std::uint64_t connections_opened() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ami::plugin::net
