#include "runtime/model/worker_template.h"

#include <nlohmann/json.hpp>

namespace ami {

namespace {

using json = nlohmann::json;

std::string Choices(std::initializer_list<const char*> names) {
  std::string out;
  for (const char* n : names) {
    if (!out.empty()) out += '|';
    out += n;
  }
  return out;
}

Status ReadString(const json& body, const char* key, std::optional<std::string>& out) {
  auto it = body.find(key);
  if (it == body.end()) return Status::OK();
  if (!it->is_string()) return Status::InvalidArgument(std::string(key) + ": expected a string");
  out = it->get<std::string>();
  return Status::OK();
}

// accountId / assignedNode: null or "" means "none" (the template's default is dropped).
Status ReadOptionalId(const json& body, const char* key, std::optional<std::string>& out) {
  auto it = body.find(key);
  if (it == body.end()) return Status::OK();
  if (it->is_null()) {
    out = std::string();
    return Status::OK();
  }
  if (!it->is_string()) return Status::InvalidArgument(std::string(key) + ": expected a string or null");
  out = it->get<std::string>();
  return Status::OK();
}

template <class E>
Status ReadEnum(const json& body, const char* key, std::optional<E> (*parse)(std::string_view),
                const std::string& choices, std::optional<E>& out) {
  auto it = body.find(key);
  if (it == body.end()) return Status::OK();
  if (!it->is_string()) return Status::InvalidArgument(std::string(key) + ": expected a string");
  auto v = parse(it->get<std::string>());
  if (!v) return Status::InvalidArgument(std::string(key) + ": " + it->dump() + " is not one of " + choices);
  out = v;
  return Status::OK();
}

}  // namespace

Result<WorkerRecord> RecordFromTemplate(const WorkerTemplate& t, const TemplateOverrides& o,
                                        const std::string& node_id, int64_t now_ms) {
  if (t.id.empty()) return Status::InvalidArgument("template: the template has no id");
  const std::string& script = o.script ? *o.script : t.script;
  if (script.empty()) return Status::InvalidArgument("script: template " + t.id + " has no script");
  WorkerRecord fields;
  if (o.sid) fields.sid = *o.sid;
  fields.active = o.active.value_or(false);
  fields.mode = o.mode.value_or(t.mode);
  fields.priority = o.priority.value_or(t.priority);
  fields.execution_mode = o.execution_mode.value_or(t.execution_mode);
  fields.scope = o.scope.value_or(t.scope);
  fields.script = script;
  fields.dependencies = o.dependencies ? *o.dependencies : t.dependencies;
  fields.version = o.version ? *o.version : t.version;
  if (fields.version.empty()) fields.version = kDefaultRecordVersion;
  // An empty override clears the field (no account / no assigned node).
  if (o.account_id && !o.account_id->empty()) fields.account_id = *o.account_id;
  if (o.assigned_node) {
    if (!o.assigned_node->empty()) fields.assigned_node = *o.assigned_node;
  } else {
    fields.assigned_node = t.assigned_node;
  }
  if (o.note) {
    fields.note = *o.note;
  } else {
    fields.note = t.description.empty() ? t.name : t.name + ": " + t.description;
    if (fields.note.empty()) fields.note = t.id;
    if (fields.note.size() > kMaxNoteBytes) fields.note.resize(kMaxNoteBytes);
  }
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
  Status s;
  if (!(s = ReadString(body, "sid", o.sid)).ok()) return s;
  if (auto it = body.find("active"); it != body.end()) {
    if (!it->is_boolean()) return Status::InvalidArgument("active: expected true or false");
    o.active = it->get<bool>();
  }
  if (!(s = ReadEnum(body, "mode", ParseWorkerMode, Choices({"loop", "single"}), o.mode)).ok()) return s;
  if (!(s = ReadEnum(body, "priority", ParsePriority, Choices({"critical", "high", "normal", "low"}), o.priority)).ok())
    return s;
  if (!(s = ReadEnum(body, "executionMode", ParseExecutionMode, Choices({"parallel", "leader", "exclusive"}),
                     o.execution_mode)).ok())
    return s;
  if (!(s = ReadEnum(body, "scope", ParseScope, Choices({"local", "network"}), o.scope)).ok()) return s;
  if (!(s = ReadOptionalId(body, "accountId", o.account_id)).ok()) return s;
  if (!(s = ReadOptionalId(body, "assignedNode", o.assigned_node)).ok()) return s;
  if (!(s = ReadString(body, "note", o.note)).ok()) return s;
  if (!(s = ReadString(body, "script", o.script)).ok()) return s;
  if (!o.script && !(s = ReadString(body, "scriptContent", o.script)).ok()) return s;
  if (!(s = ReadString(body, "version", o.version)).ok()) return s;
  if (auto it = body.find("dependencies"); it != body.end()) {
    if (!it->is_array()) return Status::InvalidArgument("dependencies: expected an array of strings");
    std::vector<std::string> deps;
    for (size_t i = 0; i < it->size(); ++i) {
      if (!(*it)[i].is_string())
        return Status::InvalidArgument("dependencies[" + std::to_string(i) + "]: expected a string");
      deps.push_back((*it)[i].get<std::string>());
    }
    o.dependencies = std::move(deps);
  }
  return o;
}

}  // namespace ami
