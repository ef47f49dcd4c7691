#include "runtime/model/worker_template.h"

#include <nlohmann/json.hpp>

#include "runtime/model/worker_fields.h"

namespace ami {

namespace {
using json = nlohmann::json;
}  // namespace

void ApplyOverrides(const TemplateOverrides& o, WorkerRecord* record) {
  for (const auto& field : WorkerFields()) {
    if (!field.has_override || !field.has_override(o)) continue;
    json value = field.get_override(o);
    if (field.kind == FieldKind::kOptionalId && value == "") value = nullptr;  // "" = none
    field.put(*record, value);
  }
}

Result<WorkerRecord> RecordFromTemplate(const WorkerTemplate& t, const TemplateOverrides& o,
                                        const std::string& node_id, int64_t now_ms) {
  if (t.id.empty()) return Status::InvalidArgument("template: the template has no id");
  // The template's defaults, then what the overrides give (active stays false unless given).
  WorkerRecord fields;
  fields.mode = t.mode;
  fields.priority = t.priority;
  fields.execution_mode = t.execution_mode;
  fields.scope = t.scope;
  fields.script = t.script;
  fields.dependencies = t.dependencies;
  fields.version = t.version;
  fields.assigned_node = t.assigned_node;
  fields.note = t.description.empty() ? t.name : t.name + ": " + t.description;
  if (fields.note.empty()) fields.note = t.id;
  if (fields.note.size() > kMaxNoteBytes) fields.note.resize(kMaxNoteBytes);
  ApplyOverrides(o, &fields);
  if (fields.script.empty()) return Status::InvalidArgument("script: template " + t.id + " has no script");
  if (fields.version.empty()) fields.version = kDefaultRecordVersion;
  // NewWorkerRecord fills an empty note with its default; an explicitly empty note stays empty.
  const bool empty_note = fields.note.empty();
  WorkerRecord record = NewWorkerRecord(node_id, std::move(fields), now_ms);
  if (empty_note) record.note.clear();
  record.timestamp = now_ms;
  Status valid = ValidateRecord(record);
  if (!valid.ok()) return valid;
  return record;
}

const WorkerTemplate* FindTemplate(const std::vector<WorkerTemplate>& templates, std::string_view id) {
  for (const auto& t : templates)
    if (t.id == id) return &t;
  return nullptr;
}

Status UnknownTemplate(std::string_view id, const std::vector<WorkerTemplate>& templates) {
  std::string known;
  for (const auto& t : templates) {
    if (!known.empty()) known += ", ";
    known += t.id;
  }
  return Status::NotFound("unknown template \"" + std::string(id) + "\"" +
                          (known.empty() ? "; no templates are loaded (is a template pack in plugins.dirs?)"
                                         : "; known: " + known));
}

nlohmann::json TemplateToJson(const WorkerTemplate& t, bool with_script) {
  json defaults = {{"executionMode", ToString(t.execution_mode)},
                   {"priority", ToString(t.priority)},
                   {"mode", ToString(t.mode)},
                   {"assignedNode", t.assigned_node ? json(*t.assigned_node) : json(nullptr)},
                   {"scope", ToString(t.scope)}};
  json out = {{"id", t.id},
              {"name", t.name},
              {"description", t.description},
              {"category", t.category},
              {"icon", t.icon},
              {"defaults", std::move(defaults)},
              {"dependencies", t.dependencies},
              {"version", t.version},
              {"pack", t.pack}};
  if (with_script) out["script"] = t.script;
  return out;
}

Result<TemplateOverrides> OverridesFromJson(const nlohmann::json& body) {
  if (!body.is_object()) return Status::InvalidArgument("expected an object");
  TemplateOverrides o;
  for (const auto& field : WorkerFields()) {
    if (!field.put_override) continue;
    auto it = body.find(field.json_name);
    const char* name = field.json_name;
    if (it == body.end() && field.override_alias) it = body.find(name = field.override_alias);
    if (it == body.end()) continue;
    if (Status s = CheckFieldJson(field, *it, name, JsonDialect::kRequest); !s.ok()) return s;
    field.put_override(o, *it);
  }
  return o;
}

}  // namespace ami
