#include "gateway/router.h"

#include <algorithm>

namespace ami::gateway {

namespace {

bool IsParam(const std::string& segment) {
  return segment.size() >= 2 && segment.front() == '{' && segment.back() == '}';
}

}  // namespace

std::vector<std::string> SplitPath(const std::string& path) {
  std::vector<std::string> out;
  size_t start = path.empty() || path[0] != '/' ? 0 : 1;
  while (true) {
    size_t end = path.find('/', start);
    out.push_back(path.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return out;
}

void Router::Add(std::string method, std::string pattern, RouteHandler handler) {
  Route route{std::move(method), pattern, SplitPath(pattern), std::move(handler)};
  routes_.push_back(std::move(route));
}

Router::Match Router::Find(const std::string& method, const std::string& path) const {
  Match match;
  const std::vector<std::string> segments = SplitPath(path);
  // The best route per method: fewest parameters, i.e. literals win over {param}.
  const Route* best = nullptr;
  int best_params = 0;
  for (const Route& route : routes_) {
    if (route.segments.size() != segments.size()) continue;
    int params = 0;
    bool fits = true;
    for (size_t i = 0; i < segments.size() && fits; ++i) {
      if (IsParam(route.segments[i])) {
        ++params;
        fits = !segments[i].empty();
      } else {
        fits = route.segments[i] == segments[i];
      }
    }
    if (!fits) continue;
    if (route.method != method) {
      if (std::find(match.allowed.begin(), match.allowed.end(), route.method) == match.allowed.end())
        match.allowed.push_back(route.method);
      continue;
    }
    if (!best || params < best_params) best = &route, best_params = params;
  }
  if (!best) {
    match.kind = match.allowed.empty() ? Match::Kind::kNotFound : Match::Kind::kMethodNotAllowed;
    return match;
  }
  // A literal route of another method ("POST /workers/stop-all") must not make a
  // parameter route of this method ("GET /workers/{sid}") answer 405.
  match.allowed.clear();
  for (size_t i = 0; i < segments.size(); ++i) {
    if (!IsParam(best->segments[i])) continue;
    std::string value;
    if (!PercentDecode(segments[i], /*plus_is_space=*/false, &value)) {
      match.bad_escape = segments[i];
      break;
    }
    match.params[best->segments[i].substr(1, best->segments[i].size() - 2)] = std::move(value);
  }
  match.kind = Match::Kind::kFound;
  match.handler = &best->handler;
  match.pattern = &best->pattern;
  return match;
}

std::vector<RouteInfo> Router::Routes() const {
  std::vector<RouteInfo> out;
  for (const auto& route : routes_) out.push_back({route.method, route.pattern});
  return out;
}

}  // namespace ami::gateway
