#include "gateway/gateway.h"

#include <caf/actor_system.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>

#include "gateway/access.h"
#include "gateway/admin_bridge.h"
#include "gateway/http_server.h"
#include "gateway/log_stream.h"
#include "gateway/metrics.h"
#include "gateway/rest_api.h"
#include "gateway/static_files.h"
#include "gateway/status_socket.h"
#include "gateway/webfix/webfix_api.h"
#include "runtime/config/host_port.h"

// gateway/openapi.json, embedded at build time (cmake/EmbedText.cmake).
extern const char kGatewayOpenApiJson[];

namespace ami::gateway {

namespace {

// CORS for http.cors_origins (docs/http-api.md "CORS"). Only the headers: the gateway
// answers every request the same whatever its Origin, and the browser decides.
class Cors {
 public:
  explicit Cors(std::vector<std::string> origins)
      : any_(std::find(origins.begin(), origins.end(), "*") != origins.end()), origins_(std::move(origins)) {}

  void Apply(std::string_view origin, HttpResponse& r) const {
    if (origins_.empty()) return;
    // The reply depends on Origin, so caches must key on it (not needed for "*").
    if (!any_) r.SetHeader("Vary", "Origin");
    if (!Allowed(origin)) return;
    r.SetHeader("Access-Control-Allow-Origin", any_ ? "*" : std::string(origin));
    r.SetHeader("Access-Control-Expose-Headers", "ETag, Location, WWW-Authenticate");
  }

  void Preflight(std::string_view origin, HttpResponse& r) const {
    Apply(origin, r);
    if (origins_.empty() || !Allowed(origin)) return;
    r.SetHeader("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE, OPTIONS");
    // stels-session: the WebFIX session header (docs/webfix.md).
    r.SetHeader("Access-Control-Allow-Headers", "authorization, content-type, if-match, stels-session");
    r.SetHeader("Access-Control-Max-Age", "600");
    // Chrome's Private Network Access: a public page calling a gateway on localhost/LAN.
    r.SetHeader("Access-Control-Allow-Private-Network", "true");
  }

 private:
  bool Allowed(std::string_view origin) const {
    if (origin.empty()) return false;
    return any_ || std::find(origins_.begin(), origins_.end(), origin) != origins_.end();
  }

  bool any_;
  std::vector<std::string> origins_;
};

}  // namespace

struct Gateway::Impl {
  explicit Impl(const HttpSection& config) : cors(config.cors_origins) {}

  Cors cors;
  // Who a log stream or WebSocket request is (gateway/access.h): the admin token, or a
  // WebFIX session of a wallet still in http.wallets.
  Authenticate authenticate;
  std::unique_ptr<WebFix> webfix;                 // POST envelopes outside /api/v1 (docs/webfix.md)
  std::shared_ptr<ServerCounters> counters = std::make_shared<ServerCounters>();
  std::unique_ptr<Metrics> metrics;
  std::unique_ptr<AdminBridge> bridge;
  std::unique_ptr<LogStreams> log_streams;         // GET /api/worker/logs/stream, …/logs?follow=1
  std::unique_ptr<StatusSockets> status_sockets;  // GET /ws
  Router router;
  std::unique_ptr<HttpServer> server;
  std::unique_ptr<StaticFiles> web;   // the web editor at /, for GETs no route claims
  bool stopped = false;

  void Dispatch(HttpRequest request, Respond respond);
};

void Gateway::Impl::Dispatch(HttpRequest request, Respond respond) {
  const std::string origin(request.Header("origin"));
  if (request.method == "OPTIONS") {
    HttpResponse r;
    r.status = 204;
    cors.Preflight(origin, r);
    metrics->CountRequest("preflight", request.method, r.status);
    return respond(std::move(r));
  }
  if (webfix && WebFix::IsEnvelope(request)) {
    // WebFIX posts to whatever URL its login named: no route table, one metrics label.
    return webfix->Handle(request, [this, origin, respond = std::move(respond)](HttpResponse r) {
      cors.Apply(origin, r);
      metrics->CountRequest("webfix", "POST", r.status);
      respond(std::move(r));
    });
  }
  Router::Match match = router.Find(request.method, request.path);
  const std::string route = match.kind == Router::Match::Kind::kFound ? *match.pattern : "unmatched";
  // Every reply of this request passes here: CORS headers and the request counter.
  Respond finish = [this, origin, method = request.method, route, respond = std::move(respond)](HttpResponse r) {
    cors.Apply(origin, r);
    metrics->CountRequest(route, method, r.status);
    respond(std::move(r));
  };
  switch (match.kind) {
    case Router::Match::Kind::kNotFound:
      if (web && web->Wants(request)) return finish(web->Serve(request));
      return finish(ErrorResponse(404, "not_found", "no route for " + request.method + " " + request.path));
    case Router::Match::Kind::kMethodNotAllowed: {
      std::string allow;
      for (const auto& m : match.allowed) allow += (allow.empty() ? "" : ", ") + m;
      HttpResponse r = ErrorResponse(405, "method_not_allowed", request.method + " is not allowed here; allowed: " + allow);
      r.SetHeader("Allow", allow);
      return finish(std::move(r));
    }
    case Router::Match::Kind::kFound:
      break;
  }
  if (!match.bad_escape.empty())
    return finish(ErrorResponse(400, "invalid", "path: bad percent-encoding in \"" + match.bad_escape + "\""));
  // A handler that throws is answered 500 by the server (http_server.cpp).
  (*match.handler)(request, match.params, std::move(finish));
}

Gateway::Gateway(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Gateway::~Gateway() { Stop(); }

Result<std::unique_ptr<Gateway>> Gateway::Start(const HttpSection& config, Backend backend) {
  if (!backend.system || !backend.admin) return Status::InvalidArgument("http: the gateway needs the admin service");
  auto address = ParseHostPort(config.listen, /*allow_port_zero=*/true);
  if (!address.ok()) return Status::InvalidArgument("http.listen: " + address.status().message());

  auto impl = std::make_unique<Impl>(config);
  Impl* im = impl.get();
  im->metrics = std::make_unique<Metrics>(
      MetricsSources{backend.stats, backend.run_queue, im->counters, backend.node_id, backend.version,
                     backend.kv_metrics, backend.exchange_metrics, backend.cluster_gauges});
  im->bridge = std::make_unique<AdminBridge>(*backend.system, backend.admin, backend.admin_timeout);
  im->web = std::make_unique<StaticFiles>(config.web_root.empty() ? StaticFiles::DefaultRoot() : config.web_root);

  im->webfix = std::make_unique<WebFix>(
      WebFixSettings{backend.network, backend.node_id, backend.admin_token, config.wallets,
                     backend.data_dir.empty() ? std::filesystem::path() : backend.data_dir / "http" / "sessions.json",
                     config.session_ttl, {}},
      *im->bridge);
  im->authenticate = [token = backend.admin_token, webfix = im->webfix.get()](const HttpRequest& request) {
    if (auto caller = CheckBearer(request, token)) return caller;
    return webfix->Authenticate(request);
  };
  im->log_streams = std::make_unique<LogStreams>(
      backend.logs, *im->bridge, backend.admin_token,
      [im](const HttpRequest& request) { return im->authenticate(request); },
      LogStreams::Options{backend.log_keep_alive});
  AddRestRoutes(im->router, *im->bridge, im->log_streams->RestFollowHandler());
  im->log_streams->AddRoutes(im->router);
  // Through im->authenticate at each call, so sessions added to it later in Start count.
  im->status_sockets = std::make_unique<StatusSockets>(StatusSocketOptions{
      [im](const HttpRequest& request) { return im->authenticate(request); }, backend.events, backend.stats,
      backend.node_id, backend.network, backend.version, config.sonar_interval});
  im->router.Add("GET", "/ws", [im](const HttpRequest& request, const PathParams&, Respond respond) {
    im->status_sockets->Handle(request, std::move(respond));
  });
  // The admin token traded for a session (docs/http-api.md "Sessions"): what the web
  // editor needs for /ws and log streams, where browsers cannot send Authorization.
  im->router.Add("POST", "/api/v1/session", [im, token = backend.admin_token](const HttpRequest& request,
                                                                            const PathParams&, Respond respond) {
    if (!CheckBearer(request, token)) {
      HttpResponse r = ErrorResponse(401, "unauthorized", "Authorization: Bearer <admin token> is required");
      r.SetHeader("WWW-Authenticate", "Bearer realm=\"ami\"");
      return respond(std::move(r));
    }
    int64_t expires_at = 0;
    const std::string session = im->webfix->CreateTokenSession(&expires_at);
    HttpResponse r;
    r.status = 201;
    r.SetHeader("Content-Type", "application/json");
    r.SetHeader("Cache-Control", "no-store");
    r.body = nlohmann::json{{"session", session}, {"expires_at", expires_at}}.dump();
    respond(std::move(r));
  });
  im->router.Add("GET", "/api/v1/openapi.json", [](const HttpRequest&, const PathParams&, Respond respond) {
    HttpResponse r;
    r.SetHeader("Content-Type", "application/json");
    r.body = kGatewayOpenApiJson;
    respond(std::move(r));
  });
  im->router.Add("GET", "/metrics", [im](const HttpRequest&, const PathParams&, Respond respond) {
    HttpResponse r;
    r.SetHeader("Content-Type", Metrics::kContentType);
    r.body = im->metrics->Render();
    respond(std::move(r));
  });

  ServerOptions options;
  options.host = address->host;
  options.port = address->port;
  if (config.tls) {
    options.tls_cert_file = config.tls->cert_file;
    options.tls_key_file = config.tls->key_file;
  }
  options.max_body = config.max_body;
  options.max_header = config.max_header;
  options.max_connections = config.max_connections;
  options.idle_timeout = config.idle_timeout;
  options.threads = backend.threads;
  options.counters = im->counters;
  auto server = HttpServer::Start(
      std::move(options), [im](HttpRequest request, Respond respond) { im->Dispatch(std::move(request), std::move(respond)); },
      [im](const HttpRequest* request, HttpResponse& reply) {
        std::string route = "unmatched";
        if (request && WebFix::IsEnvelope(*request)) {
          route = "webfix";
        } else if (request) {
          Router::Match match = im->router.Find(request->method, request->path);
          if (match.kind == Router::Match::Kind::kFound) route = *match.pattern;
        }
        im->cors.Apply(request ? request->Header("origin") : std::string_view(), reply);
        im->metrics->CountRequest(route, request ? request->method : "other", reply.status);
      });
  if (!server.ok()) {
    im->log_streams->Stop();
    im->status_sockets->Close();
    im->bridge->Close();
    return server.status();
  }
  im->server = std::move(*server);
  return std::unique_ptr<Gateway>(new Gateway(std::move(impl)));
}

void Gateway::Stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  // Log streams end with an event ("node stopping") while the server can still write it.
  impl_->log_streams->Stop();
  // WebSockets first, while the server can still deliver their close frames.
  impl_->status_sockets->Close();
  // Order matters: first no thread may run a connection, then the admin replies still
  // owed (each holding a connection) are dropped while the io_context still exists; the
  // server (and its io_context) goes when the Gateway does.
  impl_->server->Stop();
  impl_->bridge->Close();
}

uint16_t Gateway::port() const { return impl_->server->port(); }
bool Gateway::tls() const { return impl_->server->tls(); }
std::vector<RouteInfo> Gateway::Routes() const { return impl_->router.Routes(); }

}  // namespace ami::gateway
