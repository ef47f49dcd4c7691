// The gateway in front of a real node (LocalNode with the paper exchange and the template
// pack) over real HTTP on loopback: REST CRUD with ETag/If-Match, every route of the
// OpenAPI document answered as documented, /metrics linted by promtool and moving with
// real work, and hundreds of concurrent connections leaving the node serving.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "actors/local_node.h"
#include "ami/version.h"
#include "runtime/base/clock.h"
#include "tests/gateway/http_client.h"
#include "tests/support/local_node_start.h"
#include "tests/support/test_support.h"

using namespace ami;
using ami::test::Eventually;
using ami::test::Fetch;
using ami::test::HttpConnection;
using ami::test::Must;
using ami::test::TempDir;
using json = nlohmann::json;

namespace {

const std::string kToken = "gateway-node-test-token";
const test::Headers kAuth = {{"Authorization", "Bearer " + kToken}};

std::string NodeYaml(const std::string& http_extra = "", bool with_admin = true) {
  return "node: { id: s-0001, data_dir: ./data }\n" +
         (with_admin ? "admin: { listen: \"127.0.0.1:0\", token: " + kToken + " }\n" : std::string()) +
         "http: { listen: \"127.0.0.1:0\"" + http_extra + " }\n"
         "limits: { stop_grace: 500ms }\n"
         "plugins: { dirs: [\"" + (test::BinaryDir() / "plugins").string() + "\"] }\n"
         "exchanges:\n"
         "  bybit: { connector: paper, clock: manual }\n";
}

json Body(const test::HttpReply& reply) {
  INFO(reply.status << " " << reply.body);
  json body = json::parse(reply.body, nullptr, false);
  REQUIRE(!body.is_discarded());
  return body;
}

test::Headers With(test::Headers headers, const test::Headers& more) {
  headers.insert(headers.end(), more.begin(), more.end());
  return headers;
}

std::string Etag(const json& worker) { return "\"" + worker["versionstamp"].get<std::string>() + "\""; }


// "" when `value` fits `schema` (the OpenAPI 3.1 / JSON Schema subset the document uses:
// $ref, oneOf, type (one or a list), enum, const, required, properties,
// additionalProperties:false, items); else where and why it does not.
std::string Mismatch(const json& doc, const json& schema, const json& value, const std::string& where) {
  if (schema.contains("$ref")) {
    json::json_pointer pointer(schema["$ref"].get<std::string>().substr(1));
    return Mismatch(doc, doc.at(pointer), value, where);
  }
  if (schema.contains("oneOf")) {
    for (const auto& option : schema["oneOf"])
      if (Mismatch(doc, option, value, where).empty()) return "";
    return where + ": matches none of oneOf: " + value.dump().substr(0, 200);
  }
  if (schema.contains("type")) {
    const json types = schema["type"].is_array() ? schema["type"] : json::array({schema["type"]});
    bool fits = false;
    for (const auto& t : types) {
      const std::string type = t;
      fits = fits || (type == "object" && value.is_object()) || (type == "array" && value.is_array()) ||
             (type == "string" && value.is_string()) || (type == "integer" && value.is_number_integer()) ||
             (type == "number" && value.is_number()) || (type == "boolean" && value.is_boolean()) ||
             (type == "null" && value.is_null());
    }
    if (!fits) return where + ": expected " + types.dump() + ", got " + value.dump().substr(0, 200);
  }
  if (schema.contains("enum") && std::find(schema["enum"].begin(), schema["enum"].end(), value) == schema["enum"].end())
    return where + ": " + value.dump() + " is not in " + schema["enum"].dump();
  if (schema.contains("const") && schema["const"] != value) return where + ": expected " + schema["const"].dump();
  if (value.is_object()) {
    for (const auto& name : schema.value("required", json::array()))
      if (!value.contains(name.get<std::string>())) return where + "." + name.get<std::string>() + ": missing";
    const json properties = schema.value("properties", json::object());
    for (const auto& [name, item] : value.items()) {
      if (properties.contains(name)) {
        if (auto m = Mismatch(doc, properties[name], item, where + "." + name); !m.empty()) return m;
      } else if (schema.value("additionalProperties", true) == false) {
        return where + "." + name + ": not in the schema";
      }
    }
  }
  if (value.is_array() && schema.contains("items"))
    for (size_t i = 0; i < value.size(); ++i)
      if (auto m = Mismatch(doc, schema["items"], value[i], where + "[" + std::to_string(i) + "]"); !m.empty()) return m;
  return "";
}

std::string UrlEncode(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

}  // namespace

TEST_CASE("gateway node: REST CRUD of a worker end to end, with ETag and If-Match", "[gateway]") {
  TempDir dir;
  auto node = test::StartLocalNode(NodeYaml(), dir.path());
  const uint16_t port = node->http_port();
  REQUIRE(port != 0);

  auto created = Must(Fetch(port, "POST", "/api/v1/workers", kAuth,
                            R"({"note":"rest","script":"logger.info('tick'); await Stels.sleep(20);"})"));
  REQUIRE(created.status == 201);
  json worker = Body(created);
  const std::string sid = worker["sid"];
  CHECK(worker["record"]["note"] == "rest");
  CHECK(worker["record"]["active"] == false);
  CHECK(created.Header("ETag") == Etag(worker));
  CHECK(created.Header("Location") == "/api/v1/workers/" + sid);

  auto got = Must(Fetch(port, "GET", "/api/v1/workers/" + sid, kAuth));
  CHECK(got.status == 200);
  CHECK(got.Header("ETag") == created.Header("ETag"));
  const std::string first_etag = got.Header("ETag");

  auto patched = Must(Fetch(port, "PATCH", "/api/v1/workers/" + sid, With(kAuth, {{"If-Match", first_etag}}),
                            R"({"note":"renamed"})"));
  REQUIRE(patched.status == 200);
  CHECK(Body(patched)["record"]["note"] == "renamed");
  CHECK(patched.Header("ETag") != first_etag);

  // The ETag the client holds is stale now: nothing changes.
  auto stale = Must(Fetch(port, "PATCH", "/api/v1/workers/" + sid, With(kAuth, {{"If-Match", first_etag}}),
                          R"({"note":"lost update"})"));
  CHECK(stale.status == 412);
  CHECK(Body(stale)["error"]["code"] == "conflict");
  CHECK(Body(Must(Fetch(port, "GET", "/api/v1/workers/" + sid, kAuth)))["record"]["note"] == "renamed");
  auto stale_delete = Must(Fetch(port, "DELETE", "/api/v1/workers/" + sid, With(kAuth, {{"If-Match", first_etag}})));
  CHECK(stale_delete.status == 412);

  // Validation comes from the admin service, naming the field.
  auto invalid = Must(Fetch(port, "PATCH", "/api/v1/workers/" + sid, kAuth, R"({"priority":"urgent"})"));
  CHECK(invalid.status == 400);
  CHECK(Body(invalid)["error"]["message"].get<std::string>().find("priority") != std::string::npos);
  // A wrong token is the admin's unauthorized.
  auto wrong = Must(Fetch(port, "GET", "/api/v1/workers", {{"Authorization", "Bearer not-the-token-at-all"}}));
  CHECK(wrong.status == 401);
  CHECK(Must(Fetch(port, "GET", "/api/v1/workers")).status == 401);

  auto started = Must(Fetch(port, "POST", "/api/v1/workers/" + sid + "/start", kAuth));
  CHECK(started.status == 200);
  CHECK(Body(started)["record"]["active"] == true);
  CHECK(Eventually([&] {
    auto reply = Fetch(port, "GET", "/api/v1/workers/" + sid, kAuth);
    return reply && reply->status == 200 && Body(*reply)["running"] == true;
  }));
  CHECK(Eventually([&] {
    auto stats = Fetch(port, "GET", "/api/v1/workers/" + sid + "/stats", kAuth);
    return stats && stats->status == 200 && Body(*stats)["executions"].get<int64_t>() > 0;
  }));
  auto logs = Body(Must(Fetch(port, "GET", "/api/v1/workers/" + sid + "/logs?lines=5", kAuth)));
  CHECK(logs["lines"].is_array());

  auto stopped = Must(Fetch(port, "POST", "/api/v1/workers/" + sid + "/stop", kAuth));
  CHECK(stopped.status == 200);
  CHECK(Body(stopped)["record"]["active"] == false);
  CHECK(Eventually([&] { return node->RunningWorkers() == 0; }));

  const std::string current = Must(Fetch(port, "GET", "/api/v1/workers/" + sid, kAuth)).Header("ETag");
  auto deleted = Must(Fetch(port, "DELETE", "/api/v1/workers/" + sid, With(kAuth, {{"If-Match", current}})));
  CHECK(deleted.status == 200);
  CHECK(Body(deleted) == json{{"sid", sid}, {"deleted", true}});
  auto gone = Must(Fetch(port, "GET", "/api/v1/workers/" + sid, kAuth));
  CHECK(gone.status == 404);
  CHECK(Body(gone)["error"]["code"] == "not_found");
  CHECK(Body(Must(Fetch(port, "GET", "/api/v1/workers", kAuth))).empty());
}

TEST_CASE("gateway node: every route of the OpenAPI document answers with its documented status and shape",
          "[gateway]") {
  TempDir dir;
  auto node = test::StartLocalNode(NodeYaml(), dir.path());
  const uint16_t port = node->http_port();

  auto served = Must(Fetch(port, "GET", "/api/v1/openapi.json"));
  REQUIRE(served.status == 200);
  const json doc = Body(served);
  CHECK(doc == json::parse(test::ReadFile(test::SourceDir() / "gateway" / "openapi.json")));  // the checked-in one

  // Fixtures the examples refer to.
  const std::string sid = Body(Must(Fetch(port, "POST", "/api/v1/workers", kAuth, "{}")))["sid"];
  const std::string leader_sid =
      Body(Must(Fetch(port, "POST", "/api/v1/workers", kAuth, R"({"executionMode":"leader"})")))["sid"];
  REQUIRE(Must(Fetch(port, "PUT", "/api/v1/kv/local/entry?key=" + UrlEncode(R"(["app","config"])"), kAuth,
                     R"({"value":1})")).status == 200);

  struct Call {
    std::string method, path;
    json operation, path_item;
  };
  std::vector<Call> calls;
  for (const auto& [path, item] : doc["paths"].items())
    for (const auto& [method, operation] : item.items())
      if (method != "parameters") calls.push_back({method, path, operation, item});
  // Deletes last: the others need the fixtures.
  std::stable_partition(calls.begin(), calls.end(), [](const Call& c) { return c.method != "delete"; });
  REQUIRE(calls.size() >= 24);

  for (const Call& call : calls) {
    std::string method = call.method;
    for (char& c : method) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    std::string target = call.path;
    std::string query;
    json parameters = call.path_item.value("parameters", json::array());
    for (const auto& p : call.operation.value("parameters", json::array())) parameters.push_back(p);
    for (const auto& p : parameters) {
      const std::string name = p["name"];
      std::string value = p.contains("example") ? p["example"].get<std::string>() : "";
      if (name == "sid") value = call.path.find("/leader") != std::string::npos ? leader_sid : sid;
      if (p["in"] == "path") target.replace(target.find("{" + name + "}"), name.size() + 2, UrlEncode(value));
      if (p["in"] == "query" && p.value("required", false))
        query += (query.empty() ? "?" : "&") + name + "=" + UrlEncode(value);
    }
    target += query;
    std::string body;
    if (call.operation.contains("requestBody"))
      body = call.operation["requestBody"]["content"]["application/json"]["example"].dump();

    INFO(method << " " << target << " " << body);
    const bool secured = !call.operation.contains("security") || !call.operation["security"].empty();
    if (secured) {
      auto refused = Must(Fetch(port, method, target, {}, body));
      CHECK(refused.status == 401);
      CHECK(call.operation["responses"].contains("401"));
      CHECK(Mismatch(doc, doc["components"]["responses"]["Unauthorized"]["content"]["application/json"]["schema"],
                     Body(refused), "401").empty());
    }
    auto reply = Must(Fetch(port, method, target, secured ? kAuth : test::Headers{}, body));
    std::string success;
    for (const auto& [status, response] : call.operation["responses"].items())
      if (status[0] == '2') success = status;
    CHECK(std::to_string(reply.status) == success);
    const json& response = call.operation["responses"][success];
    if (response["content"].contains("application/json")) {
      CHECK(reply.Header("Content-Type") == "application/json");
      const json value = Body(reply);
      const std::string mismatch = Mismatch(doc, response["content"]["application/json"]["schema"], value, "body");
      INFO(value.dump().substr(0, 2000));
      CHECK(mismatch == "");
      const json headers = response.value("headers", json::object());
      for (const auto& [header, spec] : headers.items()) {
        CHECK(!reply.Header(header).empty());
        if (header == "ETag") CHECK(reply.Header("ETag") == Etag(value));
        if (header == "Location") CHECK(reply.Header("Location") == "/api/v1/workers/" + value["sid"].get<std::string>());
      }
    } else {
      CHECK(reply.Header("Content-Type").find("text/plain") == 0);
    }
  }
}

TEST_CASE("gateway node: /metrics passes promtool and its counters move with real work", "[gateway]") {
  TempDir dir;
  auto node = test::StartLocalNode(NodeYaml(), dir.path());
  const uint16_t port = node->http_port();

  auto before = Must(Fetch(port, "GET", "/metrics"));
  REQUIRE(before.status == 200);
  CHECK(before.Header("Content-Type") == "text/plain; version=0.0.4; charset=utf-8");
  CHECK(test::MetricSample(before.body, "ami_node_info{node=\"s-0001\",version=\"" + std::string(build_info::kVersion) + "\"}") == 1);
  CHECK(test::MetricSample(before.body, "ami_run_queue_slots") == node->run_slots());

  const std::string sid = Body(Must(Fetch(port, "POST", "/api/v1/workers", kAuth,
                                          R"({"active":true,"script":"logger.info('work'); await Stels.sleep(10);"})")))["sid"];
  const std::string series = "ami_worker_executions_total{sid=\"" + sid + "\"}";
  std::string text;
  REQUIRE(Eventually([&] {
    auto reply = Fetch(port, "GET", "/metrics");
    if (!reply) return false;
    text = reply->body;
    return test::MetricSample(text, series) >= 2;
  }));
  CHECK(test::MetricSample(text, "ami_worker_running{sid=\"" + sid + "\"}") == 1);
  CHECK(test::MetricSample(text, "ami_worker_errors_total{class=\"critical\",sid=\"" + sid + "\"}") == 0);
  CHECK(test::MetricSample(text, "ami_workers{status=\"running\"}") == 1);
  CHECK(test::MetricSample(text, "ami_run_queue_grants_total{wait=\"immediate\"}") > 0);
  CHECK(test::MetricSample(text, "ami_http_requests_total{code=\"201\",method=\"POST\",route=\"/api/v1/workers\"}") == 1);
  CHECK(test::MetricSample(text, "ami_process_resident_memory_bytes") > 0);
  // Raw paths never become labels.
  CHECK(text.find("route=\"/api/v1/workers/" + sid) == std::string::npos);

  // promtool (Debian's prometheus package) lints the exposition format and naming.
  test::WriteFile(dir / "metrics.txt", text);
  auto lint = test::Run("/bin/sh", {"-c", "promtool check metrics < " + (dir / "metrics.txt").string()});
  INFO(lint.output);
  CHECK(lint.exit_code == 0);
  CHECK(lint.output.empty());
}

TEST_CASE("gateway node: hundreds of concurrent connections leave the node serving", "[gateway]") {
  TempDir dir;
  auto node = test::StartLocalNode(NodeYaml(), dir.path());
  const uint16_t port = node->http_port();
  constexpr int kConnections = 300;

  std::vector<std::unique_ptr<HttpConnection>> connections;
  for (int i = 0; i < kConnections; ++i) {
    connections.push_back(std::make_unique<HttpConnection>(port));
    REQUIRE(connections.back()->connected());
  }
  // Every request is in flight before the first reply is read.
  const std::string request = "GET /api/v1/node HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + kToken + "\r\n\r\n";
  for (auto& connection : connections) REQUIRE(connection->SendRaw(request));
  int answered = 0;
  for (auto& connection : connections) {
    auto reply = connection->ReadReply();
    if (reply && reply->status == 200 && Body(*reply)["node"] == "s-0001") ++answered;
  }
  CHECK(answered == kConnections);
  auto metrics = Must(Fetch(port, "GET", "/metrics")).body;
  CHECK(test::MetricSample(metrics, "ami_http_connections_open") >= kConnections);
  connections.clear();
  CHECK(Eventually([&] {
    auto reply = Fetch(port, "GET", "/metrics");
    return reply && test::MetricSample(reply->body, "ami_http_connections_open") == 1;  // just this one
  }));
  auto created = Must(Fetch(port, "POST", "/api/v1/workers", kAuth));
  CHECK(created.status == 201);
}

TEST_CASE("gateway node: without an admin: section the gateway uses the node's admin.token", "[gateway]") {
  TempDir dir;
  auto node = test::StartLocalNode(NodeYaml(", cors_origins: [\"*\"]", /*with_admin=*/false), dir.path());
  CHECK(node->admin_port() == 0);  // nothing published for CAF remoting
  std::string token = test::ReadFile(dir / "data" / "admin.token");
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) token.pop_back();
  REQUIRE(token.size() >= 16);
  CHECK(Must(Fetch(node->http_port(), "GET", "/api/v1/node", kAuth)).status == 401);
  auto info = Must(Fetch(node->http_port(), "GET", "/api/v1/node", {{"Authorization", "Bearer " + token}}));
  CHECK(info.status == 200);
  CHECK(Body(info)["node"] == "s-0001");
}

TEST_CASE("gateway node: the admin token buys a session for /ws and log streams, bound to that token", "[gateway]") {
  TempDir dir;
  auto node = test::StartLocalNode(NodeYaml(), dir.path());
  uint16_t port = node->http_port();

  CHECK(Must(Fetch(port, "POST", "/api/v1/session")).status == 401);
  CHECK(Must(Fetch(port, "POST", "/api/v1/session", {{"Authorization", "Bearer not-the-token-at-all"}})).status == 401);
  auto created = Must(Fetch(port, "POST", "/api/v1/session", kAuth));
  REQUIRE(created.status == 201);
  const json answer = Body(created);
  const std::string session = answer["session"];
  CHECK(std::regex_match(session, std::regex("[0-9a-f]{64}")));
  CHECK(answer["expires_at"].get<int64_t>() > WallMillis());
  CHECK(created.Header("Cache-Control") == "no-store");

  // The WebSocket, where a browser cannot send Authorization.
  {
    test::WebSocketClient socket(port);
    REQUIRE(socket.Connect("/ws?session=" + session, {"webfix"}));
    CHECK(socket.subprotocol() == "webfix");
    test::WebSocketClient forged(port);
    CHECK_FALSE(forged.Connect("/ws?session=" + std::string(64, 'a'), {"webfix"}));
    CHECK(forged.refused_status() == 401);
  }
  // A log stream with the session in the STELS header.
  const std::string sid = Body(Must(Fetch(port, "POST", "/api/v1/workers", kAuth, "{}")))["sid"];
  {
    test::SseStream stream(port);
    auto opened = stream.Open("/api/worker/logs/stream?sid=" + sid + "&follow=false", {{"stels-session", session}});
    REQUIRE(opened.has_value());
    CHECK(opened->status == 200);
    auto first = stream.NextEvent(std::chrono::seconds(20));
    REQUIRE(first.has_value());
    CHECK(json::parse(*first)["type"] == "connected");
  }

  // Sessions survive a restart with the same token, not with another one.
  REQUIRE(node->Shutdown(std::chrono::seconds(30)).ok());
  node.reset();
  node = test::StartLocalNode(NodeYaml(), dir.path());
  port = node->http_port();
  {
    test::WebSocketClient socket(port);
    CHECK(socket.Connect("/ws?session=" + session, {"webfix"}));
  }
  REQUIRE(node->Shutdown(std::chrono::seconds(30)).ok());
  node.reset();
  std::string other_token_yaml = NodeYaml();
  other_token_yaml.replace(other_token_yaml.find(kToken), kToken.size(), "another-token-of-16-bytes-or-more");
  node = test::StartLocalNode(other_token_yaml, dir.path());
  port = node->http_port();
  test::WebSocketClient socket(port);
  CHECK_FALSE(socket.Connect("/ws?session=" + session, {"webfix"}));
  CHECK(socket.refused_status() == 401);
}
