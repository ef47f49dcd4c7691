// The web editor's files (gateway/static_files.h): content types, caching headers, no
// way out of the root, the SPA fallback — first on StaticFiles itself, then through a
// real gateway, where the REST API's JSON 404s and /metrics must stay as they were.
#include <catch2/catch.hpp>

#include <caf/all.hpp>

#include <fstream>

#include "actors/messages.h"
#include "gateway/gateway.h"
#include "gateway/static_files.h"
#include "runtime/config/config.h"
#include "tests/gateway/http_client.h"
#include "tests/support/test_support.h"

using namespace ami;
using ami::gateway::HttpRequest;
using ami::gateway::HttpResponse;
using ami::gateway::StaticFiles;
using ami::test::Fetch;
using ami::test::Must;
using ami::test::TempDir;
namespace fs = std::filesystem;

namespace {

void Write(const fs::path& file, const std::string& text) {
  fs::create_directories(file.parent_path());
  std::ofstream(file, std::ios::binary) << text;
}

// A built app: index.html, a hashed script and style, a font, a worker map, a favicon.
void MakeSite(const fs::path& root) {
  Write(root / "index.html", "<!doctype html><title>AMI</title><div id=app></div>");
  Write(root / "assets" / "index-AbC123.js", "console.log('app')");
  Write(root / "assets" / "index-AbC123.css", "body{}");
  Write(root / "assets" / "codicon-9f8e.ttf", std::string("\0\1\0\0", 4));
  Write(root / "assets" / "ts.worker-77aa.js.map", "{}");
  Write(root / "favicon.svg", "<svg xmlns='http://www.w3.org/2000/svg'/>");
}

HttpRequest Get(std::string path, std::string accept = "*/*") {
  HttpRequest r;
  r.method = "GET";
  r.path = path;
  r.target = std::move(path);
  r.headers = {{"accept", std::move(accept)}};
  return r;
}

constexpr const char* kHtmlAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

}  // namespace

TEST_CASE("static files: content types and caching headers", "[gateway][web]") {
  TempDir dir;
  MakeSite(dir.path());
  StaticFiles web(dir.path());

  HttpResponse index = web.Serve(Get("/", kHtmlAccept));
  CHECK(index.status == 200);
  CHECK(index.Header("Content-Type") == "text/html; charset=utf-8");
  CHECK(index.Header("Cache-Control") == "no-cache");
  CHECK(index.body.find("<div id=app>") != std::string::npos);
  CHECK(web.Serve(Get("/index.html")).Header("Cache-Control") == "no-cache");

  HttpResponse js = web.Serve(Get("/assets/index-AbC123.js"));
  CHECK(js.status == 200);
  CHECK(js.Header("Content-Type") == "text/javascript; charset=utf-8");
  CHECK(js.Header("Cache-Control") == "public, max-age=31536000, immutable");
  CHECK(js.Header("X-Content-Type-Options") == "nosniff");
  CHECK(js.body == "console.log('app')");

  CHECK(web.Serve(Get("/assets/index-AbC123.css")).Header("Content-Type") == "text/css; charset=utf-8");
  HttpResponse font = web.Serve(Get("/assets/codicon-9f8e.ttf"));
  CHECK(font.Header("Content-Type") == "font/ttf");
  CHECK(font.body == std::string("\0\1\0\0", 4));  // binary-safe
  CHECK(web.Serve(Get("/assets/ts.worker-77aa.js.map")).Header("Content-Type") == "application/json");
  HttpResponse icon = web.Serve(Get("/favicon.svg"));
  CHECK(icon.Header("Content-Type") == "image/svg+xml");
  CHECK(icon.Header("Cache-Control") == "no-cache");  // not hashed: revalidate

  CHECK(gateway::ContentTypeFor("a.woff2") == "font/woff2");
  CHECK(gateway::ContentTypeFor("a.wasm") == "application/wasm");
  CHECK(gateway::ContentTypeFor("a.json") == "application/json");
  CHECK(gateway::ContentTypeFor("A.JS") == "text/javascript; charset=utf-8");
  CHECK(gateway::ContentTypeFor("a.unknown") == "application/octet-stream");

  // Revalidation: the ETag comes back as If-None-Match → 304 without a body.
  HttpRequest again = Get("/");
  again.headers.push_back({"if-none-match", std::string(index.Header("ETag"))});
  CHECK(!index.Header("ETag").empty());
  HttpResponse not_modified = web.Serve(again);
  CHECK(not_modified.status == 304);
  CHECK(not_modified.body.empty());
}

TEST_CASE("static files: nothing outside the root is reachable", "[gateway][web]") {
  TempDir dir;
  const fs::path root = dir / "dist";
  MakeSite(root);
  Write(dir / "secret.txt", "admin token");
  StaticFiles web(root);

  for (const char* path : {"/../secret.txt", "/assets/../../secret.txt", "/%2e%2e/secret.txt", "/assets/%2E%2E/%2e%2e/secret.txt",
                           "/..%2fsecret.txt", "/assets%5c..%5c..%5csecret.txt", "/a//b", "/./index.html", "/%zz",
                           "/index.html%00.js"}) {
    INFO(path);
    HttpResponse r = web.Serve(Get(path, kHtmlAccept));
    CHECK(r.status == 400);
    CHECK(r.body.find("admin token") == std::string::npos);
  }

  // A symlink inside the root that points out of it is as absent as a missing file.
  fs::create_symlink(dir / "secret.txt", root / "assets" / "leak.txt");
  fs::create_directory_symlink(dir.path(), root / "up");
  HttpResponse leak = web.Serve(Get("/assets/leak.txt"));
  CHECK(leak.status == 404);
  CHECK(leak.body.find("admin token") == std::string::npos);
  HttpResponse up = web.Serve(Get("/up/secret.txt"));
  CHECK(up.status == 404);
  // … and an HTML navigation to it gets the app, never the file.
  HttpResponse up_html = web.Serve(Get("/up/secret.txt", kHtmlAccept));
  CHECK(up_html.body.find("admin token") == std::string::npos);
  CHECK(up_html.body.find("<div id=app>") != std::string::npos);

  // A symlink that stays inside the root is fine (e.g. a deploy that links files).
  fs::create_symlink(root / "favicon.svg", root / "icon.svg");
  CHECK(web.Serve(Get("/icon.svg")).status == 200);
  // Directories are not files.
  CHECK(web.Serve(Get("/assets")).status == 404);
}

TEST_CASE("static files: SPA fallback for HTML navigations, 404 for missing assets and the gateway's paths",
          "[gateway][web]") {
  TempDir dir;
  MakeSite(dir.path());
  StaticFiles web(dir.path());

  HttpResponse route = web.Serve(Get("/workers/3f2b8c1e-6a51-4d0b-9c1a-2b7e5d4f0a11", kHtmlAccept));
  CHECK(route.status == 200);
  CHECK(route.Header("Content-Type") == "text/html; charset=utf-8");
  CHECK(route.Header("Cache-Control") == "no-cache");
  CHECK(route.body.find("<div id=app>") != std::string::npos);

  // A script or style that is not there must not be answered with HTML.
  HttpResponse asset = web.Serve(Get("/assets/index-OLD.js", kHtmlAccept));
  CHECK(asset.status == 404);
  CHECK(web.Serve(Get("/missing.js")).status == 404);          // not a navigation
  CHECK(web.Serve(Get("/workers/x", "application/json")).status == 404);

  HttpRequest get_api = Get("/api/v1/nope", kHtmlAccept);
  CHECK_FALSE(web.Wants(get_api));
  CHECK_FALSE(web.Wants(Get("/api")));
  CHECK_FALSE(web.Wants(Get("/metrics")));
  CHECK_FALSE(web.Wants(Get("/ws")));
  CHECK(web.Wants(Get("/apiary")));  // only the /api/ prefix is the gateway's
  HttpRequest post = Get("/");
  post.method = "POST";
  CHECK_FALSE(web.Wants(post));

  // Not built yet: `/` says how to build it instead of a bare 404.
  TempDir empty;
  StaticFiles unbuilt(empty / "web" / "dist");
  HttpResponse missing = unbuilt.Serve(Get("/", kHtmlAccept));
  CHECK(missing.status == 404);
  CHECK(missing.body.find("scripts/build web") != std::string::npos);
  CHECK(unbuilt.Serve(Get("/workers/x", kHtmlAccept)).status == 404);
}

namespace {

caf::behavior AnsweringAdmin() {
  return {[](admin_atom, const std::string&, const std::string&) -> std::string {
    return R"({"ok":true,"result":[]})";
  }};
}

}  // namespace

TEST_CASE("static files: served by the gateway beside the REST API, /metrics and WebFIX-style POSTs",
          "[gateway][web]") {
  TempDir dir;
  MakeSite(dir / "dist");
  HttpSection section;
  section.listen = "127.0.0.1:0";
  section.web_root = dir / "dist";

  caf::actor_system_config cfg;
  cfg.add_message_types<caf::id_block::ami>();
  cfg.set("logger.verbosity", caf::atom("quiet"));
  caf::actor_system system(cfg);
  caf::actor admin = system.spawn(AnsweringAdmin);
  gateway::Backend backend;
  backend.system = &system;
  backend.admin = admin;
  backend.node_id = "s-0001";
  backend.version = "test";
  backend.admin_token = "t";
  auto started = gateway::Gateway::Start(section, backend);
  INFO(started.status().message());
  REQUIRE(started.ok());
  auto& gw = *started;
  const test::Headers html = {{"Accept", kHtmlAccept}};

  auto index = Must(Fetch(gw->port(), "GET", "/", html));
  CHECK(index.status == 200);
  CHECK(index.Header("Cache-Control") == "no-cache");
  CHECK(index.body.find("<div id=app>") != std::string::npos);
  auto js = Must(Fetch(gw->port(), "GET", "/assets/index-AbC123.js"));
  CHECK(js.status == 200);
  CHECK(js.Header("Cache-Control") == "public, max-age=31536000, immutable");
  CHECK(js.Header("Content-Type") == "text/javascript; charset=utf-8");
  auto route = Must(Fetch(gw->port(), "GET", "/workers/abc?tab=logs", html));
  CHECK(route.status == 200);
  CHECK(route.body.find("<div id=app>") != std::string::npos);

  // The gateway's own answers are untouched: an unknown API route is still a JSON 404
  // (even for a browser navigation), /metrics is Prometheus text, the REST API works.
  auto api = Must(Fetch(gw->port(), "GET", "/api/v2/workers", html));
  CHECK(api.status == 404);
  CHECK(api.body.find("\"not_found\"") != std::string::npos);
  CHECK(Must(Fetch(gw->port(), "GET", "/metrics")).body.find("ami_http_requests_total") != std::string::npos);
  CHECK(Must(Fetch(gw->port(), "GET", "/api/v1/workers", {{"Authorization", "Bearer t"}})).status == 200);
  // Other methods on a non-route path are no business of the web app (WebFIX POSTs).
  CHECK(Must(Fetch(gw->port(), "POST", "/", {{"Content-Type", "application/json"}}, "{}")).status != 200);
  CHECK(Must(Fetch(gw->port(), "DELETE", "/index.html")).status == 404);
  auto escape = Must(Fetch(gw->port(), "GET", "/%2e%2e/%2e%2e/etc/passwd", html));
  CHECK(escape.status == 400);

  gw->Stop();
  caf::anon_send_exit(admin, caf::exit_reason::user_shutdown);
}

TEST_CASE("static files: http.web_root is optional and relative to the config file", "[gateway][web][config]") {
  TempDir dir;
  auto unset = ParseConfig("node: { id: s-0001 }\nhttp: { listen: 127.0.0.1:0 }\n", "t.yaml", dir.path());
  INFO(unset.status().message());
  REQUIRE(unset.ok());
  CHECK(unset->http->web_root.empty());  // the gateway then serves StaticFiles::DefaultRoot()
  CHECK(StaticFiles::DefaultRoot().filename() == "dist");

  auto set = ParseConfig("node: { id: s-0001 }\nhttp: { listen: 127.0.0.1:0, web_root: ../site/dist }\n", "t.yaml",
                         dir / "conf");
  INFO(set.status().message());
  REQUIRE(set.ok());
  CHECK(set->http->web_root == (dir / "site" / "dist").lexically_normal());

  auto wrong = ParseConfig("node: { id: s-0001 }\nhttp: { listen: 127.0.0.1:0, web_root: [a] }\n", "t.yaml", dir.path());
  REQUIRE_FALSE(wrong.ok());
  CHECK(wrong.status().message().find("http.web_root") != std::string::npos);
}
