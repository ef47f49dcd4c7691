// leader.info (docs/admin-api.md, "leader.info"): the leader record the lease holder
// keeps in the network KV at ["ami","leader",<sid>], in compat getLeaderInfo form.
#include <algorithm>

#include "actors/admin/admin.h"
#include "runtime/base/clock.h"
#include "runtime/store/kv_key.h"

namespace ami::admin {

namespace {

Result<json> LeaderJson(const std::string& sid, const kv::Key& key, const std::optional<kv::Entry>& entry,
                        int64_t now) {
  json none = {{"workerId", sid}, {"hasLeader", false}, {"message", "No leader elected yet"}};
  if (!entry) return none;
  const json value = json::parse(entry->value, nullptr, false);
  auto bad = [&](const std::string& field, const char* want) {
    return Status::Internal("leader record " + kv::KeyToString(key) + ": " + field + ": expected " + want);
  };
  if (!value.is_object()) return bad("value", "an object");
  auto it = value.find("leader");
  if (it == value.end() || !it->is_string()) return bad("leader", "a node id");
  const std::string leader = it->get<std::string>();
  it = value.find("term");
  if (it == value.end() || !it->is_number_integer()) return bad("term", "an integer");
  const json term = *it;
  auto ms = [&](const char* field) -> Result<int64_t> {
    auto f = value.find(field);
    if (f == value.end() || !f->is_number_integer()) return bad(field, "ms since the epoch");
    return f->get<int64_t>();
  };
  if (auto r = value.find("resigned"); r != value.end() && r->is_boolean() && r->get<bool>()) {
    none["lastTerm"] = term;
    none["lastLeader"] = leader;
    return none;
  }
  auto expires = ms("expiresAt");
  if (!expires.ok()) return expires.status();
  auto timestamp = ms("timestamp");
  if (!timestamp.ok()) return timestamp.status();
  auto renewed = ms("renewedAt");
  if (!renewed.ok()) return renewed.status();
  return json{{"workerId", sid},
              {"hasLeader", true},
              {"leader", leader},
              {"term", term},
              {"timestamp", *timestamp},
              {"expiresAt", *expires},
              {"renewedAt", *renewed},
              {"expiresIn", std::max<int64_t>(0, *expires - now)},
              {"isExpired", *expires <= now}};
}

void LeaderInfo(Admin& admin, const json& args, Done done) {
  if (Status s = OnlyKnown(args, {"sid"}, "", "leader.info"); !s.ok()) return done(s);
  auto sid = RequiredSid(args);
  if (!sid.ok()) return done(sid.status());
  admin.GetWorker(*sid, done, [&admin, sid = *sid, done](const StoredWorker& worker) {
    if (worker.record.execution_mode != ExecutionMode::kLeader)
      return done(Invalid("sid", "worker " + sid + " is not in leader mode (executionMode " +
                                     Quoted(ToString(worker.record.execution_mode)) + ")"));
    const kv::Key key = kv::MakeKey({"ami", "leader", sid});
    admin.Get(kv::Space::kNetwork, key, done, [sid, key, done](std::optional<kv::Entry> entry) {
      done(LeaderJson(sid, key, entry, WallMillis()));
    });
  });
}

}  // namespace

Ops LeaderOps() { return {{"leader.info", LeaderInfo}}; }

}  // namespace ami::admin
