// Exchange connectors: what `Stels.runtime.cex.<id>` calls. Part of the plugin SDK.
//
// ABI design: one generic entry point plus a self-description, instead of one virtual
// per CCXT method. Adding a CCXT method, an argument or a connector-specific extension
// then never changes a vtable (no ABI bump), and a JS binding is a single function:
//
//     result = connector->Call(ctx, "createOrder", JSON.stringify([...arguments]))
//     if (result.ok) return JSON.parse(result.json)
//     else throw new ccxt[result.error_class](result.message)
//
// Plugin authors normally derive from ConnectorBase (connector_base.h), which parses the
// arguments and dispatches to typed virtual methods named like CCXT's.
#pragma once

#include <memory>
#include <string>

#include "ami/plugin/call.h"
#include "ami/plugin/plugin.h"

namespace ami::plugin {

// One configured exchange instance (e.g. node config `exchanges.bybit: {connector: paper}`).
// Thread-safety: the host calls Call() from several threads at once, off the worker
// actors' turns; implementations must be thread-safe. Calls are synchronous and may
// block (network I/O, injected latency); they must never throw.
class ExchangeConnector {
 public:
  virtual ~ExchangeConnector() = default;

  // JSON object describing the instance:
  //   {"id": "paper", "name": "Paper Exchange", "version": "1.0.0", "countries": [],
  //    "has": {"fetchTicker": true, "createOrder": true, "fetchOHLCV": false, ...},
  //    "methods": [{"name": "createOrder",
  //                 "args": ["symbol", "type", "side", "amount", "price", "params"],
  //                 "required": 4, "private": true}, ...],
  //    ... connector-specific extras (e.g. "timeframes", "precisionMode")}
  // `methods` lists every callable method (supported CCXT ones and extensions).
  virtual std::string Describe() const = 0;

  // Calls `method` (a CCXT camelCase name from ccxt.h, or an extension listed in
  // Describe()) with `args_json`: a JSON array of the positional arguments in CCXT order.
  // Trailing arguments may be omitted; null means "not given" (JS undefined).
  // Returns the CCXT-shaped result as JSON text, or an error with a CCXT class name.
  virtual CallResult Call(const CallContext& ctx, const std::string& method,
                          const std::string& args_json) = 0;
};

// The plugin object of kind kExchangeConnector: makes connector instances.
class ConnectorFactory : public Plugin {
 public:
  ConnectorFactory* AsConnectorFactory() final { return this; }

  // Makes one instance from `options_json`, the JSON object of the exchange's options
  // in the node config (values may arrive as strings: "seed": "42"). On success sets
  // `out` and returns ok; on bad options returns an error (class "BadRequest") whose
  // message names the option. Must not throw.
  virtual CallResult Create(const std::string& options_json,
                            std::unique_ptr<ExchangeConnector>& out) = 0;
};

}  // namespace ami::plugin
