// The worker record's fields, in one table (issue #10): each field's JSON (STELS,
// camelCase), YAML (snake_case) and admin-shell spellings, its kind, limits and where it
// may be set. RecordToJson/RecordFromJson/ValidateRecord, OverridesFromJson and
// ApplyOverrides, the YAML `workers:` reader (runtime/config) and the shell's record
// flags (apps/ami) all walk this table, so adding a field to WorkerRecord means adding
// its member there and one row in worker_fields.cpp (tests/worker_fields_test.cpp checks
// that every member has a row).
//
// Rules between fields (exclusive needs assignedNode), the sid's derivation from a
// declared name and `script_file` stay as code next to their readers.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "runtime/model/worker_record.h"

namespace ami {

struct TemplateOverrides;  // runtime/model/worker_template.h

// Where a request may name a field.
enum class FieldUse { kCreate, kChange, kOverride };

// The camelCase request fields allowed for each use, in table order:
//  kCreate   (admin workers.create args): script note mode priority executionMode scope
//            accountId assignedNode dependencies version active
//  kChange   (workers.update changes):    the kCreate ones + sid nid timestamp
//  kOverride (templates.create overrides): same set as kCreate
const std::vector<std::string>& JsonFieldNames(FieldUse use);

enum class FieldKind {
  kString,      // std::string
  kOptionalId,  // std::optional<std::string>; null in JSON when unset
  kBool,
  kEnum,        // a wire name from `choices`
  kInt64,
  kStringList,  // std::vector<std::string>
};

// How the admin shell (apps/ami `create` / `set`) spells a field.
struct ShellSpelling {
  enum class Arg {
    kNone,    // no flag
    kChoice,  // one of the field's choices
    kText,
    kNode,    // a node id (completed from the cluster's nodes)
    kFile,    // a file name or "-" whose text is the value
    kSwitch,  // no value: sets the field to true
  };
  const char* flag = nullptr;        // "--execution"
  const char* short_flag = "";       // "-e", or ""
  const char* clear_flag = nullptr;  // "--no-account": sets the field to null (`set` only)
  Arg arg = Arg::kNone;
  bool on_set = true;                // `set` offers it too (else `create` only)
};

struct WorkerField {
  const char* json_name = nullptr;  // STELS / admin API name: "executionMode"
  const char* yaml_name = nullptr;  // `workers:` key: "execution_mode"; nullptr = not declarable
  // Position in the `allowed:` list of the YAML reader's unknown-key message (config_test
  // and docs quote that list), among the reader's own keys (name 0, template 20).
  int yaml_rank = 0;
  // Another YAML key that gives the field, listed right after it: "script_file".
  const char* yaml_alias = nullptr;
  // Read by the YAML reader's own code (sid: derived from `name`; script: or script_file).
  bool yaml_custom = false;
  // A second name a template's overrides accept (OverridesFromJson): "scriptContent".
  const char* override_alias = nullptr;
  FieldKind kind = FieldKind::kString;  // from the member's type
  std::vector<std::string> choices;     // kEnum: the wire names, in order
  // ValidateRecord: strings (each element of a list, a set optional id) must be valid
  // UTF-8 and at most max_bytes long (0 = no limit); `required` ones non-empty; `uuid`
  // ones a UUID ("sid: \"abc\" is not a UUID").
  size_t max_bytes = 0;
  bool required = false;
  bool uuid = false;
  // FieldUse: named by admin workers.create / workers.update / templates.create.
  bool create = false, change = false, override_ = false;
  bool immutable = false;   // never changes once created (sid, nid); an update may only repeat it
  bool server_set = false;  // the server sets it; an update's value is ignored (timestamp)
  ShellSpelling shell;
  // The value in its JSON (wire) form: enums by name, unset optionals as null.
  nlohmann::json (*get)(const WorkerRecord&) = nullptr;
  // Stores a value CheckFieldJson accepted.
  void (*put)(WorkerRecord&, const nlohmann::json&) = nullptr;
  // Its TemplateOverrides member; null for fields without one (nid, timestamp). As an
  // override an optional id's null or "" means "none".
  bool (*has_override)(const TemplateOverrides&) = nullptr;
  nlohmann::json (*get_override)(const TemplateOverrides&) = nullptr;
  void (*put_override)(TemplateOverrides&, const nlohmann::json&) = nullptr;
};

// Every field of WorkerRecord, one row each, in the order of JsonFieldNames(kChange).
const std::vector<WorkerField>& WorkerFields();
// The row with this JSON name, or nullptr.
const WorkerField* FindField(std::string_view json_name);
// The value a default-constructed WorkerRecord has (before NewWorkerRecord's fill-ins).
nlohmann::json FieldDefault(const WorkerField& field);

// How a request names a wrong type: records (RecordFromJson) say "expected a boolean",
// request bodies (OverridesFromJson) "expected true or false", as clients already see.
enum class JsonDialect { kRecord, kRequest };
// Checks `value` against the field's kind. The message starts with `path`:
//   "raw.dependencies[1]: expected a string", "priority: \"urgent\" is not one of ...".
Status CheckFieldJson(const WorkerField& field, const nlohmann::json& value, const std::string& path,
                      JsonDialect dialect);
// ValidateRecord's per-field check of one row (UTF-8, size, required, UUID).
Status CheckFieldValue(const WorkerField& field, const WorkerRecord& record);

}  // namespace ami
