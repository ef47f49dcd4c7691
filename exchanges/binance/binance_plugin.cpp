// The binance plugin's entry point: a ConnectorFactory with id "binance". All the
// connector code is in the ami_binance_core library (so tests link it directly).
#include <memory>
#include <string>

#include "ami/plugin/exchange_connector.h"
#include "ami/plugin/export.h"
#include "binance_connector.h"

namespace ami::exchanges::binance {
namespace {

class BinancePlugin final : public plugin::ConnectorFactory {
 public:
  plugin::PluginInfo Info() const override {
    return {"binance", plugin::PluginKind::kExchangeConnector, kBinanceVersion,
            "Binance spot (/api/v3) and USDⓈ-M futures (/fapi/v1): REST and streams"};
  }
  plugin::CallResult Create(const std::string& options_json,
                            std::unique_ptr<plugin::ExchangeConnector>& out) override {
    return CreateBinanceConnector(options_json, out);
  }
};

}  // namespace

std::unique_ptr<plugin::Plugin> CreateBinancePlugin() { return std::make_unique<BinancePlugin>(); }

}  // namespace ami::exchanges::binance

AMI_PLUGIN_EXPORT(ami::exchanges::binance::CreateBinancePlugin)
