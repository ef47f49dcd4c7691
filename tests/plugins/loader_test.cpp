// The plugin loader: good plugins load; every kind of bad file is refused with its path
// and a reason while the rest still load; objects keep their library loaded.
#include <dlfcn.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>

#include "ami/plugin/sdk.h"
#include "plugins/loader.h"
#include "tests/support/test_support.h"

namespace fs = std::filesystem;
using ami::plugins::LoadPlugins;
using ami::plugins::PluginRegistry;
using Json = nlohmann::json;

namespace {

const fs::path kFixtures = AMI_PLUGIN_FIXTURES;

// A temp dir holding copies of the named fixtures (a copy is a distinct file, so each
// test loads its own instance of the library).
fs::path Stage(const ami::test::TempDir& dir, std::initializer_list<const char*> names) {
  for (const char* n : names) fs::copy_file(kFixtures / n, dir / n);
  return dir.path();
}

bool Contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

std::string AllErrors(const PluginRegistry& r) {
  std::string s;
  for (const auto& e : r.errors()) s += e.ToString() + "\n";
  return s;
}

// True while `file` is mapped into this process.
bool IsLoaded(const fs::path& file) {
  void* h = dlopen(file.c_str(), RTLD_NOW | RTLD_NOLOAD);
  if (!h) return false;
  dlclose(h);
  return true;
}

}  // namespace

TEST_CASE("a good connector plugin loads and answers calls", "[loader]") {
  ami::test::TempDir dir;
  auto registry = LoadPlugins({Stage(dir, {"good.so"})});
  INFO(AllErrors(registry));
  REQUIRE(registry.errors().empty());
  REQUIRE(registry.plugins().size() == 1);
  const auto& d = registry.plugins()[0];
  CHECK(d.id == "test-good");
  CHECK(d.kind == ami::plugin::PluginKind::kExchangeConnector);
  CHECK(d.version == "1.2.3");
  CHECK(d.path == fs::canonical(dir / "good.so"));
  CHECK(d.ToJson()["kind"] == "exchange-connector");
  CHECK(registry.connector_ids() == std::vector<std::string>{"test-good"});
  CHECK(registry.template_pack_ids().empty());
  CHECK(registry.connector_factory("test-good") != nullptr);
  CHECK(registry.template_pack("test-good") == nullptr);

  auto made = registry.CreateConnector("test-good", Json{{"k", "v"}});
  REQUIRE(made.ok());
  auto connector = *made;

  Json desc = Json::parse(connector->Describe());
  CHECK(desc["id"] == "test-good");
  CHECK(desc["has"]["fetchTicker"] == true);
  CHECK(desc["has"]["createOrder"] == false);
  bool lists_echo = false;
  for (const auto& m : desc["methods"]) lists_echo |= m["name"] == "echo";
  CHECK(lists_echo);

  ami::plugin::CallContext ctx{"w-1", 7, "acc-1", {"key", "secret"}};
  auto r = connector->Call(ctx, "fetchTicker", R"(["T/USD"])");
  REQUIRE(r.ok);
  CHECK(Json::parse(r.json)["last"] == 42.0);

  r = connector->Call(ctx, "echo", R"([1, "two"])");
  REQUIRE(r.ok);
  Json echo = Json::parse(r.json);
  CHECK(echo["args"] == Json::array({1, "two"}));
  CHECK(echo["worker"] == "w-1");
  CHECK(echo["term"] == 7);
  CHECK(echo["account"] == "acc-1");
  CHECK(echo["hasSecret"] == true);
  CHECK(echo["options"]["k"] == "v");
  CHECK(ami::plugin::DescribeForLog(ctx) == "worker=w-1 term=7 account=acc-1");

  // Errors come back as results with CCXT classes, never as exceptions.
  r = connector->Call(ctx, "fetchTicker", R"(["X/USD"])");
  CHECK_FALSE(r.ok);
  CHECK(r.error_class == "BadSymbol");
  r = connector->Call(ctx, "fetchTicker", "[]");
  CHECK(r.error_class == "ArgumentsRequired");
  r = connector->Call(ctx, "fetchTicker", "{not json");
  CHECK(r.error_class == "BadRequest");
  r = connector->Call(ctx, "createOrder", R"(["T/USD", "limit", "buy", 1, 2])");
  CHECK(r.error_class == "NotSupported");
  r = connector->Call(ctx, "noSuchMethod", "[]");
  CHECK(r.error_class == "NotSupported");
}

TEST_CASE("connector creation errors are Status values", "[loader]") {
  ami::test::TempDir dir;
  auto registry = LoadPlugins({Stage(dir, {"good.so"})});
  auto missing = registry.CreateConnector("nope", Json::object());
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().code() == ami::Status::Code::kNotFound);
  CHECK(Contains(missing.status().message(), "nope"));
  CHECK(Contains(missing.status().message(), "test-good"));   // lists what is loaded

  auto refused = registry.CreateConnector("test-good", Json{{"fail", true}});
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().code() == ami::Status::Code::kInvalidArgument);
  CHECK(Contains(refused.status().message(), "option fail"));
}

TEST_CASE("missing plugin directories and files are reported", "[loader]") {
  ami::test::TempDir dir;
  auto registry = LoadPlugins({dir / "no-such-dir", dir / "no-such.so"});
  REQUIRE(registry.errors().size() == 2);
  CHECK(registry.errors()[0].path == dir / "no-such-dir");
  CHECK(Contains(registry.errors()[0].reason, "does not exist"));
  CHECK(registry.errors()[1].path == dir / "no-such.so");
  CHECK(registry.plugins().empty());

  // An empty directory is fine: nothing loaded, nothing wrong.
  auto empty = LoadPlugins({dir.path()});
  CHECK(empty.errors().empty());
  CHECK(empty.plugins().empty());
}

TEST_CASE("a file that is not a library is refused", "[loader]") {
  ami::test::TempDir dir;
  auto registry = LoadPlugins({Stage(dir, {"not_a_library.so"})});
  REQUIRE(registry.errors().size() == 1);
  CHECK(registry.errors()[0].path == dir / "not_a_library.so");
  CHECK(Contains(registry.errors()[0].reason, "not a shared library"));
  CHECK(Contains(registry.errors()[0].ToString(), (dir / "not_a_library.so").string()));

  // ELF magic but garbage after it: dlopen's own reason is passed on.
  ami::test::WriteFile(dir / "truncated.so", std::string("\x7f" "ELF", 4) + "garbage");
  auto r2 = LoadPlugins({dir / "truncated.so"});
  REQUIRE(r2.errors().size() == 1);
  CHECK(Contains(r2.errors()[0].reason, "cannot load library"));
}

TEST_CASE("a library that is not an AMI plugin is refused", "[loader]") {
  ami::test::TempDir dir;
  auto registry = LoadPlugins({Stage(dir, {"plain.so"})});
  REQUIRE(registry.errors().size() == 1);
  CHECK(Contains(registry.errors()[0].reason, "not an AMI plugin"));
}

TEST_CASE("an ABI version mismatch is refused", "[loader]") {
  ami::test::TempDir dir;
  auto registry = LoadPlugins({Stage(dir, {"bad_abi.so"})});
  REQUIRE(registry.errors().size() == 1);
  const auto& e = registry.errors()[0];
  CHECK(e.path == dir / "bad_abi.so");
  CHECK(Contains(e.reason, "ABI version mismatch"));
  CHECK(Contains(e.reason, "999"));
  CHECK(Contains(e.reason, std::to_string(ami::plugin::kAbiVersion)));
  CHECK(registry.plugins().empty());
}

TEST_CASE("a plugin without a factory is refused", "[loader]") {
  ami::test::TempDir dir;
  auto registry = LoadPlugins({Stage(dir, {"no_factory.so"})});
  REQUIRE(registry.errors().size() == 1);
  CHECK(Contains(registry.errors()[0].reason, "missing factory symbol 'ami_plugin_factory'"));
}

TEST_CASE("bad plugins and a duplicate id never stop the good ones", "[loader]") {
  auto registry = LoadPlugins({kFixtures});   // every fixture in one directory
  INFO(AllErrors(registry));
  // Loaded: good.so (first with id test-good) and good_pack.so.
  REQUIRE(registry.plugins().size() == 2);
  CHECK(registry.connector_ids() == std::vector<std::string>{"test-good"});
  CHECK(registry.template_pack_ids() == std::vector<std::string>{"test-pack"});
  CHECK(registry.connector_factory("test-good")->Info().version == "1.2.3");

  // Refused, each with its own reason: bad_abi, no_factory, not_a_library, plain,
  // zz_duplicate.
  REQUIRE(registry.errors().size() == 5);
  auto reason_of = [&](const char* file) {
    for (const auto& e : registry.errors())
      if (e.path.filename() == file) return e.reason;
    return std::string("<no error>");
  };
  CHECK(Contains(reason_of("bad_abi.so"), "ABI version mismatch"));
  CHECK(Contains(reason_of("no_factory.so"), "missing factory"));
  CHECK(Contains(reason_of("not_a_library.so"), "not a shared library"));
  CHECK(Contains(reason_of("plain.so"), "not an AMI plugin"));
  const std::string dup = reason_of("zz_duplicate.so");
  CHECK(Contains(dup, "duplicate plugin id 'test-good'"));
  CHECK(Contains(dup, (fs::canonical(kFixtures / "good.so")).string()));

  // Loading the same directory again into the same registry skips what is loaded.
  PluginRegistry twice;
  twice.LoadPath(kFixtures / "good.so");
  twice.LoadPath(kFixtures / "good.so");
  CHECK(twice.plugins().size() == 1);
  CHECK(twice.errors().empty());
}

TEST_CASE("template packs list their templates", "[loader]") {
  ami::test::TempDir dir;
  auto registry = LoadPlugins({Stage(dir, {"good_pack.so"})});
  REQUIRE(registry.errors().empty());
  auto pack = registry.template_pack("test-pack");
  REQUIRE(pack);
  CHECK(registry.connector_factory("test-pack") == nullptr);
  auto templates = pack->Templates();
  REQUIRE(templates.size() == 2);
  Json a = ami::plugin::ToJson(templates[0]);
  CHECK(a["id"] == "hello");
  CHECK(a["defaults"]["executionMode"] == "parallel");
  CHECK(a["defaults"]["priority"] == "normal");
  CHECK(a["defaults"]["mode"] == "loop");
  CHECK(a["defaults"]["assignedNode"].is_null());
  CHECK(a["defaults"]["scope"] == "local");
  CHECK(a["dependencies"] == Json::array({"gliesereum"}));
  CHECK(a["script"] == "logger.info('hello');");
  Json b = ami::plugin::ToJson(templates[1]);
  CHECK(b["defaults"]["executionMode"] == "exclusive");
  CHECK(b["defaults"]["assignedNode"] == "s-0001");
  CHECK(b["dependencies"] == Json::array());
}

TEST_CASE("objects made by a plugin keep its library loaded", "[loader][lifetime]") {
  ami::test::TempDir dir;
  const fs::path lib = fs::canonical(Stage(dir, {"good.so"}) / "good.so");
  std::shared_ptr<ami::plugin::ExchangeConnector> connector;
  std::shared_ptr<ami::plugin::ConnectorFactory> factory;
  {
    auto registry = LoadPlugins({dir.path()});
    REQUIRE(registry.errors().empty());
    REQUIRE(IsLoaded(lib));
    auto made = registry.CreateConnector("test-good", Json::object());
    REQUIRE(made.ok());
    connector = *made;
    factory = registry.connector_factory("test-good");
  }  // the registry is gone
  REQUIRE(IsLoaded(lib));
  auto r = connector->Call({}, "fetchTicker", R"(["T/USD"])");   // virtual call into the .so
  REQUIRE(r.ok);
  CHECK(Json::parse(r.json)["last"] == 42.0);
  CHECK(factory->Info().id == "test-good");

  factory.reset();
  CHECK(IsLoaded(lib));   // the connector still holds it
  CHECK(connector->Call({}, "echo", "[]").ok);
  connector.reset();
  CHECK_FALSE(IsLoaded(lib));   // last object gone: unloaded
}

TEST_CASE("the template pack keeps its library loaded too", "[loader][lifetime]") {
  ami::test::TempDir dir;
  const fs::path lib = fs::canonical(Stage(dir, {"good_pack.so"}) / "good_pack.so");
  std::shared_ptr<ami::plugin::TemplatePack> pack;
  {
    auto registry = LoadPlugins({dir.path()});
    pack = registry.template_pack("test-pack");
  }
  REQUIRE(pack);
  CHECK(pack->Templates().size() == 2);
  CHECK(IsLoaded(lib));
  pack.reset();
  CHECK_FALSE(IsLoaded(lib));
}

TEST_CASE("the built plugin directory holds the paper connector", "[loader]") {
  auto registry = LoadPlugins({AMI_PLUGIN_DIR});
  INFO(AllErrors(registry));
  auto factory = registry.connector_factory("paper");
  REQUIRE(factory);
  auto info = factory->Info();
  CHECK(info.kind == ami::plugin::PluginKind::kExchangeConnector);
  CHECK_FALSE(info.version.empty());
}

TEST_CASE("CCXT error classes and hierarchy", "[sdk]") {
  using namespace ami::plugin;
  CHECK(IsNetworkErrorClass("NetworkError"));
  CHECK(IsNetworkErrorClass("RequestTimeout"));
  CHECK(IsNetworkErrorClass("RateLimitExceeded"));
  CHECK(IsNetworkErrorClass("OnMaintenance"));
  CHECK_FALSE(IsNetworkErrorClass("InsufficientFunds"));
  CHECK_FALSE(IsNetworkErrorClass("SomethingUnknown"));
  CHECK(ErrorClassIsA("OrderNotFound", "InvalidOrder"));
  CHECK(ErrorClassIsA("BadSymbol", "ExchangeError"));
  CHECK(ErrorClassIsA("SomethingUnknown", "ExchangeError"));
  CHECK_FALSE(ErrorClassIsA("NetworkError", "ExchangeError"));
  // Parents come before children, so a binding can create classes in table order.
  for (std::size_t i = 0; i < std::size(kErrorClasses); ++i) {
    if (!kErrorClasses[i].parent) continue;
    bool parent_before = false;
    for (std::size_t j = 0; j < i; ++j)
      parent_before |= std::string(kErrorClasses[j].name) == kErrorClasses[i].parent;
    CHECK(parent_before);
  }
  REQUIRE(FindCcxtMethod("createOrder"));
  CHECK(FindCcxtMethod("createOrder")->required == 4);
  CHECK(FindCcxtMethod("nope") == nullptr);
}
