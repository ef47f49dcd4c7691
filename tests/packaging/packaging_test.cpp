// AMI as an operator installs it (issue 16, docs/operations.md): the `cmake --install`
// layout, binaries run from it (versions, --check-config, a node finding its plugins with
// no plugins.dirs), the example connector built against the installed SDK package, the
// .deb from scripts/package checked with dpkg-deb, and the systemd unit.
//
// The fixture test packaging_install (install_prefix.cmake) has installed this build tree
// into AMI_TEST_PREFIX before any of these run.
#include <catch2/catch.hpp>

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <regex>
#include <sstream>

#include <caf/config.hpp>
#include <nlohmann/json.hpp>

#include "ami/plugin/abi.h"
#include "tests/support/test_support.h"

using namespace ami::test;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

fs::path Prefix() { return fs::path(AMI_TEST_PREFIX); }
std::string Installed(const std::string& relative) { return (Prefix() / relative).string(); }

// A program on PATH, or "" when there is none.
std::string Which(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    const fs::path candidate = fs::path(dir) / name;
    if (!dir.empty() && access(candidate.c_str(), X_OK) == 0) return candidate.string();
  }
  return "";
}

// Runs a program that must exist and succeed; returns its output.
std::string MustRun(const std::string& program, const std::vector<std::string>& args,
                    std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
  REQUIRE_FALSE(program.empty());
  auto r = Run(program, args, timeout);
  INFO(program << " exited " << r.exit_code << ":\n" << r.output);
  REQUIRE(r.exit_code == 0);
  return r.output;
}

std::string Trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

bool Contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// The version the build generated (cmake/AmiVersion.cmake) and the binaries print.
std::string BuiltVersion() { return Trimmed(ReadFile(BinaryDir() / "generated" / "ami_version.txt")); }

std::string DebArch() { return Trimmed(MustRun(Which("dpkg"), {"--print-architecture"})); }

// The admin port amid logs once it listens; REQUIREs that line within 60 s.
std::string AdminPort(ChildProcess& amid) {
  std::smatch m;
  const std::regex port_line(R"(admin service listening on port (\d+))");
  REQUIRE(Eventually([&] {
    const std::string out = amid.Output();
    return std::regex_search(out, m, port_line);
  }, std::chrono::seconds(60)));
  return m[1].str();
}

std::string WorkerLogText(const fs::path& data_dir) {
  const auto dir = data_dir / "logs" / "workers";
  if (!fs::exists(dir)) return "";
  std::string text;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".log") text += ReadFile(e.path());
  return text;
}

// The installed `ami --json <command>` against a node, parsed.
json AmiJson(const std::string& node, const fs::path& data, const std::string& command) {
  auto r = Run(Installed("bin/ami"), {"--node", node, "--node-dir", data.string(), "--json", command});
  INFO("ami " << command << ": " << r.output);
  REQUIRE(r.exit_code == 0);
  json j = json::parse(r.output, nullptr, false);
  REQUIRE_FALSE(j.is_discarded());
  return j;
}

// Where the dynamic linker finds `library` for `binary` (ldd), or "" when it does not.
fs::path ResolvedLibrary(const std::string& binary, const std::string& library) {
  const std::string out = MustRun(Which("ldd"), {binary});
  std::smatch m;
  const std::regex line(library + R"( => (\S+))");
  if (!std::regex_search(out, m, line)) return "";
  return fs::weakly_canonical(m[1].str());
}

}  // namespace

TEST_CASE("cmake --install lays out bin, lib/ami with libnode and plugins, the SDK, config and unit",
          "[packaging]") {
  for (const char* file : {"bin/amid", "bin/ami", "lib/ami/libnode.so.108", "lib/ami/plugins/paper.so",
                           "lib/ami/plugins/templates.so", "include/ami/plugin/sdk.h", "include/ami/plugin/abi.h",
                           "lib/cmake/AmiPluginSdk/AmiPluginSdkConfig.cmake",
                           "lib/cmake/AmiPluginSdk/AmiPluginSdkConfigVersion.cmake",
                           "lib/cmake/AmiPluginSdk/AmiPluginSdkTargets.cmake", "share/ami/config/amid.yaml",
                           "lib/systemd/system/amid.service", "share/doc/ami/docs/operations.md"}) {
    INFO(file);
    CHECK(fs::is_regular_file(Prefix() / file));
  }
  // The connector SDK (issue 13) with its net/ headers, once it is in the tree.
  if (fs::exists(SourceDir() / "plugins" / "sdk")) {
    CHECK(fs::is_regular_file(Prefix() / "lib/ami/libami_connector_sdk.a"));
    CHECK(fs::is_regular_file(Prefix() / "include/ami/plugin/net/http_client.h"));
    // Stripped like everything else under --strip (CMake leaves archives alone).
    CHECK_FALSE(Contains(MustRun(Which("readelf"), {"-S", Installed("lib/ami/libami_connector_sdk.a")}),
                         ".debug_info"));
  }
  // Every plugin built to the default directory is installed (the exchange connectors
  // included); test fixtures built elsewhere are not.
  int plugins = 0;
  for (const auto& e : fs::directory_iterator(BinaryDir() / "plugins")) {
    if (e.path().extension() != ".so") continue;
    ++plugins;
    INFO(e.path());
    CHECK(fs::is_regular_file(Prefix() / "lib/ami/plugins" / e.path().filename()));
  }
  CHECK(plugins >= 2);
  CHECK_FALSE(fs::exists(Prefix() / "lib/ami/plugins/good.so"));

  // Installed binaries find the private libnode beside them, not the build tree's.
  for (const char* binary : {"bin/amid", "bin/ami"}) {
    const std::string dynamic = MustRun(Which("readelf"), {"-d", Installed(binary)});
    INFO(binary << ":\n" << dynamic);
    CHECK(Contains(dynamic, "[$ORIGIN/../lib/ami]"));
    CHECK_FALSE(Contains(dynamic, "third_party"));
  }
  CHECK(ResolvedLibrary(Installed("bin/amid"), "libnode.so.108") ==
        fs::canonical(Prefix() / "lib/ami/libnode.so.108"));

  // The unit and the example config name the prefix they were installed to.
  const std::string unit = ReadFile(Prefix() / "lib/systemd/system/amid.service");
  CHECK(Contains(unit, "ExecStart=" + Installed("bin/amid") + " --config /etc/ami/amid.yaml\n"));
  const std::string config = ReadFile(Prefix() / "share/ami/config/amid.yaml");
  CHECK(Contains(config, "web_root: " + Installed("share/ami/web") + "\n"));
  CHECK_FALSE(Contains(unit + config, "@AMI_PREFIX@"));
}

TEST_CASE("installed amid --version and ami --version print the git version, V8, CAF and the plugin ABI",
          "[packaging]") {
  const std::string version = BuiltVersion();
  REQUIRE_FALSE(version.empty());
  // From git: the commit is in it (cmake/AmiGitVersion.cmake), unless this is no checkout.
  if (fs::exists(SourceDir() / ".git") && !Which("git").empty()) {
    const std::string head =
        Trimmed(MustRun(Which("git"), {"-C", SourceDir().string(), "rev-parse", "--short=7", "HEAD"}));
    const bool on_clean_tag = version.find('+') == std::string::npos;
    CHECK((on_clean_tag || Contains(version, ".g" + head)));
  }
  const std::string caf = std::to_string(CAF_MAJOR_VERSION) + "." + std::to_string(CAF_MINOR_VERSION) + "." +
                          std::to_string(CAF_PATCH_VERSION);
  const std::regex expected("(amid|ami) " + std::regex_replace(version, std::regex(R"([.+])"), R"(\$&)") +
                            "\nV8 \\d+\\.\\d+\\.\\d+\\.\\d+\nCAF " + std::regex_replace(caf, std::regex(R"(\.)"), R"(\.)") +
                            "\nplugin ABI " + std::to_string(ami::plugin::kAbiVersion) + "\n");
  for (const char* program : {"amid", "ami"}) {
    const std::string out = MustRun(Installed(std::string("bin/") + program), {"--version"});
    INFO(out);
    CHECK(out.rfind(std::string(program) + " ", 0) == 0);
    CHECK(std::regex_match(out, expected));
  }
}

TEST_CASE("installed amid --check-config accepts the example config it ships", "[packaging]") {
  const std::string config = Installed("share/ami/config/amid.yaml");
  const std::string out = MustRun(Installed("bin/amid"), {"--check-config", config});
  CHECK(Contains(out, config + ": ok (node s-0001, 1 declared workers)"));
}

TEST_CASE("a node run from the install has the templates and the paper connector without plugins.dirs",
          "[packaging]") {
  TempDir dir;
  WriteFile(dir / "node.yaml",
            "node: { id: s-0001, data_dir: ./data }\n"
            "admin: { listen: \"127.0.0.1:0\" }\n"
            "limits: { stop_grace: 1s }\n"
            "exchanges:\n"
            "  paper: { connector: paper }\n"
            "workers:\n"
            "  - name: health\n"
            "    template: health-check\n"
            "  - name: pricer\n"
            "    mode: single\n"
            "    script: |\n"
            "      const t = await new Stels.runtime.cex.paper().fetchTicker('BTC/USDT');\n"
            "      logger.info('paper ticker', t.symbol, t.last > 0);\n");
  ChildProcess amid(Installed("bin/amid"), {"--config", (dir / "node.yaml").string()}, dir / "amid.out");
  const std::string node = "127.0.0.1:" + AdminPort(amid);
  const fs::path plugins_dir = fs::canonical(Prefix() / "lib/ami/plugins");
  INFO(amid.Output());
  CHECK(Contains(amid.Output(), "plugins: none configured; using " + plugins_dir.string()));

  const json templates = AmiJson(node, dir / "data", "templates");
  std::vector<std::string> ids;
  for (const auto& t : templates) ids.push_back(t.at("id"));
  CHECK(ids.size() == 8);
  CHECK(std::find(ids.begin(), ids.end(), "health-check") != ids.end());
  const json plugins = AmiJson(node, dir / "data", "plugins");
  std::map<std::string, std::string> paths;
  for (const auto& p : plugins.at("plugins")) paths[p.at("id")] = p.value("path", "");
  REQUIRE(paths.count("paper") == 1);
  CHECK(paths["paper"].rfind(plugins_dir.string(), 0) == 0);
  REQUIRE(plugins.at("exchanges").size() == 1);
  CHECK(plugins.at("exchanges")[0].at("available") == true);
  // The declared worker trades through the installed paper connector.
  CHECK(Eventually([&] { return Contains(WorkerLogText(dir / "data"), "paper ticker BTC/USDT true"); }));
  INFO(WorkerLogText(dir / "data"));
  amid.Signal(SIGTERM);
  CHECK(amid.Wait(std::chrono::seconds(30)) == 0);
}

TEST_CASE("the example connector builds with find_package(AmiPluginSdk) and an installed node loads it",
          "[packaging]") {
  TempDir dir;
  const std::string cmake = AMI_CMAKE_COMMAND;
  const std::string configured =
      MustRun(cmake, {"-S", (SourceDir() / "docs/examples/hello-connector").string(), "-B", (dir / "build").string(),
                      "-DCMAKE_BUILD_TYPE=Release", "-DCMAKE_PREFIX_PATH=" + Prefix().string()},
              std::chrono::seconds(120));
  INFO(configured);
  // The installed package, not the SDK headers of this checkout.
  CHECK(Contains(configured, "AMI plugin SDK: " + Installed("lib/cmake/AmiPluginSdk") + " (plugin ABI " +
                                 std::to_string(ami::plugin::kAbiVersion) + ")"));
  MustRun(cmake, {"--build", (dir / "build").string()}, std::chrono::seconds(300));
  REQUIRE(fs::is_regular_file(dir / "build" / "hello.so"));

  WriteFile(dir / "node.yaml",
            "node: { id: s-0001, data_dir: ./data }\n"
            "admin: { listen: \"127.0.0.1:0\" }\n"
            "limits: { stop_grace: 1s }\n"
            "plugins: { dirs: [" + (dir / "build").string() + "] }\n"
            "exchanges:\n"
            "  hello: { connector: hello, price: 123.45 }\n"
            "workers:\n"
            "  - name: hi\n"
            "    mode: single\n"
            "    script: |\n"
            "      const t = await new Stels.runtime.cex.hello().fetchTicker('HELLO/USDT');\n"
            "      logger.info('hello ticker', t.last);\n");
  ChildProcess amid(Installed("bin/amid"), {"--config", (dir / "node.yaml").string()}, dir / "amid.out");
  const std::string node = "127.0.0.1:" + AdminPort(amid);
  const json plugins = AmiJson(node, dir / "data", "plugins");
  INFO(plugins.dump());
  REQUIRE(plugins.at("exchanges").size() == 1);
  CHECK(plugins.at("exchanges")[0].at("available") == true);
  CHECK(Eventually([&] { return Contains(WorkerLogText(dir / "data"), "hello ticker 123.45"); }));
  INFO(amid.Output() << WorkerLogText(dir / "data"));
  amid.Signal(SIGTERM);
  CHECK(amid.Wait(std::chrono::seconds(30)) == 0);
}

TEST_CASE("AmiPluginSdk::connector_sdk links from the install with its dependencies", "[packaging]") {
  if (!fs::exists(Prefix() / "lib/ami/libami_connector_sdk.a")) {
    WARN("no connector SDK in this tree yet: skipping");
    return;
  }
  TempDir dir;
  WriteFile(dir / "src" / "CMakeLists.txt",
            "cmake_minimum_required(VERSION 3.16)\n"
            "project(uses_connector_sdk LANGUAGES CXX)\n"
            "find_package(AmiPluginSdk REQUIRED)\n"
            "add_executable(hmac main.cpp)\n"
            "target_link_libraries(hmac PRIVATE AmiPluginSdk::connector_sdk)\n");
  WriteFile(dir / "src" / "main.cpp",
            "#include <iostream>\n"
            "#include \"ami/plugin/net/signing.h\"\n"
            "int main() {\n"
            "  std::cout << ami::plugin::net::HmacSha256Hex(\"key\", "
            "\"The quick brown fox jumps over the lazy dog\") << \"\\n\";\n"
            "}\n");
  const std::string cmake = AMI_CMAKE_COMMAND;
  MustRun(cmake, {"-S", (dir / "src").string(), "-B", (dir / "build").string(), "-DCMAKE_BUILD_TYPE=Release",
                  "-DCMAKE_PREFIX_PATH=" + Prefix().string()},
          std::chrono::seconds(120));
  MustRun(cmake, {"--build", (dir / "build").string()}, std::chrono::seconds(300));
  // A known answer: the common HMAC-SHA256 example (key "key", the quick brown fox).
  CHECK(Trimmed(MustRun((dir / "build" / "hmac").string(), {})) ==
        "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8");
}

TEST_CASE("scripts/package builds ami_<version>_<arch>.deb: Debian dependencies, private libnode, no autostart",
          "[packaging][deb]") {
  TempDir dir;
  setenv("AMI_BUILD_DIR", BinaryDir().c_str(), 1);
  const std::string out = Trimmed(MustRun((SourceDir() / "scripts/package").string(),
                                          {"--no-build", "--output", (dir / "out").string()}, std::chrono::seconds(540)));
  const std::string version = BuiltVersion();
  const fs::path deb = dir / "out" / ("ami_" + version + "_" + DebArch() + ".deb");
  CHECK(out.substr(out.rfind('\n') + 1) == deb.string());
  REQUIRE(fs::is_regular_file(deb));

  const std::string dpkg_deb = Which("dpkg-deb");
  CHECK(Trimmed(MustRun(dpkg_deb, {"-f", deb.string(), "Package"})) == "ami");
  CHECK(Trimmed(MustRun(dpkg_deb, {"-f", deb.string(), "Version"})) == version);
  CHECK(Trimmed(MustRun(dpkg_deb, {"-f", deb.string(), "Architecture"})) == DebArch());
  // Debian's runtime packages (from dpkg-shlibdeps over every ELF file), never a libnode
  // or Node.js package: V8 is carried inside.
  const std::string depends = MustRun(dpkg_deb, {"-f", deb.string(), "Depends"});
  INFO("Depends: " << depends);
  for (const char* package : {"adduser", "libcaf-core", "libcaf-io", "libyaml-cpp", "libspdlog", "libsqlite3",
                              "libssl3", "libuv1", "libc6"})
    CHECK(Contains(depends, package));
  CHECK_FALSE(Contains(depends, "libnode"));
  CHECK_FALSE(Contains(depends, "nodejs"));

  const std::string contents = MustRun(dpkg_deb, {"-c", deb.string()});
  for (const char* file : {"./usr/bin/amid", "./usr/bin/ami", "./usr/lib/ami/libnode.so.108",
                           "./usr/lib/ami/plugins/paper.so", "./usr/lib/ami/plugins/templates.so",
                           "./usr/include/ami/plugin/sdk.h", "./usr/lib/cmake/AmiPluginSdk/AmiPluginSdkConfig.cmake",
                           "./usr/share/ami/config/amid.yaml", "./usr/lib/systemd/system/amid.service"}) {
    INFO(file);
    CHECK(Contains(contents, std::string(file) + "\n"));
  }
  CHECK_FALSE(Contains(contents, "./etc/"));   // /etc/ami/amid.yaml is postinst's, once

  // Maintainer scripts: postinst makes the ami user and /var/lib/ami; none starts or
  // enables the service.
  MustRun(dpkg_deb, {"-e", deb.string(), (dir / "control").string()});
  const std::string postinst = ReadFile(dir / "control" / "postinst");
  CHECK(Contains(postinst, "adduser --quiet --system --group --home /var/lib/ami"));
  CHECK(Contains(postinst, "install -d -m 0700 -o ami -g ami /var/lib/ami"));
  for (const char* script : {"postinst", "prerm", "postrm"}) {
    INFO(script);
    const fs::path file = dir / "control" / script;
    REQUIRE(fs::exists(file));
    CHECK((fs::status(file).permissions() & fs::perms::owner_exec) != fs::perms::none);
    MustRun("/bin/sh", {"-n", file.string()});
    std::string text;   // the commands, without comments (which tell the operator what to run)
    std::stringstream lines(ReadFile(file));
    for (std::string line; std::getline(lines, line);)
      if (line.find_first_not_of(" \t") == std::string::npos || line[line.find_first_not_of(" \t")] != '#')
        text += line + "\n";
    for (const char* starts : {"systemctl start", "systemctl enable", "systemctl restart", "deb-systemd-invoke start",
                               "try-restart"})
      CHECK_FALSE(Contains(text, starts));
  }

  // Unpacked anywhere, the packaged amid runs with the packaged libnode (its rpath) and
  // the unit and config name /usr.
  MustRun(dpkg_deb, {"-x", deb.string(), (dir / "root").string()});
  const std::string amid = (dir / "root/usr/bin/amid").string();
  CHECK(ResolvedLibrary(amid, "libnode.so.108") == fs::canonical(dir / "root/usr/lib/ami/libnode.so.108"));
  CHECK(MustRun(amid, {"--version"}).rfind("amid " + version + "\n", 0) == 0);
  CHECK(Contains(ReadFile(dir / "root/usr/lib/systemd/system/amid.service"),
                 "ExecStart=/usr/bin/amid --config /etc/ami/amid.yaml\n"));
  CHECK(Contains(ReadFile(dir / "root/usr/share/ami/config/amid.yaml"), "web_root: /usr/share/ami/web\n"));
  // Stripped: no debug sections in what ships.
  for (const char* file : {"usr/bin/amid", "usr/lib/ami/plugins/paper.so", "usr/lib/ami/libami_connector_sdk.a"}) {
    if (!fs::exists(dir / "root" / file)) continue;   // the connector SDK before issue 13 lands
    INFO(file);
    CHECK_FALSE(Contains(MustRun(Which("readelf"), {"-S", (dir / "root" / file).string()}), ".debug_info"));
  }
}

TEST_CASE("amid.service is a hardened Type=notify unit that systemd-analyze verify accepts",
          "[packaging][systemd]") {
  const fs::path unit = Prefix() / "lib/systemd/system/amid.service";
  const std::string text = ReadFile(unit);
  for (const char* line : {"Type=notify", "ExecReload=/bin/kill -HUP $MAINPID", "User=ami", "StateDirectory=ami",
                           "NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes",
                           "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6", "LimitNOFILE=1048576",
                           "WantedBy=multi-user.target"}) {
    INFO(line);
    CHECK(Contains(text, std::string("\n") + line + "\n"));
  }
  CHECK_FALSE(Contains(text, "MemoryDenyWriteExecute=yes"));   // V8's JIT needs W+X pages

  const std::string analyze = Which("systemd-analyze");
  if (analyze.empty()) {
    WARN("systemd-analyze is not installed: skipping `systemd-analyze verify amid.service`");
    return;
  }
  // Verified as the installed copy: its ExecStart names the installed amid, which exists.
  auto r = Run(analyze, {"verify", unit.string()}, std::chrono::seconds(60));
  INFO("systemd-analyze verify:\n" << r.output);
  CHECK(r.exit_code == 0);
  CHECK_FALSE(Contains(r.output, "amid.service:"));
}
