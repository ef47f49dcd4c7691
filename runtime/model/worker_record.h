// The worker record, as STELS AMI clients know it (shared/design/stels-compat.md §1).
//
// A record is stored as a KV entry under ["ami","worker",<sid>] in the local store
// (scope "local") or the network store (scope "network"). The stored value is
//   {channel:"ami.worker.<sid>", module:"worker", widget:"widget.ami.worker.<sid>",
//    raw:{...WorkerRecord fields...}, timestamp:<ms>}
// and API entries add the key and a 20-hex-digit versionstamp.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "runtime/base/status.h"

namespace ami {

enum class WorkerMode { kLoop, kSingle };
enum class Scope { kLocal, kNetwork };
enum class ExecutionMode { kParallel, kLeader, kExclusive };
enum class Priority { kCritical = 0, kHigh = 1, kNormal = 2, kLow = 3 };

// Wire names ("loop", "network", "leader", "critical", ...), and their parsers.
const char* ToString(WorkerMode);
const char* ToString(Scope);
const char* ToString(ExecutionMode);
const char* ToString(Priority);
std::optional<WorkerMode> ParseWorkerMode(std::string_view);
std::optional<Scope> ParseScope(std::string_view);
std::optional<ExecutionMode> ParseExecutionMode(std::string_view);
std::optional<Priority> ParsePriority(std::string_view);
// An enum's wire names in declaration order: EnumNames<Priority>() is
// {"critical", "high", "normal", "low"}. Defined for the four enums above.
template <class E>
const std::vector<std::string>& EnumNames();
template <>
const std::vector<std::string>& EnumNames<WorkerMode>();
template <>
const std::vector<std::string>& EnumNames<Scope>();
template <>
const std::vector<std::string>& EnumNames<ExecutionMode>();
template <>
const std::vector<std::string>& EnumNames<Priority>();

// A script may be at most this many bytes, so that the whole stored record stays within
// the 64 KiB KV value limit.
constexpr size_t kMaxScriptBytes = 60 * 1024;
constexpr const char* kDefaultRecordVersion = "1.19.2";
// Limits on the other strings, so that they fit the ~4 KiB left next to a full script.
constexpr size_t kMaxNoteBytes = 2048;
constexpr size_t kMaxVersionBytes = 64;
constexpr size_t kMaxIdBytes = 128;   // nid, accountId, assignedNode
// The namespace of NameUuid(): uuid5(NAMESPACE_URL, "ami:worker"). Fixed forever: the
// sids of YAML-declared workers are derived from it.
constexpr const char* kWorkerNamespaceUuid = "8ff11c8a-0878-58fe-bec1-1244e2c6a3ca";

struct WorkerRecord {
  std::string sid;                       // UUID, set by the server, immutable
  std::string nid;                       // node that created it, immutable
  bool active = false;
  WorkerMode mode = WorkerMode::kLoop;
  std::string note;                      // default: "Worker script Stels SDK <sid> - <ISO time>"
  std::string script;                    // default: logs "Worker script initialized!"
  std::vector<std::string> dependencies{"gliesereum"};
  std::string version = kDefaultRecordVersion;
  int64_t timestamp = 0;                 // ms since epoch of the last change
  Scope scope = Scope::kLocal;
  ExecutionMode execution_mode = ExecutionMode::kParallel;
  Priority priority = Priority::kNormal;
  std::optional<std::string> account_id;
  std::optional<std::string> assigned_node;

  bool operator==(const WorkerRecord&) const = default;
};

// The script a record gets when none is given.
std::string DefaultWorkerScript();

// Fills in what setWorker would: a fresh UUID sid, nid, note, script and timestamp.
// Fields already set are kept: sid/nid/note/script/version only when empty, timestamp
// only when 0. The default note is "Worker script Stels SDK <sid> - <IsoTime(now_ms)>".
WorkerRecord NewWorkerRecord(std::string node_id, WorkerRecord fields, int64_t now_ms);

// Field checks only (the script's syntax is checked by the JS engine): sid is a UUID,
// nid/version non-empty, exclusive has a non-empty assignedNode, script size
// (kMaxScriptBytes), note/version/id lengths (kMaxNoteBytes, kMaxVersionBytes,
// kMaxIdBytes), all strings valid UTF-8. The first problem found is returned
// (InvalidArgument), and the message names the field as clients know it:
//   "assignedNode: exclusive mode requires assignedNode"
//   "sid: \"abc\" is not a UUID"
//   "script: 70000 bytes is over the 61440-byte limit"
//   "nid: must not be empty", "note: is not valid UTF-8"
Status ValidateRecord(const WorkerRecord& record);

// JSON of `raw`, with camelCase names as STELS clients expect; unset optionals are null.
nlohmann::json RecordToJson(const WorkerRecord& record);
// Parses `raw`. Missing fields take their defaults, unknown fields are ignored; wrong
// types (null included, except for accountId/assignedNode) and unknown enum values are
// InvalidArgument errors naming the field:
//   "raw: expected an object", "raw.note: expected a string",
//   "raw.dependencies[1]: expected a string", "raw.timestamp: expected an integer",
//   "raw.priority: \"urgent\" is not one of critical|high|normal|low".
// It does not call ValidateRecord.
Result<WorkerRecord> RecordFromJson(const nlohmann::json& raw);

// The stored KV value: {channel, module, widget, raw, timestamp}; timestamp is the
// record's. RecordFromStoredValue reads `raw` only ("value: expected an object",
// "value.raw: expected an object", then RecordFromJson's "raw.<field>: ..." errors).
nlohmann::json RecordToStoredValue(const WorkerRecord& record);
Result<WorkerRecord> RecordFromStoredValue(const nlohmann::json& value);

// "ami.worker.<sid>"
std::string WorkerChannel(std::string_view sid);
// First 8 hex digits of the SHA-256 of the script (stats' scriptHash).
std::string ScriptHash(std::string_view script);
// A random (v4) UUID (OpenSSL RAND_bytes), and a name-based (v5, SHA-1, namespace
// kWorkerNamespaceUuid) one for declared workers. Both lowercase 8-4-4-4-12.
std::string NewUuid();
std::string NameUuid(std::string_view name);
// 8-4-4-4-12 hex digits (either case), any version.
bool IsUuid(std::string_view text);

}  // namespace ami
