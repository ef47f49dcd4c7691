#include "runtime/model/worker_fields.h"

#include <cstdint>
#include <optional>
#include <type_traits>

#include <nlohmann/json.hpp>

#include "runtime/model/worker_template.h"

namespace ami {

namespace {

using json = nlohmann::json;
using Arg = ShellSpelling::Arg;

// ---- values in their wire form --------------------------------------------------------
//
// Every use of a field goes through its JSON form, so the conversions below are written
// once per C++ type, not once per field.

json ToWire(const std::string& v) { return v; }
json ToWire(const std::optional<std::string>& v) { return v ? json(*v) : json(nullptr); }
json ToWire(bool v) { return v; }
json ToWire(int64_t v) { return v; }
json ToWire(const std::vector<std::string>& v) { return v; }
template <class E>
  requires std::is_enum_v<E>
json ToWire(E v) {
  return ToString(v);
}

std::optional<WorkerMode> ParseAs(std::string_view t, WorkerMode*) { return ParseWorkerMode(t); }
std::optional<Scope> ParseAs(std::string_view t, Scope*) { return ParseScope(t); }
std::optional<ExecutionMode> ParseAs(std::string_view t, ExecutionMode*) { return ParseExecutionMode(t); }
std::optional<Priority> ParseAs(std::string_view t, Priority*) { return ParsePriority(t); }

// `v` was checked by CheckFieldJson, so these do not fail.
void FromWire(const json& v, std::string& out) { out = v.get<std::string>(); }
void FromWire(const json& v, bool& out) { out = v.get<bool>(); }
void FromWire(const json& v, std::vector<std::string>& out) { out = v.get<std::vector<std::string>>(); }
void FromWire(const json& v, std::optional<std::string>& out) {
  if (v.is_null()) out.reset();
  else out = v.get<std::string>();
}
void FromWire(const json& v, int64_t& out) {
  if (v.is_number_float()) out = static_cast<int64_t>(v.get<double>());
  else if (v.is_number_unsigned()) out = static_cast<int64_t>(v.get<uint64_t>());
  else out = v.get<int64_t>();
}
template <class E>
  requires std::is_enum_v<E>
void FromWire(const json& v, E& out) {
  if (auto parsed = ParseAs(v.get<std::string>(), static_cast<E*>(nullptr))) out = *parsed;
}

template <class T>
FieldKind KindOf() {
  if constexpr (std::is_same_v<T, std::string>) return FieldKind::kString;
  else if constexpr (std::is_same_v<T, std::optional<std::string>>) return FieldKind::kOptionalId;
  else if constexpr (std::is_same_v<T, bool>) return FieldKind::kBool;
  else if constexpr (std::is_same_v<T, int64_t>) return FieldKind::kInt64;
  else if constexpr (std::is_same_v<T, std::vector<std::string>>) return FieldKind::kStringList;
  else {
    static_assert(std::is_enum_v<T>, "a WorkerRecord member of a type the field table cannot handle");
    return FieldKind::kEnum;
  }
}

template <auto M>
using MemberType = std::remove_cvref_t<decltype(std::declval<WorkerRecord&>().*M)>;

// The row's kind, choices and accessors, from the record member M and (unless nullptr)
// the TemplateOverrides member OM: the types decide, so a row cannot disagree with them.
template <auto M, auto OM>
WorkerField Bind(WorkerField row) {
  using T = MemberType<M>;
  row.kind = KindOf<T>();
  if constexpr (std::is_enum_v<T>) row.choices = EnumNames<T>();
  row.get = [](const WorkerRecord& r) { return ToWire(r.*M); };
  row.put = [](WorkerRecord& r, const json& v) { FromWire(v, r.*M); };
  if constexpr (!std::is_same_v<decltype(OM), std::nullptr_t>) {
    using O = typename std::remove_cvref_t<decltype(std::declval<TemplateOverrides&>().*OM)>::value_type;
    static_assert(std::is_same_v<O, T> ||
                      (std::is_same_v<T, std::optional<std::string>> && std::is_same_v<O, std::string>),
                  "a TemplateOverrides member must hold the record member's type");
    row.has_override = [](const TemplateOverrides& o) { return (o.*OM).has_value(); };
    row.get_override = [](const TemplateOverrides& o) { return o.*OM ? ToWire(*(o.*OM)) : json(nullptr); };
    row.put_override = [](TemplateOverrides& o, const json& v) {
      O value{};  // an optional id's null: "" (none)
      if (!v.is_null()) FromWire(v, value);
      o.*OM = std::move(value);
    };
  }
  return row;
}

// ---- the table --------------------------------------------------------------------------
//
// Row order is JsonFieldNames' order (the admin API lists it in "known: ..." messages).
// yaml_rank places the YAML keys among the reader's own (name 0, template 20; see
// WorkerKeys in runtime/config/config.cpp).

std::vector<WorkerField> MakeTable() {
  return {
      Bind<&WorkerRecord::script, &TemplateOverrides::script>(
          {.json_name = "script", .yaml_name = "script", .yaml_rank = 30, .yaml_alias = "script_file",
           .yaml_custom = true, .override_alias = "scriptContent",
           .max_bytes = kMaxScriptBytes, .create = true, .change = true, .override_ = true,
           .shell = {.flag = "--script", .arg = Arg::kFile}}),
      Bind<&WorkerRecord::note, &TemplateOverrides::note>(
          {.json_name = "note", .yaml_name = "note", .yaml_rank = 70,
           .max_bytes = kMaxNoteBytes, .create = true, .change = true, .override_ = true,
           .shell = {.flag = "--note", .arg = Arg::kText}}),
      Bind<&WorkerRecord::mode, &TemplateOverrides::mode>(
          {.json_name = "mode", .yaml_name = "mode", .yaml_rank = 60,
           .create = true, .change = true, .override_ = true,
           .shell = {.flag = "--mode", .short_flag = "-m", .arg = Arg::kChoice}}),
      Bind<&WorkerRecord::priority, &TemplateOverrides::priority>(
          {.json_name = "priority", .yaml_name = "priority", .yaml_rank = 100,
           .create = true, .change = true, .override_ = true,
           .shell = {.flag = "--priority", .short_flag = "-p", .arg = Arg::kChoice}}),
      Bind<&WorkerRecord::execution_mode, &TemplateOverrides::execution_mode>(
          {.json_name = "executionMode", .yaml_name = "execution_mode", .yaml_rank = 90,
           .create = true, .change = true, .override_ = true,
           .shell = {.flag = "--execution", .short_flag = "-e", .arg = Arg::kChoice}}),
      Bind<&WorkerRecord::scope, &TemplateOverrides::scope>(
          {.json_name = "scope", .yaml_name = "scope", .yaml_rank = 80,
           .create = true, .change = true, .override_ = true,
           .shell = {.flag = "--scope", .arg = Arg::kChoice}}),
      Bind<&WorkerRecord::account_id, &TemplateOverrides::account_id>(
          {.json_name = "accountId", .yaml_name = "account_id", .yaml_rank = 110,
           .max_bytes = kMaxIdBytes, .create = true, .change = true, .override_ = true,
           .shell = {.flag = "--account", .clear_flag = "--no-account", .arg = Arg::kText}}),
      Bind<&WorkerRecord::assigned_node, &TemplateOverrides::assigned_node>(
          {.json_name = "assignedNode", .yaml_name = "assigned_node", .yaml_rank = 120,
           .max_bytes = kMaxIdBytes, .create = true, .change = true, .override_ = true,
           .shell = {.flag = "--node-assigned", .clear_flag = "--no-node-assigned", .arg = Arg::kNode}}),
      Bind<&WorkerRecord::dependencies, &TemplateOverrides::dependencies>(
          {.json_name = "dependencies", .yaml_name = "dependencies", .yaml_rank = 130,
           .create = true, .change = true, .override_ = true}),
      Bind<&WorkerRecord::version, &TemplateOverrides::version>(
          {.json_name = "version", .yaml_name = "version", .yaml_rank = 140,
           .max_bytes = kMaxVersionBytes, .required = true, .create = true, .change = true, .override_ = true}),
      // `--start` on create only: `start`/`stop` change it later.
      Bind<&WorkerRecord::active, &TemplateOverrides::active>(
          {.json_name = "active", .yaml_name = "active", .yaml_rank = 50,
           .create = true, .change = true, .override_ = true,
           .shell = {.flag = "--start", .arg = Arg::kSwitch, .on_set = false}}),
      // Set by the server; an update may repeat them but not change them. A template
      // create may choose the sid (TemplateOverrides::sid) but the admin API does not offer it.
      Bind<&WorkerRecord::sid, &TemplateOverrides::sid>(
          {.json_name = "sid", .yaml_name = "sid", .yaml_rank = 10, .yaml_custom = true, .uuid = true,
           .change = true, .immutable = true}),
      Bind<&WorkerRecord::nid, nullptr>(
          {.json_name = "nid", .max_bytes = kMaxIdBytes, .required = true, .change = true, .immutable = true}),
      Bind<&WorkerRecord::timestamp, nullptr>({.json_name = "timestamp", .change = true, .server_set = true}),
  };
}

// ---- checks -----------------------------------------------------------------------------

bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    if ((c & 0xe0) == 0xc0) {
      len = 2;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    // Overlong forms, surrogates, beyond U+10FFFF.
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
      return false;
    i += len;
  }
  return true;
}

// `text` as a JSON string literal, for messages; never throws on bad UTF-8.
std::string Quoted(std::string_view text) {
  return json(std::string(text)).dump(-1, ' ', false, json::error_handler_t::replace);
}

Status Invalid(const std::string& field, const std::string& what) {
  return Status::InvalidArgument(field + ": " + what);
}

Status CheckString(const WorkerField& f, const std::string& value) {
  if (f.required && value.empty()) return Invalid(f.json_name, "must not be empty");
  if (f.max_bytes > 0 && value.size() > f.max_bytes)
    return Invalid(f.json_name, std::to_string(value.size()) + " bytes is over the " + std::to_string(f.max_bytes) +
                               "-byte limit");
  if (!IsValidUtf8(value)) return Invalid(f.json_name, "is not valid UTF-8");
  return Status::OK();
}

std::string Choices(const WorkerField& f) {
  std::string out;
  for (const auto& name : f.choices) out += (out.empty() ? "" : "|") + name;
  return out;
}

}  // namespace

const std::vector<WorkerField>& WorkerFields() {
  static const std::vector<WorkerField> table = MakeTable();
  return table;
}

const WorkerField* FindField(std::string_view json_name) {
  for (const auto& f : WorkerFields())
    if (json_name == f.json_name) return &f;
  return nullptr;
}

const std::vector<std::string>& JsonFieldNames(FieldUse use) {
  static const auto names = [] {
    std::vector<std::vector<std::string>> out(3);
    for (const auto& f : WorkerFields()) {
      if (f.create) out[0].push_back(f.json_name);
      if (f.change) out[1].push_back(f.json_name);
      if (f.override_) out[2].push_back(f.json_name);
    }
    return out;
  }();
  switch (use) {
    case FieldUse::kCreate: return names[0];
    case FieldUse::kChange: return names[1];
    case FieldUse::kOverride: return names[2];
  }
  return names[0];
}

nlohmann::json FieldDefault(const WorkerField& field) { return field.get(WorkerRecord{}); }

Status CheckFieldJson(const WorkerField& f, const nlohmann::json& v, const std::string& path, JsonDialect dialect) {
  switch (f.kind) {
    case FieldKind::kString:
      if (!v.is_string()) return Invalid(path, "expected a string");
      return Status::OK();
    case FieldKind::kOptionalId:
      if (!v.is_null() && !v.is_string()) return Invalid(path, "expected a string or null");
      return Status::OK();
    case FieldKind::kBool:
      if (!v.is_boolean())
        return Invalid(path, dialect == JsonDialect::kRecord ? "expected a boolean" : "expected true or false");
      return Status::OK();
    case FieldKind::kEnum: {
      if (!v.is_string()) return Invalid(path, "expected a string");
      const auto text = v.get<std::string>();
      for (const auto& name : f.choices)
        if (text == name) return Status::OK();
      return Invalid(path, Quoted(text) + " is not one of " + Choices(f));
    }
    case FieldKind::kInt64:
      if (v.is_number_unsigned()) {
        if (v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) return Invalid(path, "out of range");
        return Status::OK();
      }
      if (v.is_number_integer()) return Status::OK();
      if (v.is_number_float()) {
        // Date.now() is integral, but a client may send 1.7e12; accept whole numbers only.
        const double d = v.get<double>();
        if (d == static_cast<double>(static_cast<int64_t>(d)) && d > -9.2e18 && d < 9.2e18) return Status::OK();
      }
      return Invalid(path, "expected an integer");
    case FieldKind::kStringList:
      if (!v.is_array()) return Invalid(path, "expected an array of strings");
      for (size_t i = 0; i < v.size(); ++i)
        if (!v[i].is_string()) return Invalid(path + "[" + std::to_string(i) + "]", "expected a string");
      return Status::OK();
  }
  return Status::OK();
}

Status CheckFieldValue(const WorkerField& f, const WorkerRecord& record) {
  const json v = f.get(record);
  if (f.uuid) {
    const auto text = v.get<std::string>();
    if (!IsUuid(text)) return Invalid(f.json_name, Quoted(text) + " is not a UUID");
    return Status::OK();
  }
  switch (f.kind) {
    case FieldKind::kString: return CheckString(f, v.get_ref<const std::string&>());
    case FieldKind::kOptionalId:
      if (v.is_null()) return Status::OK();
      return CheckString(f, v.get_ref<const std::string&>());
    case FieldKind::kStringList:
      for (size_t i = 0; i < v.size(); ++i)
        if (!IsValidUtf8(v[i].get_ref<const std::string&>()))
          return Invalid(std::string(f.json_name) + "[" + std::to_string(i) + "]", "is not valid UTF-8");
      return Status::OK();
    default: return Status::OK();
  }
}

}  // namespace ami
