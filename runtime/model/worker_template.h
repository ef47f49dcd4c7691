// Worker templates, runtime side: what a template pack offers (id, texts, script and the
// record defaults it suggests) and how a worker record is made from one plus the fields
// a user (admin shell, HTTP API, YAML `workers: - template: <id>`) chose to set.
//
// The runtime does not depend on the plugin SDK: the node converts the packs'
// plugin::Template values into WorkerTemplate (actors/local_node.cpp).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "runtime/base/status.h"
#include "runtime/model/worker_record.h"

namespace ami {

struct WorkerTemplate {
  std::string id;                       // "grid-trading", unique on a node
  std::string name;                     // "Grid Trading"
  std::string description;
  std::string category;                 // trading | monitoring | analytics | maintenance
  std::string icon;                     // may be empty
  std::string script;                   // the JS worker script
  std::vector<std::string> dependencies{"gliesereum"};
  std::string version = kDefaultRecordVersion;
  std::string pack;                     // id of the template pack that offers it
  // Record defaults.
  WorkerMode mode = WorkerMode::kLoop;
  Priority priority = Priority::kNormal;
  ExecutionMode execution_mode = ExecutionMode::kParallel;
  Scope scope = Scope::kLocal;
  std::optional<std::string> assigned_node;

  bool operator==(const WorkerTemplate&) const = default;
};

// Fields that replace the template's defaults; unset ones keep them. `active` defaults
// to false (as for setWorker), `note` to "<name>: <description>", `sid` to a fresh UUID.
struct TemplateOverrides {
  std::optional<std::string> sid;
  std::optional<bool> active;
  std::optional<WorkerMode> mode;
  std::optional<Priority> priority;
  std::optional<ExecutionMode> execution_mode;
  std::optional<Scope> scope;
  std::optional<std::string> account_id;
  std::optional<std::string> assigned_node;
  std::optional<std::string> note;
  std::optional<std::string> script;
  std::optional<std::vector<std::string>> dependencies;
  std::optional<std::string> version;
};

// A new worker record (nid = node_id, timestamp = now_ms) from `t` with `overrides`
// applied, checked with ValidateRecord. InvalidArgument when the template has no script
// or the result is not a valid record; the message names the field as clients know it,
// e.g. "assignedNode: exclusive mode requires assignedNode". The script's syntax is not
// checked here (the node does that when it stores the record).
Result<WorkerRecord> RecordFromTemplate(const WorkerTemplate& t, const TemplateOverrides& overrides,
                                        const std::string& node_id, int64_t now_ms);

// The template with this id in `templates`, or nullptr.
const WorkerTemplate* FindTemplate(const std::vector<WorkerTemplate>& templates, std::string_view id);
// NotFound: `unknown template "x"; known: a, b, c` (or "; no templates are loaded").
Status UnknownTemplate(std::string_view id, const std::vector<WorkerTemplate>& templates);

// Sets the fields `overrides` gives on `record` (an optional id's "" clears it) and keeps
// the others. workers.create applies its arguments to a default record this way.
void ApplyOverrides(const TemplateOverrides& overrides, WorkerRecord* record);

// JSON with the STELS/camelCase names, as the plugin SDK's ToJson(plugin::Template):
// {id, name, description, category, icon, dependencies, version, script, pack,
//  defaults: {executionMode, priority, mode, assignedNode (null when unset), scope}}
nlohmann::json TemplateToJson(const WorkerTemplate& t, bool with_script = true);
// Overrides from a request body with camelCase names: every field of the table in
// worker_fields.h with a TemplateOverrides member (sid, active, mode, priority,
// executionMode, scope, accountId, assignedNode, note, script or scriptContent,
// dependencies, version). Unknown keys are ignored; wrong types and unknown enum values
// are InvalidArgument naming the field ("priority: \"urgent\" is not one of ...",
// "active: expected true or false").
Result<TemplateOverrides> OverridesFromJson(const nlohmann::json& body);

}  // namespace ami
