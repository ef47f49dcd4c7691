#include "runtime/model/worker_record.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <array>
#include <cstdio>
#include <random>

#include <nlohmann/json.hpp>

#include "runtime/base/clock.h"
#include "runtime/base/digest.h"

namespace ami {

namespace {

using json = nlohmann::json;

// ---- enum tables ----------------------------------------------------------------------

template <class E, size_t N>
struct EnumTable {
  std::array<std::pair<E, const char*>, N> entries;

  const char* Name(E value) const {
    for (const auto& [e, name] : entries)
      if (e == value) return name;
    return entries[0].second;
  }
  std::optional<E> Parse(std::string_view text) const {
    for (const auto& [e, name] : entries)
      if (text == name) return e;
    return std::nullopt;
  }
  // "critical|high|normal|low"
  std::string Choices() const {
    std::string out;
    for (const auto& [e, name] : entries) {
      if (!out.empty()) out += '|';
      out += name;
    }
    return out;
  }
};

constexpr EnumTable<WorkerMode, 2> kModes{{{{WorkerMode::kLoop, "loop"}, {WorkerMode::kSingle, "single"}}}};
constexpr EnumTable<Scope, 2> kScopes{{{{Scope::kLocal, "local"}, {Scope::kNetwork, "network"}}}};
constexpr EnumTable<ExecutionMode, 3> kExecutionModes{{{{ExecutionMode::kParallel, "parallel"},
                                                        {ExecutionMode::kLeader, "leader"},
                                                        {ExecutionMode::kExclusive, "exclusive"}}}};
constexpr EnumTable<Priority, 4> kPriorities{{{{Priority::kCritical, "critical"},
                                               {Priority::kHigh, "high"},
                                               {Priority::kNormal, "normal"},
                                               {Priority::kLow, "low"}}}};

// ---- small helpers --------------------------------------------------------------------

std::string FormatUuid(const unsigned char (&b)[16]) {
  std::string hex = HexOf(b, 16);
  return hex.substr(0, 8) + '-' + hex.substr(8, 4) + '-' + hex.substr(12, 4) + '-' +
         hex.substr(16, 4) + '-' + hex.substr(20, 12);
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Parses a UUID known to be well formed.
void UuidBytes(std::string_view uuid, unsigned char (&out)[16]) {
  size_t k = 0;
  for (size_t i = 0; i + 1 < uuid.size() && k < 16;) {
    if (uuid[i] == '-') {
      ++i;
      continue;
    }
    out[k++] = static_cast<unsigned char>(HexValue(uuid[i]) * 16 + HexValue(uuid[i + 1]));
    i += 2;
  }
}

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

Status CheckString(const char* field, const std::string& value, size_t max_bytes,
                   bool required) {
  if (required && value.empty()) return Invalid(field, "must not be empty");
  if (value.size() > max_bytes)
    return Invalid(field, std::to_string(value.size()) + " bytes is over the " +
                              std::to_string(max_bytes) + "-byte limit");
  if (!IsValidUtf8(value)) return Invalid(field, "is not valid UTF-8");
  return Status::OK();
}

// ---- JSON field readers (RecordFromJson) ----------------------------------------------

std::string FieldName(const char* key) { return std::string("raw.") + key; }

Status ReadString(const json& raw, const char* key, std::string& out) {
  auto it = raw.find(key);
  if (it == raw.end()) return Status::OK();
  if (!it->is_string()) return Invalid(FieldName(key), "expected a string");
  out = it->get<std::string>();
  return Status::OK();
}

Status ReadOptionalString(const json& raw, const char* key, std::optional<std::string>& out) {
  auto it = raw.find(key);
  if (it == raw.end()) return Status::OK();
  if (it->is_null()) {
    out.reset();
    return Status::OK();
  }
  if (!it->is_string()) return Invalid(FieldName(key), "expected a string or null");
  out = it->get<std::string>();
  return Status::OK();
}

Status ReadBool(const json& raw, const char* key, bool& out) {
  auto it = raw.find(key);
  if (it == raw.end()) return Status::OK();
  if (!it->is_boolean()) return Invalid(FieldName(key), "expected a boolean");
  out = it->get<bool>();
  return Status::OK();
}

Status ReadInt64(const json& raw, const char* key, int64_t& out) {
  auto it = raw.find(key);
  if (it == raw.end()) return Status::OK();
  if (it->is_number_unsigned()) {
    const auto v = it->get<uint64_t>();
    if (v > static_cast<uint64_t>(INT64_MAX)) return Invalid(FieldName(key), "out of range");
    out = static_cast<int64_t>(v);
    return Status::OK();
  }
  if (it->is_number_integer()) {
    out = it->get<int64_t>();
    return Status::OK();
  }
  if (it->is_number_float()) {
    // Date.now() is integral, but a client may send 1.7e12; accept whole numbers only.
    const double d = it->get<double>();
    if (d == static_cast<double>(static_cast<int64_t>(d)) && d > -9.2e18 && d < 9.2e18) {
      out = static_cast<int64_t>(d);
      return Status::OK();
    }
  }
  return Invalid(FieldName(key), "expected an integer");
}

Status ReadStringArray(const json& raw, const char* key, std::vector<std::string>& out) {
  auto it = raw.find(key);
  if (it == raw.end()) return Status::OK();
  if (!it->is_array()) return Invalid(FieldName(key), "expected an array of strings");
  std::vector<std::string> values;
  values.reserve(it->size());
  for (size_t i = 0; i < it->size(); ++i) {
    const json& v = (*it)[i];
    if (!v.is_string())
      return Invalid(FieldName(key) + "[" + std::to_string(i) + "]", "expected a string");
    values.push_back(v.get<std::string>());
  }
  out = std::move(values);
  return Status::OK();
}

template <class E, size_t N>
Status ReadEnum(const json& raw, const char* key, const EnumTable<E, N>& table, E& out) {
  auto it = raw.find(key);
  if (it == raw.end()) return Status::OK();
  if (!it->is_string()) return Invalid(FieldName(key), "expected a string");
  const auto text = it->get<std::string>();
  auto parsed = table.Parse(text);
  if (!parsed) return Invalid(FieldName(key), Quoted(text) + " is not one of " + table.Choices());
  out = *parsed;
  return Status::OK();
}

json OptionalToJson(const std::optional<std::string>& value) {
  return value ? json(*value) : json(nullptr);
}

}  // namespace

// ---- enums ----------------------------------------------------------------------------

const char* ToString(WorkerMode v) { return kModes.Name(v); }
const char* ToString(Scope v) { return kScopes.Name(v); }
const char* ToString(ExecutionMode v) { return kExecutionModes.Name(v); }
const char* ToString(Priority v) { return kPriorities.Name(v); }
std::optional<WorkerMode> ParseWorkerMode(std::string_view t) { return kModes.Parse(t); }
std::optional<Scope> ParseScope(std::string_view t) { return kScopes.Parse(t); }
std::optional<ExecutionMode> ParseExecutionMode(std::string_view t) { return kExecutionModes.Parse(t); }
std::optional<Priority> ParsePriority(std::string_view t) { return kPriorities.Parse(t); }

// ---- records --------------------------------------------------------------------------

std::string DefaultWorkerScript() { return "logger.info(\"Worker script initialized!\");"; }

WorkerRecord NewWorkerRecord(std::string node_id, WorkerRecord fields, int64_t now_ms) {
  WorkerRecord r = std::move(fields);
  if (r.sid.empty()) r.sid = NewUuid();
  if (r.nid.empty()) r.nid = std::move(node_id);
  if (r.note.empty()) r.note = "Worker script Stels SDK " + r.sid + " - " + IsoTime(now_ms);
  if (r.script.empty()) r.script = DefaultWorkerScript();
  if (r.version.empty()) r.version = kDefaultRecordVersion;
  if (r.timestamp == 0) r.timestamp = now_ms;
  return r;
}

Status ValidateRecord(const WorkerRecord& r) {
  if (!IsUuid(r.sid)) return Invalid("sid", Quoted(r.sid) + " is not a UUID");
  if (Status s = CheckString("nid", r.nid, kMaxIdBytes, true); !s.ok()) return s;
  if (Status s = CheckString("note", r.note, kMaxNoteBytes, false); !s.ok()) return s;
  if (Status s = CheckString("script", r.script, kMaxScriptBytes, false); !s.ok()) return s;
  for (size_t i = 0; i < r.dependencies.size(); ++i) {
    if (!IsValidUtf8(r.dependencies[i]))
      return Invalid("dependencies[" + std::to_string(i) + "]", "is not valid UTF-8");
  }
  if (Status s = CheckString("version", r.version, kMaxVersionBytes, true); !s.ok()) return s;
  if (r.account_id) {
    if (Status s = CheckString("accountId", *r.account_id, kMaxIdBytes, false); !s.ok()) return s;
  }
  if (r.assigned_node) {
    if (Status s = CheckString("assignedNode", *r.assigned_node, kMaxIdBytes, false); !s.ok()) return s;
  }
  if (r.execution_mode == ExecutionMode::kExclusive && (!r.assigned_node || r.assigned_node->empty()))
    return Invalid("assignedNode", "exclusive mode requires assignedNode");
  return Status::OK();
}

nlohmann::json RecordToJson(const WorkerRecord& r) {
  json raw = json::object();
  raw["sid"] = r.sid;
  raw["nid"] = r.nid;
  raw["active"] = r.active;
  raw["mode"] = ToString(r.mode);
  raw["note"] = r.note;
  raw["script"] = r.script;
  raw["dependencies"] = r.dependencies;
  raw["version"] = r.version;
  raw["timestamp"] = r.timestamp;
  raw["scope"] = ToString(r.scope);
  raw["executionMode"] = ToString(r.execution_mode);
  raw["priority"] = ToString(r.priority);
  raw["accountId"] = OptionalToJson(r.account_id);
  raw["assignedNode"] = OptionalToJson(r.assigned_node);
  return raw;
}

Result<WorkerRecord> RecordFromJson(const nlohmann::json& raw) {
  if (!raw.is_object()) return Status::InvalidArgument("raw: expected an object");
  WorkerRecord r;
  Status s;
  if (!(s = ReadString(raw, "sid", r.sid)).ok()) return s;
  if (!(s = ReadString(raw, "nid", r.nid)).ok()) return s;
  if (!(s = ReadBool(raw, "active", r.active)).ok()) return s;
  if (!(s = ReadEnum(raw, "mode", kModes, r.mode)).ok()) return s;
  if (!(s = ReadString(raw, "note", r.note)).ok()) return s;
  if (!(s = ReadString(raw, "script", r.script)).ok()) return s;
  if (!(s = ReadStringArray(raw, "dependencies", r.dependencies)).ok()) return s;
  if (!(s = ReadString(raw, "version", r.version)).ok()) return s;
  if (!(s = ReadInt64(raw, "timestamp", r.timestamp)).ok()) return s;
  if (!(s = ReadEnum(raw, "scope", kScopes, r.scope)).ok()) return s;
  if (!(s = ReadEnum(raw, "executionMode", kExecutionModes, r.execution_mode)).ok()) return s;
  if (!(s = ReadEnum(raw, "priority", kPriorities, r.priority)).ok()) return s;
  if (!(s = ReadOptionalString(raw, "accountId", r.account_id)).ok()) return s;
  if (!(s = ReadOptionalString(raw, "assignedNode", r.assigned_node)).ok()) return s;
  return r;
}

nlohmann::json RecordToStoredValue(const WorkerRecord& r) {
  json value = json::object();
  value["channel"] = WorkerChannel(r.sid);
  value["module"] = "worker";
  value["widget"] = "widget." + WorkerChannel(r.sid);
  value["raw"] = RecordToJson(r);
  value["timestamp"] = r.timestamp;
  return value;
}

Result<WorkerRecord> RecordFromStoredValue(const nlohmann::json& value) {
  if (!value.is_object()) return Status::InvalidArgument("value: expected an object");
  auto it = value.find("raw");
  if (it == value.end() || !it->is_object())
    return Status::InvalidArgument("value.raw: expected an object");
  return RecordFromJson(*it);
}

std::string WorkerChannel(std::string_view sid) {
  return "ami.worker." + std::string(sid);
}

// ---- hashes and UUIDs -----------------------------------------------------------------

std::string ScriptHash(std::string_view script) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(script.data(), script.size(), digest, &len, EVP_sha256(), nullptr) != 1 || len < 4)
    return "00000000";
  return HexOf(digest, 4);
}

std::string NewUuid() {
  unsigned char b[16];
  if (RAND_bytes(b, sizeof b) != 1) {
    // OpenSSL's CSPRNG failing is very unlikely; fall back to the OS source.
    thread_local std::mt19937_64 gen{[] {
      std::random_device rd;
      std::seed_seq seq{rd(), rd(), rd(), rd(), rd(), rd(), rd(), rd()};
      return std::mt19937_64(seq);
    }()};
    for (size_t i = 0; i < sizeof b; i += 8) {
      uint64_t v = gen();
      for (size_t k = 0; k < 8; ++k) b[i + k] = static_cast<unsigned char>(v >> (8 * k));
    }
  }
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);  // version 4
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);  // RFC 4122 variant
  return FormatUuid(b);
}

std::string NameUuid(std::string_view name) {
  unsigned char ns[16];
  UuidBytes(kWorkerNamespaceUuid, ns);
  std::string input(reinterpret_cast<const char*>(ns), sizeof ns);
  input.append(name);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(input.data(), input.size(), digest, &len, EVP_sha1(), nullptr);
  unsigned char b[16];
  for (int i = 0; i < 16; ++i) b[i] = digest[i];
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x50);  // version 5
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);  // RFC 4122 variant
  return FormatUuid(b);
}

bool IsUuid(std::string_view text) {
  if (text.size() != 36) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (text[i] != '-') return false;
    } else if (HexValue(text[i]) < 0) {
      return false;
    }
  }
  return true;
}

}  // namespace ami
