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

#include <functional>
#include <memory>
#include <string>

#include "ami/plugin/call.h"
#include "ami/plugin/plugin.h"

namespace ami::plugin {

// Receives the outcome of an asynchronous call. Called exactly once, from any thread
// (possibly inside CallAsync itself); must not block. The host makes it cheap and
// thread-safe; a call the host already answered (its deadline passed, or the worker
// stopped) simply ignores it.
using CallCompletion = std::function<void(CallResult)>;

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

  // What the host actually calls (ABI 2). The default runs Call() and completes at once.
  // Override it for calls that wait on the exchange rather than on a request — CCXT Pro
  // streams (`watchTicker`, `watchOrderBook`, …): register `done` and return, then
  // complete it from your stream thread when the update arrives. Such a call then holds
  // none of the host's threads while it waits. Must not throw; `done` must be called
  // exactly once (an exception escaping here is answered as ExchangeError by the host).
  virtual void CallAsync(const CallContext& ctx, const std::string& method,
                         const std::string& args_json, CallCompletion done) {
    done(Call(ctx, method, args_json));
  }

  // The worker `worker_sid` stopped (ABI 2): complete every call of its that is still
  // waiting (streams) with an error — CCXT's `ExchangeClosedByUser` — so the script's
  // `await` ends with an exception it can catch, and forget its per-worker state
  // (stream cursors). Called from a host thread; must not block or throw.
  virtual void CancelWorker(const std::string& worker_sid) { (void)worker_sid; }
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
