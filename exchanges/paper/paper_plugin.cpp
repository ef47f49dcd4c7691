// The paper plugin's entry point: a ConnectorFactory with id "paper".
#include <memory>
#include <string>

#include "ami/plugin/export.h"
#include "ami/plugin/exchange_connector.h"
#include "paper_exchange.h"

namespace ami::paper {
namespace {

class PaperPlugin final : public plugin::ConnectorFactory {
 public:
  plugin::PluginInfo Info() const override {
    return {"paper", plugin::PluginKind::kExchangeConnector, kPaperVersion,
            "simulated spot exchange (BTC/USDT, ETH/USDT, SOL/USDT) with persistent state"};
  }

  plugin::CallResult Create(const std::string& options_json,
                            std::unique_ptr<plugin::ExchangeConnector>& out) override {
    try {
      nlohmann::json options = nlohmann::json::parse(options_json.empty() ? "{}" : options_json);
      PaperOptions parsed;
      std::string error;
      if (!ParseOptions(options, parsed, error))
        return plugin::CallResult::Error(plugin::errc::kBadRequest, error);
      auto exchange = PaperExchange::Create(std::move(parsed), error);
      if (!exchange) return plugin::CallResult::Error(plugin::errc::kExchangeError, error);
      out = PaperExchange::MakeDurable(std::move(exchange));
      return plugin::CallResult::Ok("null");
    } catch (const std::exception& e) {
      return plugin::CallResult::Error(plugin::errc::kBadRequest,
                                       std::string("bad options: ") + e.what());
    }
  }
};

}  // namespace

std::unique_ptr<plugin::Plugin> CreatePaperPlugin() { return std::make_unique<PaperPlugin>(); }

}  // namespace ami::paper

AMI_PLUGIN_EXPORT(ami::paper::CreatePaperPlugin)
