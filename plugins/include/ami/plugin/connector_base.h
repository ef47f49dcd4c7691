// ConnectorBase: the convenient way to write an ExchangeConnector. It lives entirely in
// this header, so it is compiled into the plugin and is NOT part of the ABI: the host
// only ever sees ExchangeConnector::Describe(), ::Call(), ::CallAsync() and ::CancelWorker().
//
// Derive from it, return your metadata and `has` map, and override the CCXT methods you
// support (typed arguments, nlohmann::json results). Report errors by throwing
// CcxtError("InsufficientFunds", "...") — Call() catches everything and turns it into a
// CallResult, so no exception ever leaves the plugin. Methods you do not override answer
// NotSupported. Methods that are not CCXT ones go to CallExtension().
//
// Convenience CCXT methods are mapped for you: createLimitOrder, createMarketOrder,
// createLimitBuyOrder, createLimitSellOrder, createMarketBuyOrder, createMarketSellOrder
// all call createOrder(symbol, type, side, amount, price, params).
//
// Streams (CCXT Pro `watch*`, listed in ccxt.h): CallAsync() checks the arguments, runs
// beforeCall(), then hands the call to Watch() with its completion — register it in a
// net::StreamHub and return; the stream thread completes it. Every other method keeps the
// synchronous path (Call()). An exception out of Watch() (or the argument checks) becomes
// an error completion, and the completion runs at most once whatever Watch() did with it
// (so a Watch that registered `done` and then threw is answered once). afterCall() does
// not run for streams. Override CancelWorker() to forward to your hub.
#pragma once

#include <atomic>
#include <cmath>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "ami/plugin/call.h"
#include "ami/plugin/ccxt.h"
#include "ami/plugin/errors.h"
#include "ami/plugin/exchange_connector.h"

namespace ami::plugin {

// A JSON number, or a string holding exactly one ("0.001"), as CCXT arguments and
// YAML-sourced options allow; nullopt for anything else.
inline std::optional<double> ParseNumber(const nlohmann::json& v) {
  if (v.is_number()) return v.get<double>();
  if (!v.is_string()) return std::nullopt;
  const std::string s = v.get<std::string>();
  try {
    std::size_t used = 0;
    const double d = std::stod(s, &used);
    if (used == s.size()) return d;
  } catch (...) {
  }
  return std::nullopt;
}

// A CCXT error raised inside a connector. Call() converts it to a CallResult; it never
// crosses the plugin boundary.
class CcxtError : public std::runtime_error {
 public:
  CcxtError(std::string error_class, const std::string& message,
            nlohmann::json details = nullptr)
      : std::runtime_error(message),
        error_class_(std::move(error_class)),
        details_(std::move(details)) {}
  const std::string& error_class() const { return error_class_; }
  const nlohmann::json& details() const { return details_; }

 private:
  std::string error_class_;
  nlohmann::json details_;
};

// Typed access to the positional arguments of one call. Errors name the method and the
// argument: "createOrder: argument 'amount' must be a number, got \"abc\"".
class CallArgs {
 public:
  CallArgs(std::string method, nlohmann::json array, const MethodSpec* spec = nullptr)
      : method_(std::move(method)), a_(std::move(array)), spec_(spec) {}

  const std::string& method() const { return method_; }
  const nlohmann::json& raw() const { return a_; }
  std::size_t size() const { return a_.size(); }
  // Present and not null.
  bool has(std::size_t i) const { return i < a_.size() && !a_[i].is_null(); }

  std::string str(std::size_t i) const {
    if (!has(i)) Missing(i);
    if (!a_[i].is_string()) Wrong(i, "a string");
    return a_[i].get<std::string>();
  }
  std::optional<std::string> opt_str(std::size_t i) const {
    if (!has(i)) return std::nullopt;
    return str(i);
  }
  // Numbers may also be given as numeric strings ("0.001"), as CCXT accepts.
  double number(std::size_t i) const {
    if (!has(i)) Missing(i);
    if (auto d = ParseNumber(a_[i])) return *d;
    Wrong(i, "a number");
  }
  std::optional<double> opt_number(std::size_t i) const {
    if (!has(i)) return std::nullopt;
    return number(i);
  }
  std::optional<std::int64_t> opt_int(std::size_t i) const {
    if (!has(i)) return std::nullopt;
    double d = number(i);
    if (!std::isfinite(d) || d != std::floor(d)) Wrong(i, "an integer");
    return static_cast<std::int64_t>(d);
  }
  bool opt_bool(std::size_t i, bool fallback) const {
    if (!has(i)) return fallback;
    if (!a_[i].is_boolean()) Wrong(i, "a boolean");
    return a_[i].get<bool>();
  }
  // The `params` object: {} when not given.
  nlohmann::json params(std::size_t i) const {
    if (!has(i)) return nlohmann::json::object();
    if (!a_[i].is_object()) Wrong(i, "an object");
    return a_[i];
  }
  std::optional<std::vector<std::string>> opt_strings(std::size_t i) const {
    if (!has(i)) return std::nullopt;
    if (!a_[i].is_array()) Wrong(i, "an array of strings");
    std::vector<std::string> out;
    for (const auto& e : a_[i]) {
      if (!e.is_string()) Wrong(i, "an array of strings");
      out.push_back(e.get<std::string>());
    }
    return out;
  }

  std::string name(std::size_t i) const {
    if (spec_ && i < 7 && spec_->args[i]) return spec_->args[i];
    return "#" + std::to_string(i + 1);
  }
  [[noreturn]] void Missing(std::size_t i) const {
    throw CcxtError(errc::kArgumentsRequired,
                    method_ + "() requires argument '" + name(i) + "'");
  }
  [[noreturn]] void Wrong(std::size_t i, const char* what) const {
    throw CcxtError(errc::kBadRequest, method_ + ": argument '" + name(i) + "' must be " +
                                           what + ", got " + a_[i].dump());
  }

 private:
  std::string method_;
  nlohmann::json a_;
  const MethodSpec* spec_;
};

// A non-CCXT method a connector offers (listed in Describe().methods).
struct ExtensionMethod {
  std::string name;
  std::vector<std::string> args;
  int required = 0;
  bool is_private = false;
};

class ConnectorBase : public ExchangeConnector {
 public:
  using Json = nlohmann::json;
  using Ctx = CallContext;

  std::string Describe() const final {
    try {
      return DescribeJson().dump();
    } catch (const std::exception& e) {
      return Json{{"error", e.what()}}.dump();
    } catch (...) {
      return "{}";
    }
  }

  CallResult Call(const CallContext& ctx, const std::string& method,
                  const std::string& args_json) final {
    try {
      if (IsCcxtStreamMethod(method))
        throw CcxtError(errc::kNotSupported,
                        method + "() is a stream: it is answered through CallAsync()");
      Json out = Dispatch(ctx, method, ParseArgs(method, args_json));
      afterCall(ctx, method, out);
      return CallResult::Ok(out.dump());
    } catch (...) {
      return ErrorFromCurrentException(method);
    }
  }

  void CallAsync(const CallContext& ctx, const std::string& method,
                 const std::string& args_json, CallCompletion done) final {
    if (!IsCcxtStreamMethod(method)) {
      done(Call(ctx, method, args_json));
      return;
    }
    // Whoever fires first (Watch's stream thread, or the catch below) wins; the
    // completion is released after it ran, so what it holds is freed early.
    struct Once {
      std::atomic<bool> fired{false};
      CallCompletion done;
    };
    auto once = std::make_shared<Once>();
    once->done = std::move(done);
    CallCompletion guarded = [once](CallResult result) {
      if (once->fired.exchange(true)) return;
      CallCompletion d = std::move(once->done);
      if (d) d(std::move(result));
    };
    try {
      const MethodSpec* spec = FindCcxtMethod(method);
      CallArgs a(method, ParseArgs(method, args_json), spec);
      for (int i = 0; i < spec->required; ++i)
        if (!a.has(i)) a.Missing(i);
      CheckStreamArgs(a);
      beforeCall(ctx, method);
      Watch(ctx, method, a, guarded);
    } catch (...) {
      guarded(ErrorFromCurrentException(method));
    }
  }

 protected:
  // --- what the connector is -------------------------------------------------------
  virtual std::string id() const = 0;                 // connector id, e.g. "paper"
  virtual std::string name() const { return id(); }   // display name
  virtual std::string version() const { return "0.0.0"; }
  virtual std::vector<std::string> countries() const { return {}; }
  // {"fetchTicker": true, ...}: the CCXT methods you implement. Missing names are false.
  virtual Json has() const = 0;
  // Non-CCXT methods you handle in CallExtension().
  virtual std::vector<ExtensionMethod> extensions() const { return {}; }
  // Extra members merged into Describe() (e.g. "timeframes", "precisionMode").
  virtual Json describeExtra() const { return Json::object(); }

  // Runs before every call (CCXT or extension); throw CcxtError to refuse it. A place
  // for fencing, rate limits, injected faults.
  virtual void beforeCall(const Ctx& ctx, const std::string& method) {}
  // Runs after a call succeeded, before its result is returned; may rewrite `result` or
  // throw CcxtError to report a failure instead (e.g. a simulated lost response).
  virtual void afterCall(const Ctx& ctx, const std::string& method, Json& result) {}

  // --- CCXT methods (default: NotSupported) ----------------------------------------
  // Default: fetchMarkets() keyed by symbol (so a connector with fetchMarkets gets
  // loadMarkets for free).
  virtual Json loadMarkets(const Ctx& ctx, bool reload, const Json& params) {
    Json list = fetchMarkets(ctx, params);
    Json out = Json::object();
    for (const auto& m : list)
      if (m.is_object() && m.contains("symbol") && m["symbol"].is_string())
        out[m["symbol"].get<std::string>()] = m;
    return out;
  }
  virtual Json fetchMarkets(const Ctx&, const Json& params) { return Unsupported("fetchMarkets"); }
  virtual Json fetchTicker(const Ctx&, const std::string& symbol, const Json& params) { return Unsupported("fetchTicker"); }
  virtual Json fetchTickers(const Ctx&, const std::optional<std::vector<std::string>>& symbols, const Json& params) { return Unsupported("fetchTickers"); }
  virtual Json fetchOrderBook(const Ctx&, const std::string& symbol, std::optional<std::int64_t> limit, const Json& params) { return Unsupported("fetchOrderBook"); }
  virtual Json fetchTrades(const Ctx&, const std::string& symbol, std::optional<std::int64_t> since, std::optional<std::int64_t> limit, const Json& params) { return Unsupported("fetchTrades"); }
  virtual Json fetchOHLCV(const Ctx&, const std::string& symbol, const std::string& timeframe, std::optional<std::int64_t> since, std::optional<std::int64_t> limit, const Json& params) { return Unsupported("fetchOHLCV"); }
  virtual Json fetchBalance(const Ctx&, const Json& params) { return Unsupported("fetchBalance"); }
  virtual Json createOrder(const Ctx&, const std::string& symbol, const std::string& type, const std::string& side, double amount, std::optional<double> price, const Json& params) { return Unsupported("createOrder"); }
  virtual Json cancelOrder(const Ctx&, const std::string& id, const std::optional<std::string>& symbol, const Json& params) { return Unsupported("cancelOrder"); }
  virtual Json cancelAllOrders(const Ctx&, const std::optional<std::string>& symbol, const Json& params) { return Unsupported("cancelAllOrders"); }
  virtual Json fetchOrder(const Ctx&, const std::string& id, const std::optional<std::string>& symbol, const Json& params) { return Unsupported("fetchOrder"); }
  virtual Json fetchOrders(const Ctx&, const std::optional<std::string>& symbol, std::optional<std::int64_t> since, std::optional<std::int64_t> limit, const Json& params) { return Unsupported("fetchOrders"); }
  virtual Json fetchOpenOrders(const Ctx&, const std::optional<std::string>& symbol, std::optional<std::int64_t> since, std::optional<std::int64_t> limit, const Json& params) { return Unsupported("fetchOpenOrders"); }
  virtual Json fetchClosedOrders(const Ctx&, const std::optional<std::string>& symbol, std::optional<std::int64_t> since, std::optional<std::int64_t> limit, const Json& params) { return Unsupported("fetchClosedOrders"); }
  virtual Json fetchMyTrades(const Ctx&, const std::optional<std::string>& symbol, std::optional<std::int64_t> since, std::optional<std::int64_t> limit, const Json& params) { return Unsupported("fetchMyTrades"); }

  // Non-CCXT methods (those listed by extensions()).
  virtual Json CallExtension(const Ctx&, const std::string& method, const CallArgs& args) {
    return Unsupported(method);
  }

  // CCXT Pro streams: watchTicker(symbol, params), watchOrderBook(symbol, limit, params),
  // watchTrades(symbol, since, limit, params), watchOrders(symbol, since, limit, params).
  // `args` are checked already (required present, types as above). Complete `done` once,
  // from any thread, with the CCXT-shaped update (usually: StreamHub::Wait); must not
  // block. Default: NotSupported.
  virtual void Watch(const Ctx&, const std::string& method, const CallArgs& args,
                     CallCompletion done) {
    done(CallResult::Error(errc::kNotSupported, id() + " does not support " + method + "()"));
  }

  [[noreturn]] Json Unsupported(const std::string& method) const {
    throw CcxtError(errc::kNotSupported, id() + " does not support " + method + "()");
  }

  Json DescribeJson() const {
    Json h = has();
    if (!h.is_object()) h = Json::object();
    auto supported = [&](const char* m) { return h.contains(m) && h[m] == true; };
    if (supported("fetchMarkets") && !h.contains("loadMarkets")) h["loadMarkets"] = true;
    if (supported("createOrder")) {
      for (const char* m : {"createLimitOrder", "createMarketOrder", "createLimitBuyOrder",
                            "createLimitSellOrder", "createMarketBuyOrder",
                            "createMarketSellOrder"})
        if (!h.contains(m)) h[m] = true;
    }
    Json methods = Json::array();
    for (const auto& spec : kCcxtMethods) {
      if (!h.contains(spec.name)) h[spec.name] = false;
      if (!supported(spec.name)) continue;
      Json args = Json::array();
      for (const char* a : spec.args)
        if (a) args.push_back(a);
      methods.push_back({{"name", spec.name}, {"args", std::move(args)},
                         {"required", spec.required}, {"private", spec.is_private}});
    }
    for (const auto& ext : extensions())
      methods.push_back({{"name", ext.name}, {"args", ext.args}, {"required", ext.required},
                         {"private", ext.is_private}, {"extension", true}});
    Json out = {{"id", id()},         {"name", name()},   {"version", version()},
                {"countries", countries()}, {"has", std::move(h)},
                {"methods", std::move(methods)}};
    const Json extra = describeExtra();   // a named copy: items() must not outlive it
    if (extra.is_object())
      for (auto& [k, v] : extra.items()) out[k] = v;
    return out;
  }

 protected:
  // For a connector that answers some methods itself before Call (paper's text fast
  // path): the same argument parsing and error mapping as Call's.
  static Json ParseArgs(const std::string& method, const std::string& args_json) {
    Json args = args_json.empty() ? Json::array() : Json::parse(args_json);
    if (args.is_null()) args = Json::array();
    if (!args.is_array())
      throw CcxtError(errc::kBadRequest, method + ": arguments must be a JSON array");
    return args;
  }

  // The CallResult for the exception being handled (call only inside a catch block).
  static CallResult ErrorFromCurrentException(const std::string& method) {
    try {
      throw;
    } catch (const CcxtError& e) {
      return CallResult::Error(e.error_class(), e.what(), e.details().dump());
    } catch (const Json::exception& e) {
      return CallResult::Error(errc::kBadRequest, method + ": bad JSON: " + e.what());
    } catch (const std::exception& e) {
      return CallResult::Error(errc::kExchangeError, method + ": " + e.what());
    } catch (...) {
      return CallResult::Error(errc::kExchangeError, method + ": unknown failure");
    }
  }

 private:
  // Type checks of the watch* arguments, so Watch() may read them without surprises.
  static void CheckStreamArgs(const CallArgs& a) {
    const std::string_view m = a.method();
    if (m == "watchTicker") {
      (void)a.str(0), (void)a.params(1);
    } else if (m == "watchOrderBook") {
      (void)a.str(0), (void)a.opt_int(1), (void)a.params(2);
    } else {   // watchTrades, watchOrders: (symbol, since, limit, params)
      (void)a.opt_str(0), (void)a.opt_int(1), (void)a.opt_int(2), (void)a.params(3);
    }
  }

  Json Dispatch(const Ctx& ctx, const std::string& method, Json args) {
    const MethodSpec* spec = FindCcxtMethod(method);
    if (!spec) {
      for (const auto& ext : extensions()) {
        if (ext.name != method) continue;
        CallArgs a(method, std::move(args));
        for (int i = 0; i < ext.required; ++i)
          if (!a.has(i))
            throw CcxtError(errc::kArgumentsRequired,
                            method + "() requires argument '" + ext.args.at(i) + "'");
        beforeCall(ctx, method);
        return CallExtension(ctx, method, a);
      }
      throw CcxtError(errc::kNotSupported, id() + " has no method " + method + "()");
    }
    CallArgs a(method, std::move(args), spec);
    for (int i = 0; i < spec->required; ++i)
      if (!a.has(i)) a.Missing(i);
    beforeCall(ctx, method);
    const std::string_view m = method;
    if (m == "loadMarkets") return loadMarkets(ctx, a.opt_bool(0, false), a.params(1));
    if (m == "fetchMarkets") return fetchMarkets(ctx, a.params(0));
    if (m == "fetchTicker") return fetchTicker(ctx, a.str(0), a.params(1));
    if (m == "fetchTickers") return fetchTickers(ctx, a.opt_strings(0), a.params(1));
    if (m == "fetchOrderBook") return fetchOrderBook(ctx, a.str(0), a.opt_int(1), a.params(2));
    if (m == "fetchTrades")
      return fetchTrades(ctx, a.str(0), a.opt_int(1), a.opt_int(2), a.params(3));
    if (m == "fetchOHLCV")
      return fetchOHLCV(ctx, a.str(0), a.opt_str(1).value_or("1m"), a.opt_int(2),
                        a.opt_int(3), a.params(4));
    if (m == "fetchBalance") return fetchBalance(ctx, a.params(0));
    if (m == "createOrder")
      return createOrder(ctx, a.str(0), a.str(1), a.str(2), a.number(3), a.opt_number(4),
                         a.params(5));
    if (m == "createLimitOrder")
      return createOrder(ctx, a.str(0), "limit", a.str(1), a.number(2), a.number(3),
                         a.params(4));
    if (m == "createMarketOrder")
      return createOrder(ctx, a.str(0), "market", a.str(1), a.number(2), a.opt_number(3),
                         a.params(4));
    if (m == "createLimitBuyOrder")
      return createOrder(ctx, a.str(0), "limit", "buy", a.number(1), a.number(2), a.params(3));
    if (m == "createLimitSellOrder")
      return createOrder(ctx, a.str(0), "limit", "sell", a.number(1), a.number(2), a.params(3));
    if (m == "createMarketBuyOrder")
      return createOrder(ctx, a.str(0), "market", "buy", a.number(1), std::nullopt, a.params(2));
    if (m == "createMarketSellOrder")
      return createOrder(ctx, a.str(0), "market", "sell", a.number(1), std::nullopt, a.params(2));
    if (m == "cancelOrder") return cancelOrder(ctx, a.str(0), a.opt_str(1), a.params(2));
    if (m == "cancelAllOrders") return cancelAllOrders(ctx, a.opt_str(0), a.params(1));
    if (m == "fetchOrder") return fetchOrder(ctx, a.str(0), a.opt_str(1), a.params(2));
    if (m == "fetchOrders")
      return fetchOrders(ctx, a.opt_str(0), a.opt_int(1), a.opt_int(2), a.params(3));
    if (m == "fetchOpenOrders")
      return fetchOpenOrders(ctx, a.opt_str(0), a.opt_int(1), a.opt_int(2), a.params(3));
    if (m == "fetchClosedOrders")
      return fetchClosedOrders(ctx, a.opt_str(0), a.opt_int(1), a.opt_int(2), a.params(3));
    if (m == "fetchMyTrades")
      return fetchMyTrades(ctx, a.opt_str(0), a.opt_int(1), a.opt_int(2), a.params(3));
    return Unsupported(method);
  }
};

}  // namespace ami::plugin
