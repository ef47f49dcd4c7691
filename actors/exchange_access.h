// How workers reach exchanges: the node's exchange directory (connector instances by
// exchange id, accounts with their credentials), each exchange's bulkhead (its own
// bounded thread pool, with a deadline on every call), and the runtime's half of order
// idempotency (client order ids, which failures are retried).
//
// Connector calls may block (a REST request, injected latency) or complete later from a
// plugin thread (CallAsync: streams such as watchTicker), so they never run on an
// actor's turn: the worker hands them to the exchange's bulkhead and the result comes
// back to it as a message. Plugin code is never trusted to behave: every call into it is
// guarded (plugins/loader.h GuardPluginCall), a slow or hung exchange only ever occupies
// its own threads, and a call answers by its deadline whatever the plugin does.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ami/plugin/call.h"
#include "ami/plugin/exchange_connector.h"
#include "runtime/config/config.h"
#include "runtime/stats/op_metrics.h"

namespace ami {
namespace plugins {
class PluginRegistry;
}

class ExchangeBulkhead;

struct ExchangeEntry {
  std::string plugin_id;                                 // the connector plugin ("paper")
  std::shared_ptr<plugin::ExchangeConnector> connector;  // null when unavailable
  std::shared_ptr<ExchangeBulkhead> bulkhead;            // where its calls run; null when unavailable
  std::shared_ptr<ExchangeCallMetrics> metrics;          // its calls for /metrics; null when unavailable
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
// exchange (options from the config, plus exchange_id and a data_dir under the node's),
// each with its bulkhead (ExchangeSection::threads, ::timeout). Problems — a plugin that
// does not load, an exchange whose connector is missing, refuses its options, throws
// from Create or Describe or does not return from them within the exchange's timeout
// (that thread is left behind), or describes itself as {"error": …} — are reported in
// *problems and leave that exchange unavailable: its calls fail with
// ExchangeNotAvailable naming the reason. Nothing here is fatal.
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

// ---- bulkheads ---------------------------------------------------------------------

// The lease deadline a worker's calls carry. A leader-mode worker moves it with every
// grant (renewals included) and closes it when it stops; a call not yet sent to the
// connector when the deadline has passed (or the gate is closed) is refused with
// PermissionDenied and never reaches the connector. Thread-safe.
class LeaseGate {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  LeaseGate() = default;
  // The lease ends at `deadline` (TimePoint::max(): no lease needed; min(): no lease);
  // reopens a closed gate.
  void SetDeadline(TimePoint deadline);
  // The worker stopped: nothing more may be sent for it.
  void Close() { closed_.store(true); }
  // "" when a call may be sent at `now`; otherwise why not.
  std::string Refusal(TimePoint now) const;

 private:
  std::atomic<TimePoint::rep> deadline_{TimePoint::max().time_since_epoch().count()};
  std::atomic<bool> closed_{false};
};

// One call for a bulkhead. `done` is called exactly once (see ExchangeBulkhead), on any
// thread, possibly inside Submit(); it must not block.
struct ExchangeCallTask {
  plugin::CallContext ctx;
  std::string method;
  std::string args_json;
  std::shared_ptr<const LeaseGate> lease;           // null: not checked
  std::function<void(plugin::CallResult)> done;
};

// Each exchange's own bounded pool (a bulkhead): `threads` threads hand calls to its
// connector, at most `queue_capacity` more wait, so a slow or hung exchange only ever
// holds up its own calls. Contract:
//   - Submit() never blocks. A call is refused at once (done called inside Submit) with
//     ExchangeNotAvailable when the queue is full ("queue full") or the bulkhead is
//     shutting down, and with PermissionDenied when its lease gate refuses.
//   - A pool thread hands a call to the connector with CallAsync (through
//     plugins::CallConnectorAsync) and is free again as soon as CallAsync returns. A
//     plugin that answers inside CallAsync (the default: it runs Call) holds the thread
//     for the call, as a blocking request must; one that registers the completion and
//     returns (a stream wait) holds none while it waits. The completion — inside
//     CallAsync or later on any plugin thread — answers the call if its deadline has not
//     passed; it holds the bulkhead only weakly (a completion the plugin keeps never
//     keeps the bulkhead alive).
//   - Every call has a deadline, `timeout` after Submit(). When it passes first, `done`
//     gets RequestTimeout — whether the call still waited in the queue (then it leaves
//     the queue and is never sent), its pool thread is still inside the plugin (logged
//     at warn; that thread stays busy until the plugin returns), or the plugin returned
//     from CallAsync and waits for the exchange (a stream with no update: normal, logged
//     at debug). A completion after the deadline is dropped and counted as late (logged
//     at warn when the thread was still inside the plugin, at debug for a stream wait).
//   - Right before a call is handed to the connector its lease gate is checked again: a
//     call whose lease ended meanwhile gets PermissionDenied and is not sent.
//   - An exception escaping CallAsync becomes ExchangeError naming the plugin and method,
//     logged; a second completion from the plugin is ignored (plugins/loader.h).
//   - `done` is called exactly once per submitted call — except for calls still queued
//     or running when the bulkhead is destroyed: those are dropped unanswered (their
//     owners, the worker actors, are gone by then).
//   - The destructor never waits for a hung plugin: threads still inside the plugin
//     after a short grace (1 s) are detached (they keep the connector, and so its library,
//     alive until they return).
class ExchangeBulkhead {
 public:
  struct Options {
    std::string exchange_id;        // for errors and logs ("bybit")
    std::string plugin_id;          // the connector plugin ("paper")
    int threads = 2;                // ExchangeSection::threads
    size_t queue_capacity = 128;    // calls waiting for a thread
    std::chrono::milliseconds timeout{30000};  // ExchangeSection::timeout
    // Counts every call by method and outcome, and times the answered ones from Submit()
    // to `done` (docs/metrics.md, "Exchanges"); null: not measured.
    std::shared_ptr<ExchangeCallMetrics> metrics;
  };
  // Counts since start, for tests and stats.
  struct Counters {
    uint64_t sent = 0;            // handed to the connector
    uint64_t answered = 0;        // the connector's answer reached `done`
    uint64_t timed_out = 0;       // RequestTimeout (queued or running)
    uint64_t late = 0;            // answers that came after their deadline, dropped
    uint64_t refused_lease = 0;   // PermissionDenied: the lease ended before sending
    uint64_t refused_full = 0;    // the queue was full
    uint64_t waiting = 0;         // now (not since start): returned from CallAsync, not completed yet
  };

  ExchangeBulkhead(Options options, std::shared_ptr<plugin::ExchangeConnector> connector);
  ~ExchangeBulkhead();
  ExchangeBulkhead(const ExchangeBulkhead&) = delete;
  ExchangeBulkhead& operator=(const ExchangeBulkhead&) = delete;

  void Submit(ExchangeCallTask task);
  // The worker `worker_sid` stopped: the connector's CancelWorker (through the guard) ends
  // its calls still waiting inside the connector with ExchangeClosedByUser — they answer
  // through their completions like any other answer — and forgets its per-worker state.
  // Runs on the caller's thread and does not wait for the pool (the plugin must not
  // block there). Calls of that worker still queued are not touched.
  void CancelWorker(const std::string& worker_sid);
  Counters counters() const;
  const Options& options() const;

 private:
  struct Shared;
  std::shared_ptr<Shared> shared_;
  // Not in Shared: a plugin thread holding a completion may end up holding the last
  // reference to Shared, and must never be the one to destroy the connector (a
  // connector's destructor joins its own threads).
  std::shared_ptr<plugin::ExchangeConnector> connector_;
};

// Calls waiting for a thread, per thread of the exchange's pool.
inline constexpr size_t kQueuedCallsPerThread = 64;

}  // namespace ami
