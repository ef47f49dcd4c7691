#include "runtime/model/worker_record.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <array>
#include <cstdio>
#include <random>

#include <nlohmann/json.hpp>

#include "runtime/base/clock.h"
#include "runtime/base/digest.h"
#include "runtime/model/worker_fields.h"

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
  std::vector<std::string> Names() const {
    std::vector<std::string> out;
    for (const auto& [e, name] : entries) out.emplace_back(name);
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

template <>
const std::vector<std::string>& EnumNames<WorkerMode>() {
  static const auto names = kModes.Names();
  return names;
}
template <>
const std::vector<std::string>& EnumNames<Scope>() {
  static const auto names = kScopes.Names();
  return names;
}
template <>
const std::vector<std::string>& EnumNames<ExecutionMode>() {
  static const auto names = kExecutionModes.Names();
  return names;
}
template <>
const std::vector<std::string>& EnumNames<Priority>() {
  static const auto names = kPriorities.Names();
  return names;
}

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
  for (const auto& field : WorkerFields())
    if (Status s = CheckFieldValue(field, r); !s.ok()) return s;
  // The one rule between fields.
  if (r.execution_mode == ExecutionMode::kExclusive && (!r.assigned_node || r.assigned_node->empty()))
    return Status::InvalidArgument("assignedNode: exclusive mode requires assignedNode");
  return Status::OK();
}

nlohmann::json RecordToJson(const WorkerRecord& r) {
  json raw = json::object();
  for (const auto& field : WorkerFields()) raw[field.json_name] = field.get(r);
  return raw;
}

Result<WorkerRecord> RecordFromJson(const nlohmann::json& raw) {
  if (!raw.is_object()) return Status::InvalidArgument("raw: expected an object");
  WorkerRecord r;
  for (const auto& field : WorkerFields()) {
    auto it = raw.find(field.json_name);
    if (it == raw.end()) continue;
    Status s = CheckFieldJson(field, *it, std::string("raw.") + field.json_name, JsonDialect::kRecord);
    if (!s.ok()) return s;
    field.put(r, *it);
  }
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
