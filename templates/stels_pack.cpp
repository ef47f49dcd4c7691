// The "stels" template pack: the eight templates of the STELS AMI editor guide
// (shared/design/stels-compat.md §5), rewritten for this runtime with the known flaws
// fixed (§7, docs/templates.md). The scripts live in scripts/*.js.
#include "ami/plugin/sdk.h"

extern const char kTemplate_grid_trading[];
extern const char kTemplate_dca_strategy[];
extern const char kTemplate_market_monitor[];
extern const char kTemplate_balance_monitor[];
extern const char kTemplate_price_aggregator[];
extern const char kTemplate_health_check[];
extern const char kTemplate_log_cleanup[];
extern const char kTemplate_empty[];

namespace {

using ami::plugin::Template;

Template Make(const char* id, const char* name, const char* description, const char* category,
              const char* icon, const char* execution_mode, const char* priority, const char* mode,
              const char* scope, const char* script) {
  Template t;
  t.id = id;
  t.name = name;
  t.description = description;
  t.category = category;
  t.icon = icon;
  t.defaults.execution_mode = execution_mode;
  t.defaults.priority = priority;
  t.defaults.mode = mode;
  t.defaults.scope = scope;
  t.script = script;
  return t;
}

class StelsPack final : public ami::plugin::TemplatePack {
 public:
  ami::plugin::PluginInfo Info() const override {
    return {"stels", ami::plugin::PluginKind::kTemplatePack, "1.19.2",
            "the eight STELS AMI editor templates (grid, DCA, monitors, aggregator, health, cleanup, empty)"};
  }

  std::vector<Template> Templates() const override {
    std::vector<Template> out;
    out.push_back(Make("grid-trading", "Grid Trading",
                       "Places a grid of 10 limit orders around the BTC/USDT price on Bybit, each level once",
                       "trading", "📊", "leader", "critical", "loop", "network", kTemplate_grid_trading));
    out.push_back(Make("dca-strategy", "DCA Strategy",
                       "Dollar-cost averaging: buys BTC/USDT on Binance every hour and records each buy",
                       "trading", "💰", "leader", "high", "single", "network", kTemplate_dca_strategy));
    out.push_back(Make("market-monitor", "Market Monitor",
                       "Every node writes BTC, ETH and SOL tickers to the network store",
                       "monitoring", "📈", "parallel", "normal", "loop", "local", kTemplate_market_monitor));
    out.push_back(Make("balance-monitor", "Balance Monitor",
                       "Every node writes the account's equity and available balance to the network store",
                       "monitoring", "💵", "parallel", "critical", "loop", "local", kTemplate_balance_monitor));
    out.push_back(Make("price-aggregator", "Price Aggregator",
                       "Mean, min, max and spread of the prices the nodes reported, per market",
                       "analytics", "🔢", "leader", "high", "loop", "network", kTemplate_price_aggregator));
    Template health = Make("health-check", "Health Check",
                           "Every node writes its memory, load and uptime to the network store",
                           "monitoring", "🏥", "parallel", "low", "loop", "local", kTemplate_health_check);
    health.dependencies = {};
    out.push_back(std::move(health));
    Template cleanup = Make("log-cleanup", "Log Cleanup",
                            "Deletes local log entries older than 7 days, on one node",
                            "maintenance", "🧹", "exclusive", "low", "loop", "local", kTemplate_log_cleanup);
    cleanup.defaults.assigned_node = "s-0001";
    cleanup.dependencies = {};
    out.push_back(std::move(cleanup));
    out.push_back(Make("empty", "Empty Script", "A minimal script to start from: two log lines",
                       "analytics", "📝", "parallel", "normal", "loop", "local", kTemplate_empty));
    return out;
  }
};

std::unique_ptr<ami::plugin::Plugin> MakePlugin() { return std::make_unique<StelsPack>(); }

}  // namespace

AMI_PLUGIN_EXPORT(MakePlugin)
