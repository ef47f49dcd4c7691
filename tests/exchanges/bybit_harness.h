// A bybit connector (ami_bybit_core, linked directly) against a MockBybit, for the
// connector-level tests: calls by method name and JSON arguments, as the host makes them.
#pragma once

#include <catch2/catch.hpp>

#include <future>
#include <memory>
#include <string>
#include <vector>

#include "bybit_connector.h"
#include "bybit_options.h"
#include "tests/exchanges/mock_bybit.h"

namespace ami::test::bybit {

inline plugin::CallContext Account(const std::string& sid = "w-1") {
  plugin::CallContext ctx;
  ctx.worker_sid = sid;
  ctx.account_id = "main";
  ctx.credentials = {"test-key", "test-secret"};
  return ctx;
}

struct Harness {
  explicit Harness(MockBybit::Options mock_options = {}, int http_timeout_ms = 1000, std::string base_url = "")
      : mock(std::move(mock_options)) {
    exchanges::bybit::BybitOptions o;
    std::string error;
    nlohmann::json opts = {{"exchange_id", "bybit"},
                           {"base_url", base_url.empty() ? mock.base_url() : base_url},
                           {"ws_url", mock.ws_url()},
                           {"verify_tls", "false"},
                           {"http_timeout", std::to_string(http_timeout_ms) + "ms"}};
    REQUIRE(exchanges::bybit::ParseOptions(opts, o, error));
    connector = std::make_unique<exchanges::bybit::BybitConnector>(o);
  }

  // Arguments as a list (a braced pair such as {"BTC/USDT", 5} would otherwise become a
  // JSON object).
  using Args = std::vector<nlohmann::json>;
  static std::string Dump(const Args& args) { return nlohmann::json(args).dump(); }

  plugin::CallResult Call(const std::string& method, const Args& args, const plugin::CallContext& ctx = Account()) {
    return connector->Call(ctx, method, Dump(args));
  }
  nlohmann::json Ok(const std::string& method, const Args& args, const plugin::CallContext& ctx = Account()) {
    auto r = Call(method, args, ctx);
    INFO(method << " " << Dump(args) << " -> " << r.error_class << ": " << r.message);
    REQUIRE(r.ok);
    return nlohmann::json::parse(r.json);
  }
  std::string ErrorOf(const std::string& method, const Args& args, const plugin::CallContext& ctx = Account()) {
    auto r = Call(method, args, ctx);
    INFO(method << " -> " << r.json << " " << r.message);
    CHECK_FALSE(r.ok);
    return r.error_class;
  }
  // An asynchronous (stream) call; the future holds its completion.
  std::future<plugin::CallResult> Watch(const std::string& method, const Args& args,
                                        const plugin::CallContext& ctx = Account()) {
    auto promise = std::make_shared<std::promise<plugin::CallResult>>();
    auto future = promise->get_future();
    connector->CallAsync(ctx, method, Dump(args), [promise](plugin::CallResult r) { promise->set_value(std::move(r)); });
    return future;
  }
  static nlohmann::json Await(std::future<plugin::CallResult>& f, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    REQUIRE(f.wait_for(limit) == std::future_status::ready);
    auto r = f.get();
    INFO(r.error_class << ": " << r.message);
    REQUIRE(r.ok);
    return nlohmann::json::parse(r.json);
  }

  MockBybit mock;
  std::unique_ptr<exchanges::bybit::BybitConnector> connector;
};

}  // namespace ami::test::bybit
