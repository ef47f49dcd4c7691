// How workers reach exchanges: the node's exchange directory (connector instances by
// exchange id, accounts with their credentials) and the thread pool connector calls
// run on.
//
// Connector calls are synchronous and may block (network I/O, injected latency), so they
// never run on an actor's turn: the worker hands them to the ConnectorPool and the result
// comes back to it as a message.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
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
