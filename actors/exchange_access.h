// How workers reach exchanges: the node's exchange directory (connector instances by
// exchange id, accounts with their credentials), the thread pool connector calls run on,
// and the runtime's half of order idempotency (client order ids, which failures are
// retried).
//
// Connector calls are synchronous and may block (network I/O, injected latency), so they
// never run on an actor's turn: the worker hands them to the ConnectorPool and the result
// comes back to it as a message.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "ami/plugin/call.h"
#include "ami/plugin/exchange_connector.h"
#include "runtime/config/config.h"

namespace ami {
namespace plugins {
class PluginRegistry;
}

struct ExchangeEntry {
  std::shared_ptr<plugin::ExchangeConnector> connector;  // null when unavailable
  std::string unavailable;                               // why, when connector is null
};

struct AccountEntry {
  std::string exchange;
  plugin::Credentials credentials;   // never logged
};

struct ExchangeDirectory {
  std::map<std::string, ExchangeEntry> exchanges;   // by exchange id ("bybit")
  std::map<std::string, AccountEntry> accounts;     // by account id ("g-bhts")
  std::string exchanges_json = "[]";                // for js::EngineOptions
  std::string error_classes_json = "[]";
  std::vector<nlohmann::json> plugins;              // loaded plugins, for logs and the admin API
  std::shared_ptr<plugins::PluginRegistry> registry;  // keeps plugin libraries loaded
};

// Loads the plugins in config.plugin_dirs and makes one connector per configured
// exchange (options from the config, plus exchange_id and a data_dir under the node's).
// Problems — a plugin that does not load, an exchange whose connector is missing or
// refuses its options — are reported in *problems and leave that exchange unavailable:
// its calls fail with ExchangeNotAvailable naming the reason. Nothing here is fatal.
std::shared_ptr<ExchangeDirectory> BuildExchangeDirectory(const Config& config,
                                                          std::vector<std::string>* problems);

// ---- order idempotency ------------------------------------------------------------
// Every order a worker creates carries a clientOrderId, so a call repeated after a lost
// answer finds the order made the first time (connectors honour params.clientOrderId,
// see docs/plugin-author-guide.md) instead of placing a second one.

// createOrder and its CCXT conveniences (createLimitOrder, createMarketBuyOrder, …).
bool IsOrderCreation(std::string_view method);

// "ami-<first 8 characters of sid>-<epoch>-<seq>". `epoch` tells apart the worker's
// lives (the worker builds it; see worker_actor.h): "<term>-<start>" for a leader-mode
// worker, "<start>" otherwise, where start is the worker actor's start time in ms in
// Base36 (8 characters until the year 2059). At most 36 characters (exchanges' usual
// limit) while the term stays below 10^6 and `seq` below 10^7.
std::string MakeClientOrderId(std::string_view sid, std::string_view epoch, uint64_t seq);
std::string Base36(uint64_t n);

// For an order-creation call: sets params.clientOrderId in `*args_json` (the call's
// positional arguments) to `generated` unless the script gave one, which is kept as is.
// Returns the clientOrderId the call now carries; "" when it cannot carry one (arguments
// not a JSON array, params not an object — the connector refuses such a call anyway).
std::string EnsureClientOrderId(std::string_view method, std::string* args_json, const std::string& generated);

// Whether an order creation that failed with `error_class` may nevertheless have
// reached the exchange, so the runtime repeats it with the same clientOrderId:
// RequestTimeout and NetworkError itself — not the rest of the network family
// (RateLimitExceeded, ExchangeNotAvailable, … say the request was turned away) nor any
// refusal (InvalidOrder, InsufficientFunds, …).
bool IsAmbiguousFailure(std::string_view error_class);

// A failed order creation is sent up to twice more, after these pauses.
inline constexpr std::chrono::milliseconds kOrderRetryDelays[] = {std::chrono::milliseconds(100),
                                                                  std::chrono::milliseconds(400)};

// A fixed set of threads running submitted tasks in order of submission.
class ConnectorPool {
 public:
  explicit ConnectorPool(int threads);
  ~ConnectorPool();  // finishes queued tasks, then joins
  void Submit(std::function<void()> task);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;   // guarded by mu_
  bool stopping_ = false;                     // guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace ami
