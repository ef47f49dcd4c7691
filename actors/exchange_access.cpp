#include "actors/exchange_access.h"

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
