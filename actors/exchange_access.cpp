#include "actors/exchange_access.h"

#include <iterator>
#include <nlohmann/json.hpp>

#include "ami/plugin/ccxt.h"
#include "ami/plugin/errors.h"
#include "plugins/loader.h"

namespace ami {

std::shared_ptr<ExchangeDirectory> BuildExchangeDirectory(const Config& config,
                                                          std::vector<std::string>* problems) {
  auto dir = std::make_shared<ExchangeDirectory>();
  auto registry = std::make_shared<plugins::PluginRegistry>();
  for (const auto& path : config.plugin_dirs) registry->LoadPath(path);
  for (const auto& error : registry->errors()) problems->push_back("plugin refused: " + error.ToString());
  for (const auto& p : registry->plugins()) dir->plugins.push_back(p.ToJson());
  dir->registry = registry;

  nlohmann::json exchanges = nlohmann::json::array();
  for (const auto& ex : config.exchanges) {
    nlohmann::json options = nlohmann::json::object();
    for (const auto& [k, v] : ex.options) options[k] = v;
    options["exchange_id"] = ex.id;
    if (!options.contains("data_dir")) options["data_dir"] = (config.node.data_dir / "exchanges" / ex.id).string();
    ExchangeEntry entry;
    auto connector = registry->CreateConnector(ex.connector, options);
    // An unavailable exchange still offers every CCXT method, so a script's call gets a
    // clear ExchangeNotAvailable instead of "undefined is not a function".
    nlohmann::json methods = nlohmann::json::array();
    for (const auto& m : plugin::kCcxtMethods) methods.push_back({{"name", m.name}});
    nlohmann::json describe = {{"id", ex.id}, {"name", ex.id}, {"has", nlohmann::json::object()},
                               {"methods", std::move(methods)}};
    if (connector.ok()) {
      entry.connector = *connector;
      auto parsed = nlohmann::json::parse(entry.connector->Describe(), nullptr, false);
      if (parsed.is_object()) describe = std::move(parsed);
    } else {
      entry.unavailable = "exchange " + ex.id + " (connector " + ex.connector + ") is not available: " +
                          connector.status().message();
      problems->push_back(entry.unavailable);
    }
    exchanges.push_back({{"id", ex.id}, {"describe", std::move(describe)}});
    dir->exchanges[ex.id] = std::move(entry);
  }
  dir->exchanges_json = exchanges.dump();

  for (const auto& account : config.accounts)
    dir->accounts[account.id] = AccountEntry{account.exchange, {account.api_key, account.secret}};

  nlohmann::json classes = nlohmann::json::array();
  for (const auto& c : plugin::kErrorClasses)
    classes.push_back({c.name, c.parent ? nlohmann::json(c.parent) : nlohmann::json(nullptr)});
  dir->error_classes_json = classes.dump();
  return dir;
}

bool IsOrderCreation(std::string_view method) {
  const plugin::MethodSpec* spec = plugin::FindCcxtMethod(method);
  // createOrder, createLimitOrder, createMarketBuyOrder, …: CCXT's order-placing calls.
  return spec && method.rfind("create", 0) == 0 && method.size() >= 5 &&
         method.substr(method.size() - 5) == "Order";
}

std::string Base36(uint64_t n) {
  static constexpr char kDigits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
  std::string out;
  do {
    out.insert(out.begin(), kDigits[n % 36]);
    n /= 36;
  } while (n > 0);
  return out;
}

std::string MakeClientOrderId(std::string_view sid, std::string_view epoch, uint64_t seq) {
  std::string id = "ami-";
  id.append(sid.substr(0, 8));
  id.append("-").append(epoch).append("-").append(std::to_string(seq));
  return id;
}

std::string EnsureClientOrderId(std::string_view method, std::string* args_json, const std::string& generated) {
  const plugin::MethodSpec* spec = plugin::FindCcxtMethod(method);
  if (!spec) return "";
  size_t params_at = 0;
  while (params_at < std::size(spec->args) && spec->args[params_at] &&
         std::string_view(spec->args[params_at]) != "params")
    ++params_at;
  if (params_at == std::size(spec->args) || !spec->args[params_at]) return "";
  auto args = nlohmann::json::parse(*args_json, nullptr, false);
  if (!args.is_array()) return "";
  while (args.size() <= params_at) args.push_back(nullptr);
  nlohmann::json& params = args[params_at];
  if (params.is_null()) params = nlohmann::json::object();
  if (!params.is_object()) return "";
  auto given = params.find("clientOrderId");
  if (given != params.end() && !given->is_null()) {
    // The script's own id: kept exactly as given.
    return given->is_string() ? given->get<std::string>() : given->dump();
  }
  params["clientOrderId"] = generated;
  *args_json = args.dump();
  return generated;
}

bool IsAmbiguousFailure(std::string_view error_class) {
  return error_class == plugin::errc::kRequestTimeout || error_class == plugin::errc::kNetworkError;
}

ConnectorPool::ConnectorPool(int threads) {
  for (int i = 0; i < std::max(1, threads); ++i) {
    threads_.emplace_back([this] {
      while (true) {
        std::function<void()> task;
        {
          std::unique_lock<std::mutex> lock(mu_);
          cv_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
          if (tasks_.empty()) return;  // stopping and drained
          task = std::move(tasks_.front());
          tasks_.pop_front();
        }
        task();
      }
    });
  }
}

ConnectorPool::~ConnectorPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void ConnectorPool::Submit(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    tasks_.push_back(std::move(task));
  }
  cv_.notify_one();
}

}  // namespace ami
