#include "runtime/node/worker_catalog.h"

#include <nlohmann/json.hpp>

namespace ami {

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
  auto json = nlohmann::json::parse(value, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return Status::InvalidArgument("not JSON");
  auto record = RecordFromStoredValue(json);
  if (!record.ok()) return record.status();
  if (Status valid = ValidateRecord(*record); !valid.ok()) return valid;
  // Otherwise a record stored under one sid would run (and take leases) as another.
  if (record->sid != key_sid)
    return Status::InvalidArgument("raw.sid \"" + record->sid + "\" differs from the sid in its key \"" + key_sid + "\"");
  return record;
}

Result<std::vector<StoredWorker>> LoadWorkerRecords(kv::Store& store, std::vector<std::string>* warnings) {
  std::vector<StoredWorker> out;
  kv::ListOptions options;
  options.prefix = kv::MakeKey({"ami", "worker"});
  for (kv::Space space : {kv::Space::kLocal, kv::Space::kNetwork}) {
    auto entries = store.List(space, options);
    if (!entries.ok()) return entries.status();
    for (auto& e : *entries) {
      const auto sid = SidOfWorkerKey(e.key);
      auto record = sid ? ReadStoredRecord(*sid, e.value)
                        : Result<WorkerRecord>(Status::InvalidArgument("not a worker key"));
      if (!record.ok()) {
        if (warnings)
          warnings->push_back(std::string(kv::ToString(space)) + " " + kv::KeyToString(e.key) +
                              ": skipped, not a worker record: " + record.status().message());
        continue;
      }
      out.push_back(StoredWorker{std::move(*record), e.versionstamp});
    }
  }
  return out;
}

std::string DeclaredSid(const Config& config, const WorkerDeclaration& declaration) {
  if (!declaration.record.sid.empty()) return declaration.record.sid;
  return NameUuid(config.node.id + "/" + declaration.name);
}

TemplateOverrides DeclarationOverrides(const WorkerDeclaration& d) {
  const WorkerRecord& r = d.record;
  auto given = [&](const char* key) { return d.given.count(key) > 0; };
  TemplateOverrides o;
  o.active = given("active") ? r.active : true;
  if (given("mode")) o.mode = r.mode;
  if (given("priority")) o.priority = r.priority;
  if (given("execution_mode")) o.execution_mode = r.execution_mode;
  if (given("scope")) o.scope = r.scope;
  if (given("account_id")) o.account_id = r.account_id.value_or("");
  if (given("assigned_node")) o.assigned_node = r.assigned_node.value_or("");
  if (given("note")) o.note = r.note;
  if (given("script") || given("script_file")) o.script = r.script;
  if (given("dependencies")) o.dependencies = r.dependencies;
  if (given("version")) o.version = r.version;
  return o;
}

Result<std::vector<std::string>> ApplyDeclarations(kv::Store& store, const Config& config, int64_t now_ms,
                                                   const std::vector<WorkerTemplate>& templates) {
  // Every template id is checked before anything is written: a typo changes nothing.
  for (const auto& declaration : config.workers) {
    if (!declaration.template_id.empty() && !FindTemplate(templates, declaration.template_id))
      return Status::InvalidArgument(declaration.where + ": workers: " + declaration.name + ": " +
                                     UnknownTemplate(declaration.template_id, templates).message());
  }
  std::vector<std::string> actions;
  for (const auto& declaration : config.workers) {
    const WorkerTemplate* from_template =
        declaration.template_id.empty() ? nullptr : FindTemplate(templates, declaration.template_id);
    const std::string sid = DeclaredSid(config, declaration);
    const std::string meta_name = "declared/" + sid;
    auto applied_hash = store.GetMeta(meta_name);
    if (!applied_hash.ok()) return applied_hash.status();

    // Find the record in either space.
    std::optional<WorkerRecord> existing;
    std::optional<kv::Space> existing_space;
    for (kv::Space space : {kv::Space::kLocal, kv::Space::kNetwork}) {
      auto entry = store.Get(space, WorkerKey(sid));
      if (!entry.ok()) return entry.status();
      if (!*entry) continue;
      auto record = ReadStoredRecord(sid, (*entry)->value);
      if (record.ok()) {
        existing = std::move(*record);
        existing_space = space;
      }
    }
    if (existing && applied_hash->value_or("") == declaration.source_hash) continue;  // unchanged

    WorkerRecord fields = declaration.record;
    fields.sid = sid;
    if (from_template) {
      TemplateOverrides overrides = DeclarationOverrides(declaration);
      overrides.sid = sid;
      auto made = RecordFromTemplate(*from_template, overrides, config.node.id, now_ms);
      if (!made.ok())
        return Status::InvalidArgument(declaration.where + ": workers: " + declaration.name + ": template " +
                                       from_template->id + ": " + made.status().message());
      fields = std::move(*made);
    }
    WorkerRecord record;
    if (existing) {
      record = fields;
      record.nid = existing->nid;   // immutable
      record.timestamp = now_ms;
      if (record.note.empty() || (from_template && !declaration.given.count("note"))) record.note = existing->note;
    } else {
      record = NewWorkerRecord(config.node.id, fields, now_ms);
    }
    Status valid = ValidateRecord(record);
    if (!valid.ok()) return Status::InvalidArgument(declaration.where + ": workers: " + declaration.name + ": " + valid.message());

    std::vector<kv::Mutation> mutations{
        kv::Mutation{kv::Mutation::Kind::kSet, WorkerKey(sid), RecordToStoredValue(record).dump(), std::nullopt}};
    auto committed = store.Commit(SpaceOf(record), {}, mutations);
    if (!committed.ok()) return committed.status();
    if (existing_space && *existing_space != SpaceOf(record)) {
      auto removed = store.Delete(*existing_space, WorkerKey(sid));
      if (!removed.ok()) return removed.status();
    }
    Status meta = store.SetMeta(meta_name, declaration.source_hash);
    if (!meta.ok()) return meta;
    actions.push_back(std::string(existing ? "updated" : "created") + " declared worker " + declaration.name +
                      " (" + sid + ")");
  }
  return actions;
}

}  // namespace ami
