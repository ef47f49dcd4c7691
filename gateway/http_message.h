// Plain request/response values between the HTTP server (http_server.h, the only file
// that knows Boost.Beast) and what answers requests (router, REST API, /metrics). Keeping
// Beast out of the handlers keeps them testable and cheap to compile, and lets a later
// transport (WebSocket frames, WebFIX envelopes) reuse the same handlers.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ami::gateway {

struct HttpRequest {
  std::string method;                 // as sent: "GET", "PATCH", …
  std::string target;                 // as sent: "/api/v1/workers?x=1"
  std::string path;                   // target without the query, not yet percent-decoded
  std::string query;                  // text after '?', not decoded
  // Header names in lower case; a name sent twice appears twice (in order).
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string peer;                   // "ip:port" of the client, for logs only

  // The first value of header `lower_name`, or "" when absent.
  std::string_view Header(std::string_view lower_name) const;
  bool HasHeader(std::string_view lower_name) const;
};

struct HttpResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;  // sent as given
  std::string body;
  // Close the connection after this reply (the server also closes when the client asked).
  bool close = false;

  void SetHeader(std::string name, std::string value);
  std::string_view Header(std::string_view name) const;  // case-insensitive; "" when absent
};

// Delivers the one reply to a request. May be called on any thread (the admin bridge
// calls it on a CAF thread); the server moves the reply onto the connection's strand.
// Must be called exactly once: a connection waits for it before reading on.
using Respond = std::function<void(HttpResponse)>;

// Percent-decoding of one path segment or query component; false on a bad escape.
// `plus_is_space` for query components (application/x-www-form-urlencoded).
bool PercentDecode(std::string_view text, bool plus_is_space, std::string* out);
// "a=1&b=x%20y" -> {a:"1", b:"x y"}; false (with *bad naming the part) on a bad escape
// or a repeated name (a repeated name is ambiguous, so it is refused rather than guessed).
bool ParseQuery(std::string_view query, std::map<std::string, std::string>* out, std::string* bad);

}  // namespace ami::gateway
