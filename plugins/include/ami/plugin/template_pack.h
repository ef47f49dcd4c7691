// Template packs: ready-made worker scripts offered when creating a worker (the
// "template" step of the create wizard, `workers: - template: <id>` in YAML). Part of
// the plugin SDK (public, header-only).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ami/plugin/plugin.h"

namespace ami::plugin {

// Worker-record defaults a template suggests (the STELS record fields of the same name).
struct TemplateDefaults {
  std::string execution_mode = "parallel";     // parallel | leader | exclusive
  std::string priority = "normal";             // critical | high | normal | low
  std::string mode = "loop";                   // loop | single
  std::optional<std::string> assigned_node;    // required when execution_mode == exclusive
  std::string scope = "local";                 // local | network
};

struct Template {
  std::string id;                              // unique in the pack, e.g. "grid-trading"
  std::string name;                            // "Grid Trading"
  std::string description;
  std::string category;                        // trading | monitoring | analytics | maintenance
  std::string icon;                            // icon name for UIs, may be empty
  TemplateDefaults defaults;
  std::vector<std::string> dependencies = {"gliesereum"};
  std::string version = "1.19.2";              // the record's `version` field
  std::string script;                          // the JS worker script (async function body)
};

// The plugin object of kind kTemplatePack. Must not throw.
class TemplatePack : public Plugin {
 public:
  TemplatePack* AsTemplatePack() final { return this; }
  virtual std::vector<Template> Templates() const = 0;
};

// JSON with the STELS/camelCase names:
// {id, name, description, category, icon, dependencies, version, script,
//  defaults: {executionMode, priority, mode, assignedNode (null when unset), scope}}
inline nlohmann::json ToJson(const Template& t) {
  nlohmann::json defaults = {
      {"executionMode", t.defaults.execution_mode},
      {"priority", t.defaults.priority},
      {"mode", t.defaults.mode},
      {"assignedNode", t.defaults.assigned_node ? nlohmann::json(*t.defaults.assigned_node)
                                                : nlohmann::json(nullptr)},
      {"scope", t.defaults.scope},
  };
  return {{"id", t.id},
          {"name", t.name},
          {"description", t.description},
          {"category", t.category},
          {"icon", t.icon},
          {"defaults", std::move(defaults)},
          {"dependencies", t.dependencies},
          {"version", t.version},
          {"script", t.script}};
}

}  // namespace ami::plugin
