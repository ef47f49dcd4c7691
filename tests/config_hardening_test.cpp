// The config loader's hardening (issue 9): host:port parsing with real IP literals,
// loopback-only without a tls: section, readable tls files, admin tokens of 16 bytes or
// more, YAML alias bombs refused before anything walks them, and the node's own files
// (the generated admin token, permission warnings).
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <string>

#include "runtime/config/config.h"
#include "runtime/config/host_port.h"
#include "runtime/config/node_files.h"
#include "tests/support/config_helpers.h"
#include "tests/support/test_support.h"

namespace fs = std::filesystem;
using ami::Config;
using ami::test::TempDir;
using ami::test::WriteFile;
using namespace ami::test::config;  // Good, Problems, kNode, ScopedEnv

// ---- addresses, tls and the admin token

TEST_CASE("Without a tls section every listen and peer address must be loopback", "[config][errors]") {
  const std::string why =
      " is not a loopback address; without a tls: section amid listens on and connects to loopback "
      "addresses only (see docs/security.md)";
  CHECK(Problems(kNode + "admin:\n  listen: 0.0.0.0:7201\n") == "t.yaml:4:11: admin.listen: \"0.0.0.0:7201\"" + why);
  // A name that merely starts like a loopback address is a name, not 127/8.
  CHECK(Problems(kNode + "admin:\n  listen: 127.evil.example:7201\n") ==
        "t.yaml:4:11: admin.listen: \"127.evil.example:7201\"" + why);
  CHECK(Problems(kNode + "cluster:\n  name: dev\n  secret: s\n  listen: 10.1.2.3:7101\n"
                         "  peers: [\"127.0.0.1:7102\", \"[::1]:7103\", \"node-2.example.com:7101\", \"[2001:db8::1]:7101\"]\n") ==
        "t.yaml:6:11: cluster.listen: \"10.1.2.3:7101\"" + why + "\n"
        "t.yaml:7:43: cluster.peers[2]: \"node-2.example.com:7101\"" + why + "\n"
        "t.yaml:7:70: cluster.peers[3]: \"[2001:db8::1]:7101\"" + why);
  // Loopback in every spelling is fine.
  Config c = Good(kNode + "cluster:\n  name: dev\n  secret: s\n  listen: \"[::1]:7101\"\n"
                          "  peers: [\"127.0.0.2:7102\", \"LOCALHOST:7103\", \"[::ffff:127.0.0.1]:7104\"]\n"
                          "admin:\n  listen: localhost.:7201\n");
  CHECK(c.cluster->listen == "[::1]:7101");  // kept as written; ParseHostPort gives the host
  CHECK(c.cluster->peers.size() == 3);
}

TEST_CASE("With a tls section any address may be used, and its files must be readable", "[config][errors]") {
  TempDir dir;
  for (const char* name : {"ca.pem", "node.pem", "node.key"}) WriteFile(dir / name, "x\n");
  const std::string open_ports = kNode +
                                 "cluster: { name: dev, secret: s, listen: \"0.0.0.0:7101\", peers: [\"10.0.0.2:7101\"] }\n"
                                 "admin: { listen: \"0.0.0.0:7201\", token: a-token-of-16-bytes }\n";
  Config c = Good(open_ports + "tls: { ca_file: ca.pem, cert_file: node.pem, key_file: node.key }\n", dir.path());
  CHECK(c.tls->ca_file == dir / "ca.pem");  // relative to the config file's directory
  CHECK(c.cluster->peers == std::vector<std::string>{"10.0.0.2:7101"});

  CHECK(Problems(kNode + "tls: { ca_file: ca.pem, cert_file: gone.pem, key_file: . }\n", dir.path()) ==
        "t.yaml:3:36: tls.cert_file: cannot read \"" + (dir / "gone.pem").string() +
            "\": No such file or directory\n"
            "t.yaml:3:56: tls.key_file: cannot read \"" + dir.path().string() + "\": it is a directory");
  CHECK(Problems(kNode + "tls: { ca_file: ca.pem }\n", dir.path()) ==
        "t.yaml:3:6: tls.cert_file: required key is missing\n"
        "t.yaml:3:6: tls.key_file: required key is missing");
}

TEST_CASE("An admin token shorter than 16 bytes is refused, without quoting it", "[config][errors]") {
  ScopedEnv short_env("AMI_CONFIG_TEST_SHORT", "tok-env-15bytes");
  ScopedEnv long_env("AMI_CONFIG_TEST_LONG", "tok-env-16-bytes");
  CHECK(Problems(kNode + "admin: { listen: 127.0.0.1:7201, token: tok-15-bytes-ab }\n") ==
        "t.yaml:3:41: admin.token: the token must be at least 16 bytes long");
  CHECK(Problems(kNode + "admin: { listen: 127.0.0.1:7201, token_env: AMI_CONFIG_TEST_SHORT }\n") ==
        "t.yaml:3:45: admin.token_env: the token in this variable must be at least 16 bytes long");
  CHECK(Good(kNode + "admin: { listen: 127.0.0.1:7201, token_env: AMI_CONFIG_TEST_LONG }\n").admin->token ==
        "tok-env-16-bytes");
  CHECK(Good(kNode + "admin: { listen: 127.0.0.1:7201, token: tok-16-bytes-abc }\n").admin->token == "tok-16-bytes-abc");
}

TEST_CASE("ParseHostPort reads names, IPv4 and bracketed IPv6 literals", "[config]") {
  auto v6 = ami::ParseHostPort("[::1]:7101");
  REQUIRE(v6.ok());
  CHECK(v6->host == "::1");  // no brackets: what CAF and getaddrinfo want
  CHECK(v6->port == 7101);
  CHECK(v6->is_ipv6);
  CHECK(v6->is_loopback);
  CHECK(v6->ToString() == "[::1]:7101");
  auto long_v6 = ami::ParseHostPort("[0:0:0:0:0:0:0:1]:1");
  REQUIRE(long_v6.ok());
  CHECK(long_v6->host == "::1");  // canonical form
  struct Case { const char* text; bool loopback; };
  for (const Case& k : {Case{"127.0.0.1:1", true}, Case{"127.255.0.9:1", true}, Case{"localhost:1", true},
                        Case{"LocalHost.:1", true}, Case{"[::ffff:127.0.0.1]:1", true},
                        Case{"127.evil.example:1", false}, Case{"localhost.evil.example:1", false},
                        Case{"0.0.0.0:1", false}, Case{"128.0.0.1:1", false}, Case{"[::]:1", false},
                        Case{"[2001:db8::1]:1", false}, Case{"node-1:1", false}}) {
    INFO(k.text);
    auto parsed = ami::ParseHostPort(k.text);
    REQUIRE(parsed.ok());
    CHECK(parsed->is_loopback == k.loopback);
  }
  auto ipv4 = ami::ParseHostPort("127.0.0.1:7101");
  REQUIRE(ipv4.ok());
  CHECK(ipv4->host == "127.0.0.1");
  CHECK(ipv4->is_ip);
  CHECK_FALSE(ipv4->is_ipv6);
  CHECK_FALSE(ami::ParseHostPort("127.evil.example:1")->is_ip);

  CHECK(ami::ParseHostPort("127.0.0.1:0").status().message() ==
        "expected host:port like 127.0.0.1:7101, got \"127.0.0.1:0\"");
  CHECK(ami::ParseHostPort("127.0.0.1:0", true).ok());
  CHECK(ami::ParseHostPort("999.0.0.1:7101").status().message() ==
        "expected host:port like 127.0.0.1:7101, got \"999.0.0.1:7101\": \"999.0.0.1\" is not an IPv4 address");
  CHECK(ami::ParseHostPort("127.1:7101").status().message() ==
        "expected host:port like 127.0.0.1:7101, got \"127.1:7101\": \"127.1\" is not an IPv4 address");
  CHECK(ami::ParseHostPort("[::g]:7101").status().message() ==
        "expected host:port like 127.0.0.1:7101, got \"[::g]:7101\": \"::g\" is not an IPv6 address");
  CHECK(ami::ParseHostPort("::1:7101").status().message() ==
        "expected host:port like 127.0.0.1:7101, got \"::1:7101\": write an IPv6 address in brackets, like [::1]:7101");
  for (const char* bad : {"", ":1", "host", "host:", "host:65536", "host:-1", "a b:1", "[]:1", "[::1]", "h:1x"}) {
    INFO(bad);
    CHECK_FALSE(ami::ParseHostPort(bad).ok());
  }
}

// ---- YAML aliases

namespace {

// The classic "billion laughs": nine levels, each a list of nine aliases to the level
// below. About 700 bytes of text; walked as a tree, 9^9 (387 million) nodes.
std::string AliasBomb() {
  std::string text = "    note:\n      - &a [x, x, x, x, x, x, x, x, x]\n";
  for (char level = 'b'; level <= 'i'; ++level) {
    const char below = static_cast<char>(level - 1);
    text += std::string("      - &") + level + " [";
    for (int i = 0; i < 9; ++i) text += std::string(i ? ", " : "") + "*" + below;
    text += "]\n";
  }
  return text;
}

}  // namespace

TEST_CASE("A YAML alias bomb is refused before anything walks it", "[config][errors]") {
  // In a worker's note, where the value is also of the wrong kind: the declaration
  // would be hashed and reported on after expanding every alias.
  const std::string bomb = AliasBomb();
  CHECK(bomb.size() < 700);
  const std::string problems = Problems(kNode + "workers:\n  - name: w\n    script: x\n" + bomb);
  // The first alias of level f (line 12) crosses the limit.
  CHECK(problems ==
        "t.yaml:12:13: aliases: aliases expand this document to more than 100000 extra nodes (each alias counts "
        "as a copy of what it names); refusing it");
  // LoadConfig and amid --check-config take the same path.
  TempDir dir;
  WriteFile(dir / "bomb.yaml", kNode + "workers:\n  - name: w\n    script: x\n" + bomb);
  auto loaded = ami::LoadConfig(dir / "bomb.yaml");
  REQUIRE_FALSE(loaded.ok());
  CHECK(loaded.status().message().find((dir / "bomb.yaml").string() + ":12:13: aliases: ") == 0);
}

TEST_CASE("Aliases within the limit work, but not a big scalar repeated by aliases nor a cycle", "[config]") {
  // Ordinary use: one anchored value reused.
  Config c = Good(kNode +
                  "workers:\n"
                  "  - { name: a, script: x, dependencies: &deps [gliesereum, extra], note: &n shared note }\n"
                  "  - { name: b, script: x, dependencies: *deps, note: *n }\n");
  REQUIRE(c.workers.size() == 2);
  CHECK(c.workers[1].record.dependencies == std::vector<std::string>{"gliesereum", "extra"});
  CHECK(c.workers[1].record.note == "shared note");
  // Aliases hash like the text they stand for.
  CHECK(Good(kNode + "workers:\n  - { name: b, script: x, dependencies: [gliesereum, extra], note: shared note }\n")
            .workers[0]
            .source_hash == c.workers[1].source_hash);

  // 1 MB of text, repeated 9 times by each of two levels: 81 MB once expanded.
  std::string big(1 << 20, 'y');
  std::string yaml = kNode + "workers:\n  - name: w\n    script: x\n    note:\n      - &a " + big + "\n";
  yaml += "      - &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n      - [*b, *b]\n";
  const std::string problems = Problems(yaml);
  CHECK(problems.find("t.yaml:9:10: aliases: aliases expand this document to more than 16MB of extra text") == 0);

  CHECK(Problems(kNode + "workers:\n  - &w { name: a, script: x, note: [*w] }\n") ==
        "t.yaml:4:37: aliases: an alias may not refer to a map or list that contains it");
  // An unknown alias is the parser's own error.
  CHECK(Problems(kNode + "workers:\n  - { name: a, script: *nothing }\n").find("syntax: ") != std::string::npos);
}

// ---- node files: the admin token and permission warnings

TEST_CASE("The admin token file is generated once with mode 0600 and read back", "[config]") {
  TempDir dir;
  const fs::path data = dir / "data" / "s-0001";
  auto first = ami::LoadOrCreateAdminToken(data);
  REQUIRE(first.ok());
  CHECK(first->created);
  CHECK(first->path == data / "admin.token");
  CHECK(first->token.size() == 64);  // 32 random bytes in hex
  CHECK(first->token.find_first_not_of("0123456789abcdef") == std::string::npos);
  struct stat st {};
  REQUIRE(stat(first->path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  REQUIRE(stat(data.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);  // a data dir made here is private
  CHECK(ami::test::ReadFile(first->path) == first->token + "\n");

  auto again = ami::LoadOrCreateAdminToken(data);
  REQUIRE(again.ok());
  CHECK_FALSE(again->created);
  CHECK(again->token == first->token);
  CHECK(ami::LoadOrCreateAdminToken(dir / "other")->token != first->token);

  // An operator's own token, written by hand with a trailing newline, is used as it is;
  // one too short is refused by path, never by content.
  WriteFile(data / "admin.token", "  my-own-token-of-24-bytes\n");
  CHECK(ami::LoadOrCreateAdminToken(data)->token == "my-own-token-of-24-bytes");
  WriteFile(data / "admin.token", "short-token\n");
  auto too_short = ami::LoadOrCreateAdminToken(data);
  REQUIRE_FALSE(too_short.ok());
  CHECK(too_short.status().message().find((data / "admin.token").string()) != std::string::npos);
  CHECK(too_short.status().message().find("short-token") == std::string::npos);
}

TEST_CASE("Permission warnings: inline secrets in a readable file, a readable data dir", "[config]") {
  TempDir dir;
  fs::create_directories(dir / "data");
  chmod((dir / "data").c_str(), 0700);
  const std::string inline_yaml = "node: { id: s-0001, data_dir: ./data }\n"
                                  "cluster: { name: c, secret: inline-secret-value, listen: \"127.0.0.1:7101\" }\n";
  WriteFile(dir / "n.yaml", inline_yaml);
  chmod((dir / "n.yaml").c_str(), 0644);
  auto config = ami::LoadConfig(dir / "n.yaml");
  REQUIRE(config.ok());
  auto warnings = ami::FilePermissionWarnings(*config);
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].find((dir / "n.yaml").string()) != std::string::npos);
  CHECK(warnings[0].find("cluster.secret") != std::string::npos);
  CHECK(warnings[0].find("mode 0644") != std::string::npos);
  CHECK(warnings[0].find("inline-secret-value") == std::string::npos);

  chmod((dir / "n.yaml").c_str(), 0600);
  CHECK(ami::FilePermissionWarnings(*config).empty());
  chmod((dir / "data").c_str(), 0755);
  warnings = ami::FilePermissionWarnings(*config);
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].find("data dir \"" + (dir / "data").string() + "\" is readable by others (mode 0755)") == 0);

  // Secrets from the environment: a readable file holds nothing to warn about.
  ScopedEnv env("AMI_CONFIG_TEST_CS", "s");
  chmod((dir / "data").c_str(), 0700);
  WriteFile(dir / "e.yaml", "node: { id: s-0001, data_dir: ./data }\n"
                            "cluster: { name: c, secret_env: AMI_CONFIG_TEST_CS, listen: \"127.0.0.1:7101\" }\n");
  chmod((dir / "e.yaml").c_str(), 0644);
  auto from_env = ami::LoadConfig(dir / "e.yaml");
  REQUIRE(from_env.ok());
  CHECK(ami::FilePermissionWarnings(*from_env).empty());
}
