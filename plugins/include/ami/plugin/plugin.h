// The root object of every AMI plugin. A plugin library exports one factory (see
// export.h) that returns a Plugin; the host asks it what it is (Info) and then uses it
// through the interface of its kind. Part of the plugin SDK (public, header-only).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "ami/plugin/abi.h"

namespace ami::plugin {

class ConnectorFactory;   // exchange_connector.h
class TemplatePack;       // template_pack.h

enum class PluginKind : std::uint32_t {
  kExchangeConnector = 1,
  kTemplatePack = 2,
};

// "exchange-connector" | "template-pack" | "unknown"
inline const char* ToString(PluginKind kind) {
  switch (kind) {
    case PluginKind::kExchangeConnector: return "exchange-connector";
    case PluginKind::kTemplatePack: return "template-pack";
  }
  return "unknown";
}

struct PluginInfo {
  std::string id;            // unique among loaded plugins: [a-z0-9][a-z0-9._-]*, e.g. "paper"
  PluginKind kind = PluginKind::kExchangeConnector;
  std::string version;       // the plugin's own version, e.g. "1.0.0"
  std::string description;   // one line for `ami plugins`
};

// Implementations must not throw from any method (exceptions do not cross the
// boundary); the host still guards every call.
class Plugin {
 public:
  virtual ~Plugin() = default;
  virtual PluginInfo Info() const = 0;
  // Exactly one of these returns `this` (matching Info().kind); no dynamic_cast needed
  // across the library boundary.
  virtual ConnectorFactory* AsConnectorFactory() { return nullptr; }
  virtual TemplatePack* AsTemplatePack() { return nullptr; }
};

// The type of the exported factory (ami_plugin_factory). Called once per load; the host
// owns the result.
using PluginFactoryFn = std::unique_ptr<Plugin>();

}  // namespace ami::plugin
