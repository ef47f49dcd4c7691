// The gateway's HTTP side against a scripted admin service (a CAF actor answering
// (admin_atom, token, request) like the real one): how each route becomes an admin
// request, the status mapping, CORS, the limits and TLS. The real admin service behind
// it is exercised in gateway_node_test.cpp.
#include <catch2/catch.hpp>

#include <caf/all.hpp>

#include <nlohmann/json.hpp>
#include <mutex>
#include <regex>
#include <set>
#include <sstream>

#include "actors/messages.h"
#include "gateway/gateway.h"
#include "tests/gateway/http_client.h"
#include "tests/support/test_support.h"
#include "transport/credentials.h"

using namespace ami;
using ami::test::Eventually;
using ami::test::Fetch;
using ami::test::HttpConnection;
using ami::test::Must;
using ami::test::TempDir;
using json = nlohmann::json;

namespace {

const std::string kToken = "gateway-test-token-123";
const test::Headers kAuth = {{"Authorization", "Bearer " + kToken}};

// What the scripted admin service saw and how it answers.
struct FakeAdmin {
  std::mutex mu;
  std::vector<json> requests;          // guarded by mu
  std::vector<std::string> tokens;     // guarded by mu
  std::function<json(const json&)> answer = [](const json& request) {
    if (std::string(request["op"]).rfind("workers.", 0) == 0)
      return json{{"ok", true},
                  {"result", {{"sid", "3f2b8c1e-6a51-4d0b-9c1a-2b7e5d4f0a11"}, {"versionstamp", "00000000000000070000"}}}};
    return json{{"ok", true}, {"result", json::object()}};
  };
  bool silent = false;                 // never answer (the bridge's deadline must)

  size_t count() {
    std::lock_guard<std::mutex> lock(mu);
    return requests.size();
  }
  json last() {
    std::lock_guard<std::mutex> lock(mu);
    return requests.empty() ? json() : requests.back();
  }
};

struct FakeState {
  std::vector<caf::response_promise> held;  // the silent admin's unanswered requests
};

caf::behavior FakeAdminActor(caf::stateful_actor<FakeState>* self, std::shared_ptr<FakeAdmin> fake) {
  return {[=](admin_atom, const std::string& token, const std::string& text) -> caf::result<std::string> {
    json request = json::parse(text);
    {
      std::lock_guard<std::mutex> lock(fake->mu);
      fake->requests.push_back(request);
      fake->tokens.push_back(token);
    }
    if (fake->silent) {
      self->state.held.push_back(self->make_response_promise());
      return caf::delegated<std::string>();
    }
    return fake->answer(request).dump();
  }};
}

HttpSection Section() {
  HttpSection s;
  s.listen = "127.0.0.1:0";
  return s;
}

// An actor system with the scripted admin service and a gateway in front of it.
struct Rig {
  explicit Rig(HttpSection section = Section(), std::chrono::milliseconds admin_timeout = std::chrono::seconds(20)) {
    cfg.add_message_types<caf::id_block::ami>();
    cfg.set("logger.verbosity", caf::atom("quiet"));
    system = std::make_unique<caf::actor_system>(cfg);
    admin = system->spawn(FakeAdminActor, fake);
    gateway::Backend backend;
    backend.system = system.get();
    backend.admin = admin;
    backend.node_id = "s-0001";
    backend.version = "test";
    backend.admin_timeout = admin_timeout;
    auto started = gateway::Gateway::Start(section, backend);
    INFO(started.status().message());
    REQUIRE(started.ok());
    gw = std::move(*started);
  }
  ~Rig() {
    gw->Stop();
    gw.reset();
    caf::anon_send_exit(admin, caf::exit_reason::user_shutdown);
  }
  uint16_t port() const { return gw->port(); }

  std::shared_ptr<FakeAdmin> fake = std::make_shared<FakeAdmin>();
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> system;
  caf::actor admin;
  std::unique_ptr<gateway::Gateway> gw;
};

json Body(const test::HttpReply& reply) {
  INFO(reply.body);
  json body = json::parse(reply.body, nullptr, false);
  REQUIRE(!body.is_discarded());
  return body;
}

test::Headers With(test::Headers headers, const test::Headers& more) {
  headers.insert(headers.end(), more.begin(), more.end());
  return headers;
}

}  // namespace

TEST_CASE("gateway: each REST route becomes one admin request, from path, query, body and If-Match", "[gateway]") {
  Rig rig;
  const std::string sid = "3f2b8c1e-6a51-4d0b-9c1a-2b7e5d4f0a11";

  auto patched = Must(Fetch(rig.port(), "PATCH", "/api/v1/workers/" + sid,
                            With(kAuth, {{"If-Match", "\"00000000000000050000\""}, {"Content-Type", "application/json"}}),
                            R"({"note":"renamed"})"));
  CHECK(patched.status == 200);
  CHECK(patched.Header("ETag") == "\"00000000000000070000\"");
  CHECK(patched.Header("Content-Type") == "application/json");
  CHECK(rig.fake->last() == json{{"op", "workers.update"},
                                 {"args", {{"sid", sid}, {"changes", {{"note", "renamed"}}}, {"versionstamp", "00000000000000050000"}}}});
  {
    std::lock_guard<std::mutex> lock(rig.fake->mu);
    CHECK(rig.fake->tokens.back() == kToken);  // passed through unchanged
  }

  auto created = Must(Fetch(rig.port(), "POST", "/api/v1/workers", kAuth, R"({"mode":"single"})"));
  CHECK(created.status == 201);
  CHECK(created.Header("Location") == "/api/v1/workers/" + sid);
  CHECK(created.Header("ETag") == "\"00000000000000070000\"");
  CHECK(rig.fake->last() == json{{"op", "workers.create"}, {"args", {{"mode", "single"}}}});

  // Without a body: the admin defaults.
  CHECK(Must(Fetch(rig.port(), "POST", "/api/v1/workers", kAuth)).status == 201);
  CHECK(rig.fake->last() == json{{"op", "workers.create"}, {"args", json::object()}});

  struct Case {
    std::string method, target, body;
    json expected;
  };
  const std::vector<Case> cases = {
      {"GET", "/api/v1/workers", "", {{"op", "workers.list"}, {"args", json::object()}}},
      {"GET", "/api/v1/workers/" + sid, "", {{"op", "workers.get"}, {"args", {{"sid", sid}}}}},
      {"DELETE", "/api/v1/workers/" + sid, "", {{"op", "workers.delete"}, {"args", {{"sid", sid}}}}},
      {"POST", "/api/v1/workers/" + sid + "/start", "", {{"op", "workers.start"}, {"args", {{"sid", sid}}}}},
      {"POST", "/api/v1/workers/" + sid + "/stop", "{}", {{"op", "workers.stop"}, {"args", {{"sid", sid}}}}},
      {"POST", "/api/v1/workers/stop-all", "", {{"op", "workers.stopAll"}, {"args", json::object()}}},
      {"GET", "/api/v1/workers/" + sid + "/leader", "", {{"op", "leader.info"}, {"args", {{"sid", sid}}}}},
      {"GET", "/api/v1/workers/" + sid + "/stats?cluster=true", "",
       {{"op", "stats"}, {"args", {{"sid", sid}, {"cluster", true}}}}},
      {"GET", "/api/v1/workers/" + sid + "/logs?lines=5&cursor=c%2B1", "",
       {{"op", "logs.tail"}, {"args", {{"sid", sid}, {"lines", 5}, {"cursor", "c+1"}}}}},
      {"GET", "/api/v1/templates", "", {{"op", "templates.list"}, {"args", json::object()}}},
      {"GET", "/api/v1/templates/health%2Dcheck", "", {{"op", "templates.get"}, {"args", {{"id", "health-check"}}}}},
      {"POST", "/api/v1/templates/health-check/workers", R"({"active":true})",
       {{"op", "templates.create"}, {"args", {{"template", "health-check"}, {"overrides", {{"active", true}}}}}}},
      {"GET", "/api/v1/stats", "", {{"op", "stats"}, {"args", json::object()}}},
      {"GET", "/api/v1/stats?cluster=0", "", {{"op", "stats"}, {"args", {{"cluster", false}}}}},
      {"GET", "/api/v1/nodes", "", {{"op", "nodes.list"}, {"args", json::object()}}},
      {"GET", "/api/v1/node", "", {{"op", "node.info"}, {"args", json::object()}}},
      {"GET", "/api/v1/plugins", "", {{"op", "plugins.list"}, {"args", json::object()}}},
      {"GET", "/api/v1/kv/network/entries?prefix=%5B%22app%22%5D&limit=3", "",
       {{"op", "kv.list"}, {"args", {{"space", "network"}, {"prefix", {"app"}}, {"limit", 3}}}}},
      {"GET", "/api/v1/kv/local/entries", "", {{"op", "kv.list"}, {"args", {{"space", "local"}, {"prefix", json::array()}}}}},
      {"GET", "/api/v1/kv/local/entry?key=%5B%22a%22,1%5D", "",
       {{"op", "kv.get"}, {"args", {{"space", "local"}, {"key", {"a", 1}}}}}},
      {"PUT", "/api/v1/kv/local/entry?key=%5B%22a%22%5D", R"({"value":{"x":1},"expireIn":1000})",
       {{"op", "kv.set"}, {"args", {{"space", "local"}, {"key", {"a"}}, {"value", {{"x", 1}}}, {"expireIn", 1000}}}}},
      {"DELETE", "/api/v1/kv/local/entry?key=%5B%22a%22%5D", "",
       {{"op", "kv.delete"}, {"args", {{"space", "local"}, {"key", {"a"}}}}}},
  };
  for (const auto& c : cases) {
    INFO(c.method << " " << c.target);
    auto reply = Must(Fetch(rig.port(), c.method, c.target, kAuth, c.body));
    CHECK(reply.status == (c.expected["op"] == "templates.create" ? 201 : 200));
    CHECK(rig.fake->last() == c.expected);
  }

  // Refused by the gateway before the admin service is asked: each names what is wrong.
  const size_t asked = rig.fake->count();
  const std::vector<std::tuple<std::string, std::string, test::Headers, std::string, std::string>> refused = {
      {"GET", "/api/v1/workers?colour=red", kAuth, "", "colour: unknown query parameter"},
      {"GET", "/api/v1/workers/" + sid + "/logs?lines=many", kAuth, "", "lines: expected an integer"},
      {"GET", "/api/v1/stats?cluster=yes", kAuth, "", "cluster: expected true or false"},
      {"GET", "/api/v1/kv/local/entry", kAuth, "", "key: required query parameter"},
      {"GET", "/api/v1/kv/local/entry?key=app", kAuth, "", "key: expected a JSON array"},
      {"GET", "/api/v1/workers?a=1&a=2", kAuth, "", "a: given more than once"},
      {"POST", "/api/v1/workers", kAuth, "{not json", "request body: not valid JSON"},
      {"POST", "/api/v1/workers", kAuth, "[1,2]", "request body: expected a JSON object"},
      {"POST", "/api/v1/workers", kAuth, std::string(100, '[') + std::string(100, ']'), "nested deeper than 64"},
      {"GET", "/api/v1/workers", kAuth, R"({"x":1})", "takes none"},
      {"PUT", "/api/v1/kv/local/entry?key=%5B%22a%22%5D", kAuth, R"({"value":1,"ttl":5})", "unknown field \"ttl\""},
      {"POST", "/api/v1/workers/" + sid + "/start", With(kAuth, {{"If-Match", "\"1\""}}), "", "If-Match: not supported"},
      {"PATCH", "/api/v1/workers/" + sid, With(kAuth, {{"If-Match", "\"1\", \"2\""}}), "{}", "If-Match: expected one ETag"},
      {"GET", "/api/v1/workers/%zz", kAuth, "", "bad percent-encoding"},
  };
  for (const auto& [method, target, headers, body, message] : refused) {
    INFO(method << " " << target << " " << body);
    auto reply = Must(Fetch(rig.port(), method, target, headers, body));
    CHECK(reply.status == 400);
    json error = Body(reply)["error"];
    CHECK(error["code"] == "invalid");
    CHECK(error["message"].get<std::string>().find(message) != std::string::npos);
  }
  CHECK(rig.fake->count() == asked);
}

TEST_CASE("gateway: 401 without a bearer token, and admin error codes become HTTP statuses", "[gateway]") {
  Rig rig;
  const std::string path = "/api/v1/workers/3f2b8c1e-6a51-4d0b-9c1a-2b7e5d4f0a11";
  for (const test::Headers& headers : {test::Headers{}, test::Headers{{"Authorization", "Basic dXNlcjpwdw=="}},
                                       test::Headers{{"Authorization", "Bearer "}}}) {
    auto reply = Must(Fetch(rig.port(), "GET", path, headers));
    CHECK(reply.status == 401);
    CHECK(reply.Header("WWW-Authenticate").find("Bearer") == 0);
    CHECK(Body(reply)["error"]["code"] == "unauthorized");
  }
  CHECK(rig.fake->count() == 0);  // never asked without a token

  std::string code;
  rig.fake->answer = [&code](const json&) { return json{{"ok", false}, {"error", {{"code", code}, {"message", "m: " + code}}}}; };
  const std::vector<std::tuple<std::string, bool, int>> mapping = {
      {"invalid", false, 400},  {"unauthorized", false, 401}, {"not_found", false, 404}, {"conflict", false, 409},
      {"conflict", true, 412},  {"unavailable", false, 503},  {"internal", false, 500},  {"surprise", false, 500},
      {"not_found", true, 404},
  };
  for (const auto& [admin_code, if_match, status] : mapping) {
    code = admin_code;
    INFO(admin_code << (if_match ? " with If-Match" : ""));
    test::Headers headers = kAuth;
    if (if_match) headers.emplace_back("If-Match", "\"00000000000000070000\"");
    auto reply = Must(Fetch(rig.port(), "PATCH", path, headers, R"({"note":"x"})"));
    CHECK(reply.status == status);
    json body = Body(reply);
    CHECK(body["error"]["code"] == admin_code);      // the admin's code and message, unchanged
    CHECK(body["error"]["message"] == "m: " + admin_code);
  }
  // A weak ETag can never match (RFC 9110): 412 without asking.
  const size_t asked = rig.fake->count();
  CHECK(Must(Fetch(rig.port(), "DELETE", path, With(kAuth, {{"If-Match", "W/\"1\""}})) ).status == 412);
  CHECK(rig.fake->count() == asked);
}

TEST_CASE("gateway: an admin service that does not answer in time gives 503", "[gateway]") {
  Rig rig(Section(), std::chrono::milliseconds(300));
  rig.fake->silent = true;
  auto reply = Must(Fetch(rig.port(), "GET", "/api/v1/workers", kAuth));
  CHECK(reply.status == 503);
  CHECK(Body(reply)["error"]["code"] == "unavailable");
}

TEST_CASE("gateway: 404 and 405 for unknown routes, CORS headers on every reply and preflight 204", "[gateway]") {
  HttpSection section = Section();
  section.cors_origins = {"https://live.stels.io"};
  Rig rig(section);
  const test::Headers origin = {{"Origin", "https://live.stels.io"}};

  auto missing = Must(Fetch(rig.port(), "GET", "/api/v2/workers", With(kAuth, origin)));
  CHECK(missing.status == 404);
  CHECK(Body(missing)["error"]["code"] == "not_found");
  CHECK(missing.Header("Access-Control-Allow-Origin") == "https://live.stels.io");

  auto wrong_method = Must(Fetch(rig.port(), "DELETE", "/api/v1/workers", With(kAuth, origin)));
  CHECK(wrong_method.status == 405);
  CHECK(wrong_method.Header("Allow") == "GET, POST");

  auto ok = Must(Fetch(rig.port(), "GET", "/api/v1/workers", With(kAuth, origin)));
  CHECK(ok.status == 200);
  CHECK(ok.Header("Access-Control-Allow-Origin") == "https://live.stels.io");
  CHECK(ok.Header("Vary") == "Origin");
  CHECK(ok.Header("Access-Control-Expose-Headers").find("ETag") != std::string::npos);

  // The browser must be able to read a refusal too.
  auto refused = Must(Fetch(rig.port(), "GET", "/api/v1/workers", origin));
  CHECK(refused.status == 401);
  CHECK(refused.Header("Access-Control-Allow-Origin") == "https://live.stels.io");

  auto preflight = Must(Fetch(rig.port(), "OPTIONS", "/api/v1/workers/x",
                              With(origin, {{"Access-Control-Request-Method", "PATCH"},
                                            {"Access-Control-Request-Headers", "authorization, if-match"}})));
  CHECK(preflight.status == 204);
  CHECK(preflight.body.empty());
  CHECK(preflight.Header("Content-Length").empty());  // RFC 9110: none on 204
  CHECK(preflight.Header("Access-Control-Allow-Origin") == "https://live.stels.io");
  CHECK(preflight.Header("Access-Control-Allow-Methods").find("PATCH") != std::string::npos);
  CHECK(preflight.Header("Access-Control-Allow-Headers").find("authorization") != std::string::npos);
  CHECK(preflight.Header("Access-Control-Allow-Headers").find("if-match") != std::string::npos);
  CHECK(preflight.Header("Access-Control-Allow-Private-Network") == "true");
  CHECK(rig.fake->count() == 1);  // only the one authorized GET reached the admin service

  // Another origin gets no CORS headers (the browser then refuses the reply to the page).
  const test::Headers stranger = {{"Origin", "https://evil.example"}};
  auto other = Must(Fetch(rig.port(), "GET", "/api/v1/workers", With(kAuth, stranger)));
  CHECK(other.status == 200);
  CHECK(other.Header("Access-Control-Allow-Origin").empty());
  auto other_preflight = Must(Fetch(rig.port(), "OPTIONS", "/api/v1/workers", stranger));
  CHECK(other_preflight.status == 204);
  CHECK(other_preflight.Header("Access-Control-Allow-Origin").empty());
  CHECK(other_preflight.Header("Access-Control-Allow-Methods").empty());

  HttpSection any = Section();
  any.cors_origins = {"*"};
  Rig open(any);
  auto star = Must(Fetch(open.port(), "GET", "/api/v1/workers", With(kAuth, stranger)));
  CHECK(star.Header("Access-Control-Allow-Origin") == "*");
}

TEST_CASE("gateway: an oversized body gets 413, an oversized header 431, garbage 400, and it keeps serving", "[gateway]") {
  HttpSection section = Section();
  section.max_body = 64 << 10;
  section.max_header = 4 << 10;
  section.cors_origins = {"*"};
  Rig rig(section);

  // Refused from Content-Length alone: the body is never read.
  HttpConnection big(rig.port());
  REQUIRE(big.connected());
  REQUIRE(big.SendRaw("POST /api/v1/workers HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + kToken +
                      "\r\nOrigin: https://a.example\r\nContent-Length: 10485760\r\n\r\n{\"note\":\""));
  auto too_large = big.ReadReply();
  REQUIRE(too_large);
  CHECK(too_large->status == 413);
  CHECK(Body(*too_large)["error"]["code"] == "payload_too_large");
  CHECK(too_large->Header("Access-Control-Allow-Origin") == "*");
  CHECK(big.WaitClosed(std::chrono::seconds(20)));

  // A chunked body is counted as it arrives.
  HttpConnection chunked(rig.port());
  std::string chunk(32 << 10, 'a');
  char size_line[32];
  std::snprintf(size_line, sizeof size_line, "%zx\r\n", chunk.size());
  std::string request = "POST /api/v1/workers HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 3; ++i) request += size_line + chunk + "\r\n";
  REQUIRE(chunked.SendRaw(request));
  auto chunked_reply = chunked.ReadReply();
  REQUIRE(chunked_reply);
  CHECK(chunked_reply->status == 413);

  HttpConnection headers(rig.port());
  REQUIRE(headers.SendRaw("GET /api/v1/workers HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(8 << 10, 'h') + "\r\n\r\n"));
  auto too_many_headers = headers.ReadReply();
  REQUIRE(too_many_headers);
  CHECK(too_many_headers->status == 431);
  CHECK(headers.WaitClosed(std::chrono::seconds(20)));

  HttpConnection garbage(rig.port());
  REQUIRE(garbage.SendRaw("HELLO THERE\x01\x02\r\n\r\n"));
  auto bad = garbage.ReadReply();
  REQUIRE(bad);
  CHECK(bad->status == 400);

  CHECK(rig.fake->count() == 0);
  auto ok = Must(Fetch(rig.port(), "GET", "/api/v1/workers", kAuth));
  CHECK(ok.status == 200);
  // A body just under the limit is fine.
  auto fits = Must(Fetch(rig.port(), "POST", "/api/v1/workers", kAuth,
                         json{{"note", std::string((64 << 10) - 100, 'n')}}.dump()));
  CHECK(fits.status == 201);

  auto metrics = Must(Fetch(rig.port(), "GET", "/metrics"));
  INFO(metrics.body);
  CHECK(metrics.body.find("ami_http_connections_closed_total{reason=\"body_too_large\"} 2") != std::string::npos);
  CHECK(metrics.body.find("ami_http_connections_closed_total{reason=\"header_too_large\"} 1") != std::string::npos);
  CHECK(metrics.body.find("ami_http_requests_total{code=\"413\",method=\"POST\",route=\"/api/v1/workers\"} 2") !=
        std::string::npos);
}

TEST_CASE("gateway: idle and half-sent requests are closed after idle_timeout while others are served", "[gateway]") {
  HttpSection section = Section();
  section.idle_timeout = std::chrono::milliseconds(300);
  Rig rig(section);

  HttpConnection silent(rig.port());
  HttpConnection half(rig.port());
  REQUIRE(silent.connected());
  REQUIRE(half.connected());
  REQUIRE(half.SendRaw("GET /api/v1/workers HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "));  // slowloris
  // Others are served meanwhile.
  for (int i = 0; i < 5; ++i) CHECK(Must(Fetch(rig.port(), "GET", "/api/v1/workers", kAuth)).status == 200);
  CHECK(half.WaitClosed(std::chrono::seconds(20)));
  CHECK(silent.WaitClosed(std::chrono::seconds(20)));
  CHECK(Must(Fetch(rig.port(), "GET", "/api/v1/workers", kAuth)).status == 200);
  // At least these two (a loaded machine may also time out a client that was slow to
  // close). Eventually: the socket is closed before the server's read handler counts it.
  CHECK(Eventually([&] {
    auto metrics = Fetch(rig.port(), "GET", "/metrics");
    const std::string idle = "ami_http_connections_closed_total{reason=\"idle_timeout\"} ";
    const size_t at = metrics ? metrics->body.find(idle) : std::string::npos;
    return at != std::string::npos && std::stod(metrics->body.substr(at + idle.size())) >= 2;
  }));
}

TEST_CASE("gateway: connections beyond max_connections are closed at once, and it serves again when some close",
          "[gateway]") {
  HttpSection section = Section();
  section.max_connections = 8;
  Rig rig(section);
  std::vector<std::unique_ptr<HttpConnection>> held;
  for (int i = 0; i < 8; ++i) {
    held.push_back(std::make_unique<HttpConnection>(rig.port()));
    // A reply proves the server took this connection as one of its eight.
    CHECK(Must(held.back()->Request("GET", "/api/v1/workers", kAuth)).status == 200);
  }
  HttpConnection extra(rig.port());  // TCP accepts it; the gateway closes it at once
  CHECK(extra.WaitClosed(std::chrono::seconds(20)));
  held.pop_back();
  CHECK(Eventually([&] {
    auto reply = Fetch(rig.port(), "GET", "/api/v1/workers", kAuth);
    return reply && reply->status == 200;
  }));
  for (auto& connection : held) CHECK(Must(connection->Request("GET", "/api/v1/node", kAuth)).status == 200);
  auto metrics = Must(Fetch(rig.port(), "GET", "/metrics")).body;  // may take a moment to get a slot
  CHECK(metrics.find("ami_http_connections_rejected_total") != std::string::npos);
}

TEST_CASE("gateway: https with http.tls, using a certificate made by transport/credentials.h", "[gateway]") {
  TempDir dir;
  REQUIRE(transport::MakeLocalCredentials(dir / "tls", "s-0001").ok());
  const auto files = transport::NodeFilesIn(dir / "tls");
  HttpSection section = Section();
  section.tls = HttpTlsSection{files.cert_file, files.key_file};
  Rig rig(section);
  CHECK(rig.gw->tls());

  HttpConnection tls(rig.port(), files.ca_file);
  INFO(tls.error());
  REQUIRE(tls.connected());
  auto reply = tls.Request("GET", "/api/v1/workers", kAuth);
  REQUIRE(reply);
  CHECK(reply->status == 200);
  CHECK(Must(tls.Request("GET", "/api/v1/node", kAuth)).status == 200);  // keep-alive over TLS
  CHECK(rig.fake->count() == 2);

  // Plain HTTP to the TLS port gets nothing but a closed connection.
  HttpConnection plain(rig.port());
  REQUIRE(plain.SendRaw("GET /api/v1/workers HTTP/1.1\r\nHost: x\r\n\r\n"));
  CHECK_FALSE(plain.ReadReply().has_value());
  CHECK(rig.fake->count() == 2);

  // Bad files are refused at start, naming the key.
  HttpSection bad = Section();
  bad.tls = HttpTlsSection{files.cert_file, files.cert_file};
  caf::actor_system_config cfg;
  cfg.add_message_types<caf::id_block::ami>();
  caf::actor_system system{cfg};
  gateway::Backend backend;
  backend.system = &system;
  backend.admin = rig.admin;
  auto refused = gateway::Gateway::Start(bad, backend);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().message().find("http.tls.key_file") != std::string::npos);
}

TEST_CASE("gateway: the OpenAPI document lists exactly the routes served, one per admin operation", "[gateway]") {
  Rig rig;
  auto served = Must(Fetch(rig.port(), "GET", "/api/v1/openapi.json"));
  REQUIRE(served.status == 200);
  const json doc = Body(served);
  CHECK(doc["openapi"] == "3.1.0");

  std::set<std::string> documented, admin_ops;
  for (const auto& [path, item] : doc["paths"].items())
    for (const auto& [method, operation] : item.items()) {
      if (method == "parameters") continue;
      std::string upper = method;
      for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      documented.insert(upper + " " + path);
      if (operation.contains("x-ami-admin-op")) admin_ops.insert(operation["x-ami-admin-op"].get<std::string>());
    }
  std::set<std::string> routes;
  // The REST API and /metrics; the STELS-compatible routes (log stream, WebFIX, /ws) are
  // documented in docs/webfix.md instead.
  for (const auto& route : rig.gw->Routes())
    if (route.pattern.rfind("/api/v1/", 0) == 0 || route.pattern == "/metrics")
      routes.insert(route.method + " " + route.pattern);
  CHECK(documented == routes);

  // Every operation of the admin contract (docs/admin-api.md, "Operations") has a route,
  // except the test-only faults.set and node.backup, which writes a file on the node's
  // host and so stays with the operators' mutual-TLS channel (`ami backup`), never HTTP.
  const std::string contract = test::ReadFile(test::SourceDir() / "docs" / "admin-api.md");
  const size_t table = contract.find("## Operations");
  REQUIRE(table != std::string::npos);
  std::set<std::string> expected;
  std::istringstream lines(contract.substr(table));
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("| `", 0) != 0) continue;
    const std::string first_column = line.substr(2, line.find('|', 2) - 2);
    std::regex op("`([a-zA-Z.]+)`");
    for (std::sregex_iterator it(first_column.begin(), first_column.end(), op), end; it != end; ++it)
      expected.insert((*it)[1]);
  }
  expected.erase("faults.set");
  expected.erase("node.backup");
  REQUIRE(expected.size() >= 20);
  CHECK(admin_ops == expected);
}
