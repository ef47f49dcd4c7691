// A minimal AMI exchange connector: one market, a fixed price, fetchTicker only.
// Config:   exchanges: { hello: { connector: hello, price: 123.45 } }
// Script:   const t = await Stels.runtime.cex.hello.fetchTicker('HELLO/USDT');
#include <memory>
#include <string>

#include "ami/plugin/sdk.h"

namespace hello {

using ami::plugin::CcxtError;
using Json = nlohmann::json;

class HelloConnector final : public ami::plugin::ConnectorBase {
 public:
  explicit HelloConnector(double price) : price_(price) {}

 protected:
  // What it is.
  std::string id() const override { return "hello"; }
  std::string name() const override { return "Hello Exchange"; }
  std::string version() const override { return "0.1.0"; }
  Json has() const override { return {{"fetchTicker", true}, {"fetchMarkets", true}}; }

  // What it does. Called from several host threads at once: this class holds only
  // immutable state, so it needs no lock.
  Json fetchMarkets(const Ctx&, const Json&) override {
    return Json::array({{{"id", "HELLOUSDT"}, {"symbol", "HELLO/USDT"},
                         {"base", "HELLO"}, {"quote", "USDT"}, {"spot", true},
                         {"active", true}}});
  }
  Json fetchTicker(const Ctx&, const std::string& symbol, const Json&) override {
    if (symbol != "HELLO/USDT")
      throw CcxtError("BadSymbol", "hello does not have market symbol " + symbol);
    return {{"symbol", symbol}, {"last", price_}, {"bid", price_}, {"ask", price_}};
  }

 private:
  double price_;
};

class HelloPlugin final : public ami::plugin::ConnectorFactory {
 public:
  ami::plugin::PluginInfo Info() const override {
    return {"hello", ami::plugin::PluginKind::kExchangeConnector, "0.1.0",
            "example connector with one fixed-price market"};
  }
  ami::plugin::CallResult Create(const std::string& options_json,
                                 std::unique_ptr<ami::plugin::ExchangeConnector>& out) override {
    Json options = Json::parse(options_json, nullptr, /*allow_exceptions=*/false);
    if (!options.is_object())
      return ami::plugin::CallResult::Error("BadRequest", "options must be an object");
    double price = 100;
    if (options.contains("price")) {
      const Json& p = options["price"];
      try {
        price = p.is_string() ? std::stod(p.get<std::string>()) : p.get<double>();
      } catch (...) {
        return ami::plugin::CallResult::Error("BadRequest",
                                              "option price: expected a number, got " + p.dump());
      }
    }
    out = std::make_unique<HelloConnector>(price);
    return ami::plugin::CallResult::Ok("null");
  }
};

std::unique_ptr<ami::plugin::Plugin> CreatePlugin() { return std::make_unique<HelloPlugin>(); }

}  // namespace hello

// Exports ami_plugin_abi_version and ami_plugin_factory.
AMI_PLUGIN_EXPORT(hello::CreatePlugin)
