#include "runtime/node/worker_catalog.h"

#include <map>
#include <utility>

#include <nlohmann/json.hpp>

namespace ami {

namespace {

using json = nlohmann::json;

std::string Quoted(const std::string& s) { return json(s).dump(); }

// "raw.x: …" / "x: …" from the record parser and ValidateRecord, as the edit names it.
Status Renamed(const Status& s, const std::string& from, const std::string& to) {
  if (s.code() != Status::Code::kInvalidArgument || s.message().rfind(from, 0) != 0) return s;
  return Status::InvalidArgument(to + s.message().substr(from.size()));
}

// An entry that is not a record in force: where it is ("local [..]") and why.
struct Unreadable {
  std::string where;
  std::string why;
};

std::optional<StoredWorker> ReadEntry(kv::Space space, const std::string& sid, const std::optional<kv::Entry>& entry,
                                      std::vector<Unreadable>* problems) {
  if (!entry) return std::nullopt;
  auto record = ReadStoredRecord(sid, entry->value);
  if (!record.ok()) {
    problems->push_back({std::string(kv::ToString(space)) + " " + kv::KeyToString(entry->key), record.status().message()});
    return std::nullopt;
  }
  return StoredWorker{std::move(*record), entry->versionstamp, space};
}

kv::Mutation SetRecord(const WorkerRecord& record) {
  return kv::Mutation{kv::Mutation::Kind::kSet, WorkerKey(record.sid), RecordToStoredValue(record).dump(), std::nullopt};
}

Status InDeclaration(const WorkerDeclaration& d, const std::string& message) {
  return Status::InvalidArgument(d.where + ": workers: " + d.name + ": " + message);
}

}  // namespace

kv::Key WorkerKey(const std::string& sid) { return kv::MakeKey({"ami", "worker", sid}); }

kv::Space SpaceOf(const WorkerRecord& record) {
  return record.scope == Scope::kNetwork ? kv::Space::kNetwork : kv::Space::kLocal;
}

std::optional<std::string> SidOfWorkerKey(const kv::Key& key) {
  if (key.size() != 3) return std::nullopt;
  for (const auto& part : key)
    if (part.type != kv::KeyPart::Type::kString) return std::nullopt;
  if (key[0].text != "ami" || key[1].text != "worker") return std::nullopt;
  return key[2].text;
}

Result<WorkerRecord> ReadStoredRecord(const std::string& key_sid, const std::string& value) {
  auto parsed = json::parse(value, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return Status::InvalidArgument("not JSON");
  auto record = RecordFromStoredValue(parsed);
  if (!record.ok()) return record.status();
  if (Status valid = ValidateRecord(*record); !valid.ok()) return valid;
  // Otherwise a record stored under one sid would run (and take leases) as another.
  if (record->sid != key_sid)
    return Status::InvalidArgument("raw.sid \"" + record->sid + "\" differs from the sid in its key \"" + key_sid + "\"");
  return record;
}

std::optional<StoredWorker> PickCurrent(const std::string& sid, const std::optional<kv::Entry>& local,
                                        const std::optional<kv::Entry>& network, std::string* problem) {
  std::vector<Unreadable> problems;
  auto from_local = ReadEntry(kv::Space::kLocal, sid, local, &problems);
  auto from_network = ReadEntry(kv::Space::kNetwork, sid, network, &problems);
  if (problem) {
    problem->clear();
    for (const auto& p : problems) *problem += (problem->empty() ? "" : "; ") + p.where + ": " + p.why;
  }
  return from_local ? from_local : from_network;
}

Result<std::vector<StoredWorker>> LoadWorkerRecords(kv::Store& store, std::vector<std::string>* warnings) {
  std::map<std::string, std::pair<std::optional<kv::Entry>, std::optional<kv::Entry>>> by_sid;
  kv::ListOptions options;
  options.prefix = kv::MakeKey({"ami", "worker"});
  for (kv::Space space : {kv::Space::kLocal, kv::Space::kNetwork}) {
    auto entries = store.List(space, options);
    if (!entries.ok()) return entries.status();
    for (auto& e : *entries) {
      const auto sid = SidOfWorkerKey(e.key);
      if (!sid) {
        if (warnings)
          warnings->push_back(std::string(kv::ToString(space)) + " " + kv::KeyToString(e.key) +
                              ": skipped, not a worker record: not a worker key");
        continue;
      }
      auto& both = by_sid[*sid];
      (space == kv::Space::kLocal ? both.first : both.second) = std::move(e);
    }
  }
  std::vector<StoredWorker> out;
  for (const auto& [sid, both] : by_sid) {
    std::vector<Unreadable> problems;
    auto local = ReadEntry(kv::Space::kLocal, sid, both.first, &problems);
    auto network = ReadEntry(kv::Space::kNetwork, sid, both.second, &problems);
    if (warnings)
      for (const auto& p : problems) warnings->push_back(p.where + ": skipped, not a worker record: " + p.why);
    if (local) out.push_back(std::move(*local));
    else if (network) out.push_back(std::move(*network));
  }
  return out;
}

Result<WorkerRecord> ApplyEdit(const WorkerRecord& current, const WorkerEdit& edit) {
  if (!edit.changes.is_object())
    return Status::InvalidArgument(std::string("changes: expected an object, got ") + edit.changes.type_name());
  json raw = RecordToJson(current);
  for (const auto& [key, value] : edit.changes.items()) {
    if (!raw.contains(key)) return Status::InvalidArgument("changes." + key + ": unknown field");
    if (key == "sid" || key == "nid") {
      if (value != raw[key])
        return Status::InvalidArgument("changes." + key + ": is immutable (stored " +
                                       Quoted(raw[key].get<std::string>()) + ")");
      continue;
    }
    if (key == "timestamp") continue;  // the catalog sets it
    if ((key == "accountId" || key == "assignedNode") && value.is_string() && value.get<std::string>().empty()) {
      raw[key] = nullptr;
      continue;
    }
    raw[key] = value;
  }
  auto merged = RecordFromJson(raw);
  if (!merged.ok()) return Renamed(merged.status(), "raw.", "changes.");
  if (Status valid = ValidateRecord(*merged); !valid.ok()) return Renamed(valid, "", "changes.");
  merged->timestamp = current.timestamp;
  return merged;
}

bool SameIgnoringTimestamp(const WorkerRecord& a, const WorkerRecord& b) {
  WorkerRecord copy = a;
  copy.timestamp = b.timestamp;
  return copy == b;
}

Result<WorkerRecord> MakeNewRecord(const NewWorker& request, const std::vector<WorkerTemplate>& templates,
                                   const std::string& node_id, int64_t now_ms) {
  const TemplateOverrides& o = request.fields;
  if (!request.template_id.empty()) {
    const WorkerTemplate* t = FindTemplate(templates, request.template_id);
    if (!t) return UnknownTemplate(request.template_id, templates);
    return RecordFromTemplate(*t, o, node_id, now_ms);  // validated there
  }
  WorkerRecord fields;  // the defaults (inactive), then what the request gives
  ApplyOverrides(o, &fields);
  WorkerRecord record = NewWorkerRecord(node_id, std::move(fields), now_ms);
  if (Status valid = ValidateRecord(record); !valid.ok()) return valid;
  return record;
}

std::vector<StoreStep> MoveSteps(const std::optional<StoredWorker>& current, const WorkerRecord& next) {
  const kv::Key key = WorkerKey(next.sid);
  const kv::Space target = SpaceOf(next);
  if (!current) return {StoreStep{target, {kv::Check{key, 0}}, {SetRecord(next)}}};
  if (current->space == target) return {StoreStep{target, {kv::Check{key, current->versionstamp}}, {SetRecord(next)}}};
  return {StoreStep{target, {kv::Check{key, 0}}, {SetRecord(next)}},
          StoreStep{current->space,
                    {kv::Check{key, current->versionstamp}},
                    {kv::Mutation{kv::Mutation::Kind::kDelete, key, {}, std::nullopt}}}};
}

std::string DeclaredSid(const Config& config, const WorkerDeclaration& declaration) {
  if (!declaration.record.sid.empty()) return declaration.record.sid;
  return NameUuid(config.node.id + "/" + declaration.name);
}

Result<std::optional<WorkerRecord>> PlanDeclaration(const Config& config, const WorkerDeclaration& declaration,
                                                    const std::optional<StoredWorker>& existing,
                                                    const std::string& applied_hash,
                                                    const std::vector<WorkerTemplate>& templates, int64_t now_ms) {
  const WorkerTemplate* from_template = nullptr;
  if (!declaration.template_id.empty()) {
    from_template = FindTemplate(templates, declaration.template_id);
    if (!from_template)
      return InDeclaration(declaration, UnknownTemplate(declaration.template_id, templates).message());
  }
  if (existing && applied_hash == declaration.source_hash) return std::optional<WorkerRecord>();  // unchanged

  const std::string sid = DeclaredSid(config, declaration);
  WorkerRecord fields = declaration.record;
  fields.sid = sid;
  if (from_template) {
    TemplateOverrides overrides = DeclaredOverrides(declaration);
    overrides.sid = sid;
    auto made = RecordFromTemplate(*from_template, overrides, config.node.id, now_ms);
    if (!made.ok()) return InDeclaration(declaration, "template " + from_template->id + ": " + made.status().message());
    fields = std::move(*made);
  }
  WorkerRecord record;
  if (existing) {
    record = std::move(fields);
    record.nid = existing->record.nid;  // immutable
    record.timestamp = now_ms;
    if (record.note.empty() || (from_template && !declaration.given.count("note"))) record.note = existing->record.note;
  } else {
    record = NewWorkerRecord(config.node.id, std::move(fields), now_ms);
  }
  if (Status valid = ValidateRecord(record); !valid.ok()) return InDeclaration(declaration, valid.message());
  return std::optional<WorkerRecord>(std::move(record));
}

std::string DeclaredMetaName(const std::string& sid) { return "declared/" + sid; }

}  // namespace ami
