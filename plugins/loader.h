// The plugin loader (host side): scans plugin directories, loads every *.so with
// Boost.DLL, checks it and keeps what it made in a registry.
//
// A library is refused — with its path and the reason in errors(), never by failing the
// whole load — when it is not a shared library, cannot be loaded (e.g. undefined
// symbols), exports no ABI version or a different one than ami::plugin::kAbiVersion,
// exports no factory, its factory fails, or its id is already taken (the first one
// loaded keeps the id; files in a directory load in name order).
//
// Lifetime: every object the registry hands out (factories, template packs, connector
// instances) holds a shared_ptr to its shared_library inside its deleter, so a plugin
// stays loaded while anything it made is alive — also after the registry is gone.
// A registry is not thread-safe while loading; once loaded, its const methods are.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "ami/plugin/exchange_connector.h"
#include "ami/plugin/plugin.h"
#include "ami/plugin/template_pack.h"
#include "runtime/base/status.h"

namespace ami::plugins {

// ---- calling into plugin code ------------------------------------------------------
// Every call the host makes into a plugin — the exported factory, Plugin::Info,
// ConnectorFactory::Create, ExchangeConnector::Describe, ::Call, ::CallAsync and
// ::CancelWorker, TemplatePack::Templates — goes through GuardPluginCall (connector calls
// through CallConnector / CallConnectorAsync / CancelConnectorWorker, which use it). The SDK says plugins must not throw; this is where the host makes
// sure a plugin that does anyway cannot take the node down.
//
// Contract of GuardPluginCall(plugin_id, method, fn):
//   - runs fn() on the calling thread and returns its value when it returns;
//   - if fn throws anything (a std::exception or any other object), the exception stops
//     here: the result is Status::Internal with the message
//       "plugin '<plugin_id>' failed in <method>: <what()>"   (std::exception)
//       "plugin '<plugin_id>' failed in <method>: threw a non-standard exception"
//     and that same text is logged once at error level (spdlog). Nothing is rethrown.
//   - it cannot contain a crash (segfault, abort) or a call that never returns; hangs
//     are handled by the exchange bulkheads and deadlines (actors/exchange_access.h).
// Callers map the failure onto their own error: CallConnector onto a CCXT ExchangeError
// for the script, BuildExchangeDirectory onto "exchange not available: <reason>", the
// template collection onto "pack skipped".
std::string PluginFailureMessage(std::string_view plugin_id, std::string_view method,
                                 std::string_view what);
// The text of the exception being handled (call only inside a catch block).
std::string CurrentExceptionText();
// Logs `message` (from PluginFailureMessage) at error level.
void LogPluginFailure(const std::string& message);

template <class Fn>
auto GuardPluginCall(std::string_view plugin_id, std::string_view method, Fn&& fn)
    -> Result<std::invoke_result_t<Fn&>> {
  std::string message;
  try {
    return fn();
  } catch (...) {
    message = PluginFailureMessage(plugin_id, method, CurrentExceptionText());
  }
  LogPluginFailure(message);
  return Status::Internal(std::move(message));
}

// connector.Call(ctx, method, args_json) through GuardPluginCall: an exception becomes
// CallResult::Error("ExchangeError", "plugin '<id>' failed in Call(<method>): …"), and
// a failure without a class gets "ExchangeError" — the script always gets a CCXT error.
plugin::CallResult CallConnector(plugin::ExchangeConnector& connector, std::string_view plugin_id,
                                 const plugin::CallContext& ctx, const std::string& method,
                                 const std::string& args_json);

// connector.CallAsync(ctx, method, args_json, …) through GuardPluginCall (ABI 2). Whatever
// the plugin does, `done` runs at most once, and exactly once unless the plugin keeps
// its completion and never calls it (the bulkhead's deadline answers such a call):
//   - the plugin's first completion wins; one without an error class gets
//     "ExchangeError", as in CallConnector;
//   - an exception escaping CallAsync completes `done` with ExchangeError
//     "plugin '<id>' failed in Call(<method>): …" (logged once; the same text as
//     CallConnector's, as the default CallAsync runs Call) — unless the plugin had
//     already completed it, whose answer then stands;
//   - any later completion (a plugin answering twice, or after throwing) is ignored and
//     logged at warn.
// `done` may run on the calling thread (inside this function) or on any plugin thread.
void CallConnectorAsync(plugin::ExchangeConnector& connector, std::string_view plugin_id,
                        const plugin::CallContext& ctx, const std::string& method,
                        const std::string& args_json, plugin::CallCompletion done);

// connector.CancelWorker(worker_sid) through GuardPluginCall: an exception is logged and
// stops here. Runs on the calling thread; the plugin's completions of that worker's
// waiting calls may run inside it.
void CancelConnectorWorker(plugin::ExchangeConnector& connector, std::string_view plugin_id,
                           const std::string& worker_sid);

// One loaded plugin, for `ami plugins` and logs.
struct PluginDescription {
  std::string id;
  plugin::PluginKind kind = plugin::PluginKind::kExchangeConnector;
  std::filesystem::path path;
  std::string version;
  std::string description;
  // {"id", "kind": "exchange-connector"|"template-pack", "path", "version", "description"}
  nlohmann::json ToJson() const;
};

// A file or directory that could not be used.
struct LoadError {
  std::filesystem::path path;
  std::string reason;
  std::string ToString() const;   // "<path>: <reason>"
};

class PluginRegistry {
 public:
  PluginRegistry() = default;
  PluginRegistry(PluginRegistry&&) = default;
  PluginRegistry& operator=(PluginRegistry&&) = default;
  PluginRegistry(const PluginRegistry&) = delete;
  PluginRegistry& operator=(const PluginRegistry&) = delete;

  // A directory: loads every regular file named *.so in it (not recursive), in name
  // order. A file: loads it. Anything else (missing, unreadable): one LoadError.
  void LoadPath(const std::filesystem::path& path);
  // Loads one library; false (and a LoadError) when it is refused. A file already loaded
  // (same canonical path) is skipped and counts as success.
  bool LoadFile(const std::filesystem::path& file);

  // The connector plugin with this id ("paper"), nullptr when none.
  std::shared_ptr<plugin::ConnectorFactory> connector_factory(std::string_view id) const;
  // A new connector instance from the plugin `connector_id` with `options` (the JSON
  // object of the exchange's options in the node config). NotFound when no such
  // plugin; InvalidArgument naming the plugin when it refuses the options.
  Result<std::shared_ptr<plugin::ExchangeConnector>> CreateConnector(
      std::string_view connector_id, const nlohmann::json& options) const;
  // The template pack with this id, nullptr when none.
  std::shared_ptr<plugin::TemplatePack> template_pack(std::string_view id) const;

  std::vector<std::string> connector_ids() const;       // sorted
  std::vector<std::string> template_pack_ids() const;   // sorted
  const std::vector<PluginDescription>& plugins() const { return plugins_; }   // load order
  const std::vector<LoadError>& errors() const { return errors_; }

 private:
  struct Entry {
    PluginDescription description;
    std::shared_ptr<plugin::Plugin> plugin;   // deleter keeps the library loaded
  };
  void AddError(const std::filesystem::path& path, std::string reason);

  std::map<std::string, Entry, std::less<>> by_id_;
  std::set<std::string> loaded_files_;          // canonical paths
  std::vector<PluginDescription> plugins_;
  std::vector<LoadError> errors_;
};

// A registry with everything loadable from `paths` (directories or files).
PluginRegistry LoadPlugins(const std::vector<std::filesystem::path>& paths);

}  // namespace ami::plugins
