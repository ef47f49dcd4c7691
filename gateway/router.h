// Route table of the gateway: "METHOD /path/{param}/…" templates → handlers.
//
// The template string is also the `route` label of ami_http_requests_total, so metrics
// never carry raw paths (a sid in a path would make a time series per worker and per
// typo). Matching is per path segment; a literal segment wins over a {param} at the same
// place ("/workers/stop-all" before "/workers/{sid}"). Parameters are percent-decoded.
// Unknown paths → 404, a known path with another method → 405 with an Allow header.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "gateway/http_message.h"

namespace ami::gateway {

using PathParams = std::map<std::string, std::string>;
using RouteHandler = std::function<void(const HttpRequest&, const PathParams&, Respond)>;

struct RouteInfo {
  std::string method;
  std::string pattern;   // "/api/v1/workers/{sid}"
};

class Router {
 public:
  void Add(std::string method, std::string pattern, RouteHandler handler);

  struct Match {
    enum class Kind { kFound, kNotFound, kMethodNotAllowed } kind = Kind::kNotFound;
    const RouteHandler* handler = nullptr;
    const std::string* pattern = nullptr;   // for kFound: the route label
    PathParams params;
    std::vector<std::string> allowed;       // for kMethodNotAllowed: methods of that path
    std::string bad_escape;                 // a segment that is not valid percent-encoding
  };
  // `path` is the raw request path (no query).
  Match Find(const std::string& method, const std::string& path) const;

  // Every route, in the order added (the OpenAPI test compares this with the document).
  std::vector<RouteInfo> Routes() const;

 private:
  struct Route {
    std::string method;
    std::string pattern;
    std::vector<std::string> segments;   // "{sid}" for parameters
    RouteHandler handler;
  };
  std::vector<Route> routes_;
};

// Splits "/a/b/c" into {"a","b","c"} (empty segments are kept: "/a//b" has three).
std::vector<std::string> SplitPath(const std::string& path);

}  // namespace ami::gateway
