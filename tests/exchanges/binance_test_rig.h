// A binance connector (ami_binance_core, linked directly) in front of a MockBinance, for
// the connector-level tests: synchronous calls through ExchangeConnector::Call and
// streams through CallAsync with a completion the test waits on.
#pragma once

#include <catch2/catch.hpp>

#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "binance_connector.h"
#include "binance_options.h"
#include "tests/exchanges/mock_binance.h"
#include "tests/support/test_support.h"

namespace ami::test {

inline constexpr const char* kBinanceKey = "mock-key-1";
inline constexpr const char* kBinanceSecret = "mock-secret-1";

// The outcome of one asynchronous call, filled by its completion.
struct Pending {
  std::mutex mu;
  std::optional<plugin::CallResult> result;
  bool done() {
    std::lock_guard<std::mutex> lock(mu);
    return result.has_value();
  }
  plugin::CallResult get() {
    std::lock_guard<std::mutex> lock(mu);
    return *result;
  }
};

class BinanceRig {
 public:
  explicit BinanceRig(nlohmann::json options = nlohmann::json::object(),
                      MockBinance::Options mock_options = MockBinance::Options{})
      : mock(mock_options) {
    mock.AddAccount(kBinanceKey, kBinanceSecret);
    options["base_url"] = mock.http_url();
    options["ws_url"] = mock.ws_url();
    if (!options.contains("http_timeout")) options["http_timeout"] = "1s";
    exchanges::binance::BinanceOptions parsed;
    std::string error;
    INFO(error);
    REQUIRE(exchanges::binance::ParseOptions(options, parsed, error));
    connector = std::make_unique<exchanges::binance::BinanceConnector>(parsed);
  }

  static plugin::CallContext Account(const std::string& sid = "w-1") {
    plugin::CallContext ctx;
    ctx.worker_sid = sid;
    ctx.account_id = "main";
    ctx.credentials = {kBinanceKey, kBinanceSecret};
    return ctx;
  }

  plugin::CallResult Call(const std::string& method, const nlohmann::json& args,
                          const plugin::CallContext& ctx = Account()) {
    return connector->Call(ctx, method, args.dump());
  }
  nlohmann::json Ok(const std::string& method, const nlohmann::json& args,
                    const plugin::CallContext& ctx = Account()) {
    auto r = Call(method, args, ctx);
    INFO(method << ": " << r.error_class << " " << r.message);
    REQUIRE(r.ok);
    return nlohmann::json::parse(r.json);
  }
  // The class of a failing call ("ok" when it succeeded).
  std::string Fails(const std::string& method, const nlohmann::json& args,
                    const plugin::CallContext& ctx = Account()) {
    auto r = Call(method, args, ctx);
    return r.ok ? std::string("ok") : r.error_class;
  }

  std::shared_ptr<Pending> Watch(const std::string& method, const nlohmann::json& args,
                                 const std::string& sid = "w-1") {
    auto p = std::make_shared<Pending>();
    auto ctx = Account(sid);
    connector->CallAsync(ctx, method, args.dump(), [p](plugin::CallResult r) {
      std::lock_guard<std::mutex> lock(p->mu);
      p->result = std::move(r);
    });
    return p;
  }
  // Waits (deadline) for the call and returns its JSON; REQUIREs success.
  static nlohmann::json Await(const std::shared_ptr<Pending>& p,
                              std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    REQUIRE(Eventually([&] { return p->done(); }, timeout));
    auto r = p->get();
    INFO(r.error_class << " " << r.message);
    REQUIRE(r.ok);
    return nlohmann::json::parse(r.json);
  }
  bool Subscribed(const std::string& stream) {
    return Eventually([&] { return mock.Subscriptions().count(stream) > 0; }, std::chrono::seconds(10));
  }

  MockBinance mock;
  std::unique_ptr<exchanges::binance::BinanceConnector> connector;
};

}  // namespace ami::test
