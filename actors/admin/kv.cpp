// kv.* (docs/admin-api.md, "KV"): the store's KV operations for operators. Keys under
// ["ami", …] are the node's own (worker records, leader records): readable here, never
// written — worker records change only through workers.* and the worker catalog.
#include "actors/admin/admin.h"
#include "runtime/store/kv_key.h"

namespace ami::admin {

namespace {

constexpr int64_t kMaxListLimit = 10000;

json EntryJson(const kv::Entry& e) {
  json value = json::parse(e.value, nullptr, false);
  if (value.is_discarded()) value = e.value;  // the store only holds JSON; just in case
  return {{"key", kv::KeyToJson(e.key)}, {"value", std::move(value)}, {"versionstamp", kv::FormatVersionstamp(e.versionstamp)}};
}

bool IsReserved(const kv::Key& key) {
  return !key.empty() && key[0].type == kv::KeyPart::Type::kString && key[0].text == "ami";
}

Status RefuseReserved(const kv::Key& key, const char* op) {
  if (!IsReserved(key)) return Status::OK();
  return Invalid("key", std::string(op) + " refuses keys under [\"ami\", …]: they are the node's own (worker records, "
                        "leader records); change workers with workers.*");
}

void KvGet(Admin& admin, const json& args, Done done) {
  if (Status s = OnlyKnown(args, {"space", "key"}, "", "kv.get"); !s.ok()) return done(s);
  auto space = RequiredSpace(args);
  if (!space.ok()) return done(space.status());
  auto key = KeyArg(args, "key", false);
  if (!key.ok()) return done(key.status());
  admin.Get(*space, *key, done, [space = *space, key = *key, done](std::optional<kv::Entry> entry) {
    if (!entry)
      return done(Status::NotFound("key " + kv::KeyToString(key) + " not found in the " + kv::ToString(space) + " space"));
    done(EntryJson(*entry));
  });
}

void KvSet(Admin& admin, const json& args, Done done) {
  if (Status s = OnlyKnown(args, {"space", "key", "value", "expireIn"}, "", "kv.set"); !s.ok()) return done(s);
  auto space = RequiredSpace(args);
  if (!space.ok()) return done(space.status());
  auto key = KeyArg(args, "key", false);
  if (!key.ok()) return done(key.status());
  if (Status s = RefuseReserved(*key, "kv.set"); !s.ok()) return done(s);
  auto value = args.find("value");
  if (value == args.end()) return done(Invalid("value", "required (any JSON value)"));
  auto expire = OptionalInt(args, "expireIn", 0, INT64_MAX / 2);
  if (!expire.ok()) return done(expire.status());
  const std::string text = Dump(*value);
  if (text.size() > kv::kMaxValueBytes)
    return done(Invalid("value", std::to_string(text.size()) + " bytes of JSON is over the " +
                                     std::to_string(kv::kMaxValueBytes) + "-byte limit"));
  kv::Mutation set{kv::Mutation::Kind::kSet, *key, text, *expire};
  admin.Commit(*space, {std::move(set)}, done, [done](const kv::CommitResult& c) {
    done(json{{"versionstamp", kv::FormatVersionstamp(c.versionstamp)}});
  });
}

void KvList(Admin& admin, const json& args, Done done) {
  if (Status s = OnlyKnown(args, {"space", "prefix", "limit"}, "", "kv.list"); !s.ok()) return done(s);
  auto space = RequiredSpace(args);
  if (!space.ok()) return done(space.status());
  auto prefix = KeyArg(args, "prefix", true);
  if (!prefix.ok()) return done(prefix.status());
  auto limit = OptionalInt(args, "limit", 1, kMaxListLimit);
  if (!limit.ok()) return done(limit.status());
  admin.List(*space, *prefix, static_cast<size_t>(limit->value_or(100)), done, [done](std::vector<kv::Entry> entries) {
    json out = json::array();
    for (const auto& e : entries) out.push_back(EntryJson(e));
    done(std::move(out));
  });
}

void KvDelete(Admin& admin, const json& args, Done done) {
  if (Status s = OnlyKnown(args, {"space", "key"}, "", "kv.delete"); !s.ok()) return done(s);
  auto space = RequiredSpace(args);
  if (!space.ok()) return done(space.status());
  auto key = KeyArg(args, "key", false);
  if (!key.ok()) return done(key.status());
  if (Status s = RefuseReserved(*key, "kv.delete"); !s.ok()) return done(s);
  kv::Mutation remove{kv::Mutation::Kind::kDelete, *key, {}, std::nullopt};
  admin.Commit(*space, {std::move(remove)}, done, [done](const kv::CommitResult&) { done(json{{"deleted", true}}); });
}

}  // namespace

Ops KvOps() { return {{"kv.get", KvGet}, {"kv.set", KvSet}, {"kv.list", KvList}, {"kv.delete", KvDelete}}; }

}  // namespace ami::admin
