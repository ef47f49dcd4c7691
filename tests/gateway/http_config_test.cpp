// The `http:` config section (runtime/config/http_section.h): defaults, every key, and
// each problem reported as "file:line:col: http.<key>: message" like the other sections.
#include <catch2/catch.hpp>

#include "runtime/config/config.h"
#include "tests/support/test_support.h"

using namespace ami;
using ami::test::TempDir;

namespace {

const std::string kNode = "node: { id: s-0001 }\n";

Result<Config> Parse(const std::string& yaml, const TempDir& dir) {
  return ParseConfig(kNode + yaml, "t.yaml", dir.path());
}

// The problems of a config that must fail, one per line.
std::string Problems(const std::string& yaml, const TempDir& dir) {
  auto config = Parse(yaml, dir);
  REQUIRE_FALSE(config.ok());
  return config.status().message();
}

bool Has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("http config: absent means no gateway, defaults when only listen is given", "[gateway][config]") {
  TempDir dir;
  auto none = Parse("", dir);
  REQUIRE(none.ok());
  CHECK_FALSE(none->http.has_value());

  auto minimal = Parse("http: { listen: 127.0.0.1:0 }\n", dir);
  INFO(minimal.status().message());
  REQUIRE(minimal.ok());
  REQUIRE(minimal->http);
  const HttpSection& h = *minimal->http;
  CHECK(h.listen == "127.0.0.1:0");
  CHECK_FALSE(h.tls);
  CHECK(h.cors_origins.empty());
  CHECK(h.session_ttl == std::chrono::hours(12));
  CHECK(h.max_body == (1u << 20));
  CHECK(h.max_header == (16u << 10));
  CHECK(h.max_connections == 1024);
  CHECK(h.idle_timeout == std::chrono::seconds(30));
}

TEST_CASE("http config: every key is read", "[gateway][config]") {
  TempDir dir;
  test::WriteFile(dir / "web.pem", "cert");
  test::WriteFile(dir / "web.key", "key");
  auto config = Parse(
      "http:\n"
      "  listen: 0.0.0.0:8443\n"
      "  tls: { cert_file: web.pem, key_file: web.key }\n"
      "  cors_origins: [\"https://live.stels.io\", \"http://localhost:5173\"]\n"
      "  sessions: { ttl: 2h }\n"
      "  wallets:\n"
      "    developers: [g2ZmDev1]\n"
      "    viewers: [gK9xView1, gK9xView2]\n"
      "  max_body: 64KB\n"
      "  max_header: 8KB\n"
      "  max_connections: 50\n"
      "  idle_timeout: 5s\n"
      "  network: localnet\n",
      dir);
  INFO(config.status().message());
  REQUIRE(config.ok());
  const HttpSection& h = *config->http;
  CHECK(h.listen == "0.0.0.0:8443");  // allowed: http.tls is given
  REQUIRE(h.tls);
  CHECK(h.tls->cert_file == dir / "web.pem");
  CHECK(h.tls->key_file == dir / "web.key");
  CHECK(h.cors_origins == std::vector<std::string>{"https://live.stels.io", "http://localhost:5173"});
  CHECK(h.session_ttl == std::chrono::hours(2));
  CHECK(h.wallets.developers == std::vector<std::string>{"g2ZmDev1"});
  CHECK(h.wallets.viewers == std::vector<std::string>{"gK9xView1", "gK9xView2"});
  CHECK(h.max_body == 64u << 10);
  CHECK(h.max_header == 8u << 10);
  CHECK(h.max_connections == 50);
  CHECK(h.idle_timeout == std::chrono::seconds(5));
  CHECK(h.network == "localnet");
}

TEST_CASE("http config: a non-loopback listen needs http.tls, and other problems name their key", "[gateway][config]") {
  TempDir dir;
  // The top-level tls: block (CAF remoting) does not count for HTTP.
  test::WriteFile(dir / "ca.pem", "x");
  test::WriteFile(dir / "n.pem", "x");
  test::WriteFile(dir / "n.key", "x");
  std::string problems = Problems(
      "tls: { ca_file: ca.pem, cert_file: n.pem, key_file: n.key }\n"
      "http: { listen: \"0.0.0.0:8088\" }\n",
      dir);
  CHECK(problems ==
        "t.yaml:3:17: http.listen: \"0.0.0.0:8088\" is not a loopback address; without http.tls the gateway "
        "listens on loopback addresses only (see docs/security.md)");
  CHECK(Has(Problems("http: { listen: \"[::]:8088\" }\n", dir), "http.listen: \"[::]:8088\" is not a loopback"));
  CHECK(Parse("http: { listen: \"[::1]:8088\" }\n", dir).ok());
  CHECK(Parse("http: { listen: \"localhost:8088\" }\n", dir).ok());

  problems = Problems(
      "http:\n"
      "  listen: 127.0.0.1:99999\n"
      "  tls: { cert_file: gone.pem }\n"
      "  cors_origins: [\"https://live.stels.io/\", \"live.stels.io\", \"*\", \"*\"]\n"
      "  sessions: { ttl: 10s }\n"
      "  wallets: { developers: [g2Zm], viewers: [g2Zm, \"not base58!\"], admins: [x] }\n"
      "  max_body: 10\n"
      "  max_header: 2MB\n"
      "  max_connections: 0\n"
      "  idle_timeout: 30\n"
      "  network: \"my net\"\n"
      "  colour: red\n",
      dir);
  INFO(problems);
  CHECK(Has(problems, "t.yaml:3:11: http.listen: expected host:port"));
  CHECK(Has(problems, "t.yaml:4:8: http.tls.key_file: required key is missing"));
  CHECK(Has(problems, "http.tls.cert_file: cannot read \"" + (dir / "gone.pem").string() + "\""));
  CHECK(Has(problems, "http.cors_origins[0]: an origin has no path, query or trailing slash"));
  CHECK(Has(problems, "http.cors_origins[1]: expected \"*\" or an origin like https://live.stels.io"));
  CHECK(Has(problems, "http.cors_origins[3]: duplicate origin \"*\""));
  CHECK(Has(problems, "http.sessions.ttl: must be at least 1m"));
  CHECK(Has(problems, "http.wallets.viewers[0]: wallet \"g2Zm\" is already listed in http.wallets.developers"));
  CHECK(Has(problems, "http.wallets.viewers[1]: expected a wallet address (base58)"));
  CHECK(Has(problems, "http.wallets.admins: unknown key"));
  CHECK(Has(problems, "http.max_body: must be at least 1KB"));
  CHECK(Has(problems, "http.max_header: must be at most 1MB"));
  CHECK(Has(problems, "http.max_connections: must be between 1 and 1000000"));
  CHECK(Has(problems, "http.idle_timeout: expected a duration"));
  CHECK(Has(problems, "http.network: must be 1 to 64 letters, digits"));
  CHECK(Has(problems, "http.colour: unknown key"));

  CHECK(Has(Problems("http: { tls: { cert_file: a, key_file: b } }\n", dir), "http.listen: required key is missing"));
  CHECK(Has(Problems("http: [1]\n", dir), "http: expected a map, got a list"));
}
