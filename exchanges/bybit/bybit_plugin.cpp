// The bybit plugin's entry point: a ConnectorFactory with id "bybit". Everything else is
// in the core library (ami_bybit_core), which the tests link directly.
#include <memory>
#include <string>

#include "ami/plugin/export.h"
#include "ami/plugin/exchange_connector.h"
#include "bybit_connector.h"
#include "bybit_options.h"

namespace ami::exchanges::bybit {
namespace {

class BybitPlugin final : public plugin::ConnectorFactory {
 public:
  plugin::PluginInfo Info() const override {
    return {"bybit", plugin::PluginKind::kExchangeConnector, kBybitVersion,
            "Bybit v5 unified API: spot and linear perpetuals, REST and streams"};
  }

  plugin::CallResult Create(const std::string& options_json,
                            std::unique_ptr<plugin::ExchangeConnector>& out) override {
    try {
      const nlohmann::json options = nlohmann::json::parse(options_json.empty() ? "{}" : options_json);
      BybitOptions parsed;
      std::string error;
      if (!ParseOptions(options, parsed, error)) return plugin::CallResult::Error(plugin::errc::kBadRequest, error);
      out = std::make_unique<BybitConnector>(std::move(parsed));
      return plugin::CallResult::Ok("null");
    } catch (const std::exception& e) {
      return plugin::CallResult::Error(plugin::errc::kBadRequest, std::string("bybit: bad options: ") + e.what());
    }
  }
};

}  // namespace

std::unique_ptr<plugin::Plugin> CreateBybitPlugin() { return std::make_unique<BybitPlugin>(); }

}  // namespace ami::exchanges::bybit

AMI_PLUGIN_EXPORT(ami::exchanges::bybit::CreateBybitPlugin)
