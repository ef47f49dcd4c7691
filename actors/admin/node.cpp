// The node and its cluster (docs/admin-api.md): nodes.list, plugins.list, node.info,
// node.backup and faults.set (tests only).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>

#include "actors/admin/admin.h"
#include "actors/exchange_access.h"
#include "runtime/base/clock.h"
#include "runtime/store/backup.h"
#include "runtime/store/store.h"

#include "ami/version.h"

namespace ami::admin {

namespace {

void NodesList(Admin& admin, const json& args, Done done) {
  if (Status s = OnlyKnown(args, {}, "", "nodes.list"); !s.ok()) return done(s);
  admin.AskCluster(members_atom_v, done, [done](json members) { done(std::move(members)); });
}

void PluginsList(Admin& admin, const json& args, Done done) {
  if (Status s = OnlyKnown(args, {}, "", "plugins.list"); !s.ok()) return done(s);
  const ExchangeDirectory& dir = *admin.ctx.env->services.exchanges;
  const Config& config = admin.ctx.config;
  json plugins = json::array();
  for (const auto& p : dir.plugins) plugins.push_back(p);
  // Exchanges and accounts from the config: ids and what they use, never options or
  // credentials.
  json exchanges = json::array();
  for (const auto& ex : config.exchanges) {
    json e = {{"id", ex.id}, {"connector", ex.connector}};
    auto it = dir.exchanges.find(ex.id);
    const bool available = it != dir.exchanges.end() && it->second.connector;
    e["available"] = available;
    if (!available && it != dir.exchanges.end()) e["unavailable"] = it->second.unavailable;
    exchanges.push_back(std::move(e));
  }
  json accounts = json::array();
  for (const auto& a : config.accounts) accounts.push_back({{"id", a.id}, {"exchange", a.exchange}});
  done(json{{"plugins", std::move(plugins)}, {"exchanges", std::move(exchanges)}, {"accounts", std::move(accounts)}});
}

void NodeInfo(Admin& admin, const json& args, Done done) {
  if (Status s = OnlyKnown(args, {}, "", "node.info"); !s.ok()) return done(s);
  const auto& env = *admin.ctx.env;
  const Config& config = admin.ctx.config;
  const int64_t now = WallMillis();
  json info = {{"node", env.node.id},
               {"cluster", config.cluster ? json(config.cluster->name) : json(nullptr)},
               {"network", env.node.network},
               {"version", build_info::kVersion},
               {"startedAt", env.node.start_ms},
               {"uptime", std::max<int64_t>(0, now - env.node.start_ms)},
               {"runSlots", env.services.run_queue ? env.services.run_queue->slots() : 0},
               {"admin", {{"listen", config.admin ? config.admin->listen : ""}, {"auth", admin.open ? "none" : "token"}}}};
  admin.self->request(admin.ctx.node, kNodeTimeout, started_atom_v)
      .then(
          [info, done](int running) mutable {
            info["workersRunning"] = running;
            done(std::move(info));
          },
          [done](caf::error& err) { done(Unanswered("the node actor", err, kNodeTimeout)); });
}

// A copy of a large store takes a while: its own deadline, well beyond the others.
constexpr auto kBackupTimeout = std::chrono::minutes(30);

// The copy runs in a one-shot detached actor: it is blocking file work that must hold
// neither a scheduler thread nor this actor (other requests go on meanwhile). It
// answers JSON text: {bytes, millis} or {code: "invalid"|"internal", message}.
caf::behavior BackupJob(caf::event_based_actor* self) {
  return {[self](const std::string& db, const std::string& out) -> std::string {
    auto done = kv::BackupStore(db, out);
    self->quit();  // after this one request; the reply still goes out
    if (!done.ok())
      return json{{"code", done.status().code() == Status::Code::kInvalidArgument ? "invalid" : "internal"},
                  {"message", done.status().message()}}
          .dump();
    return json{{"bytes", done->bytes}, {"millis", done->millis}}.dump();
  }};
}

void NodeBackup(Admin& admin, const json& args, Done done) {
  if (Status s = OnlyKnown(args, {"path"}, "", "node.backup"); !s.ok()) return done(s);
  auto path = RequiredString(args, "path");
  if (!path.ok()) return done(path.status());
  const std::filesystem::path out(*path);
  if (!out.is_absolute())
    return done(Invalid("path", Quoted(*path) + " is not an absolute path (the node writes it, on its own machine)"));
  const std::string db = (admin.ctx.config.node.data_dir / "node.db").string();
  auto job = admin.self->spawn<caf::detached>(BackupJob);
  admin.self->request(job, kBackupTimeout, db, out.string())
      .then(
          [done, out](std::string& text) {
            auto reply = json::parse(text, nullptr, false);
            if (reply.is_discarded() || !reply.is_object())
              return done(Status::Internal("the backup job answered something not JSON"));
            if (reply.contains("code")) {
              const std::string message = reply.value("message", "backup failed");
              spdlog::error("admin: backup of the store to {} failed: {}", out.string(), message);
              return done(reply.value("code", "") == "invalid" ? Status::InvalidArgument(message)
                                                               : Status::IOError(message));
            }
            spdlog::info("admin: backup of the store written to {} ({} bytes, {} ms)", out.string(),
                         reply.value("bytes", 0), reply.value("millis", 0));
            done(json{{"path", out.string()}, {"bytes", reply["bytes"]}, {"millis", reply["millis"]}});
          },
          [done](caf::error& err) {
            done(Unanswered("the backup", err, std::chrono::duration_cast<std::chrono::seconds>(kBackupTimeout)));
          });
}

void FaultsSet(Admin& admin, const json& args, Done done) {
  // The cluster actor's knobs, each in ms from 0 (off) to 600000 (docs/admin-api.md).
  static const char* const kClusterKnobs[] = {"reconnect_hold_ms", "pull_hold_ms", "pull_timeout_ms"};
  if (Status s = OnlyKnown(args, {"drop", "commit_delay_ms", "reconnect_hold_ms", "pull_hold_ms", "pull_timeout_ms"},
                           "", "faults.set");
      !s.ok())
    return done(s);
  const Config& config = admin.ctx.config;
  if (!config.cluster || !config.cluster->fault_injection)
    return done(Status::InvalidArgument("faults.set: fault injection is off (cluster.fault_injection is not true)"));
  const json* drop = Arg(args, "drop");
  const json* delay = Arg(args, "commit_delay_ms");
  json faults = json::object();  // what goes to the cluster actor
  for (const char* knob : kClusterKnobs) {
    const json* v = Arg(args, knob);
    if (!v) continue;
    if (!v->is_number_integer() || v->get<int64_t>() < 0 || v->get<int64_t>() > 600'000)
      return done(Invalid(knob, "expected milliseconds from 0 to 600000"));
    faults[knob] = *v;
  }
  if (!drop && !delay && faults.empty())
    return done(Invalid("drop", "required unless commit_delay_ms is given (or reconnect_hold_ms, pull_hold_ms, "
                                "pull_timeout_ms); an array of node ids, [] heals"));
  if (drop && !drop->is_array()) return done(Invalid("drop", "expected an array of node ids"));
  if (drop)
    for (size_t i = 0; i < drop->size(); ++i)
      if (!(*drop)[i].is_string()) return done(Invalid("drop[" + std::to_string(i) + "]", "expected a node id"));
  if (delay && (!delay->is_number_integer() || delay->get<int64_t>() < 0 || delay->get<int64_t>() > 10'000))
    return done(Invalid("commit_delay_ms", "expected milliseconds from 0 to 10000"));
  if (delay) {
    // The slow disk of the fault trials: every store commit (one fsync) takes this much longer.
    spdlog::warn("admin: faults.set commit_delay_ms {}", delay->get<int64_t>());
    kv::Store::SetFaultCommitDelay(std::chrono::milliseconds(delay->get<int64_t>()));
    if (!drop && faults.empty()) return done(json{{"ok", true}, {"commit_delay_ms", *delay}});
  }
  // drop and the knobs are the cluster actor's (the regression tests of fault-trial seeds
  // 1107 and 1001 hold reconnects and pulls with them).
  if (drop) faults["drop"] = *drop;
  spdlog::warn("admin: faults.set {}", faults.dump());
  admin.self->request(admin.ctx.cluster, kClusterTimeout, faults_atom_v, faults.dump())
      .then(
          [done](std::string& text) {
            auto answer = json::parse(text, nullptr, false);
            if (answer.is_discarded()) return done(Status::Internal("the cluster actor answered something not JSON"));
            if (answer.is_object() && answer.value("ok", true) == false) {
              const json& e = answer.contains("error") ? answer["error"] : json("refused");
              std::string message = e.is_string() ? e.get<std::string>()
                                    : e.is_object() && e.contains("message") && e["message"].is_string()
                                        ? e["message"].get<std::string>()
                                        : e.dump();
              return done(Status::InvalidArgument("faults.set: " + message));
            }
            done(std::move(answer));
          },
          [done](caf::error& err) { done(Unanswered("the cluster actor", err, kClusterTimeout)); });
}

}  // namespace

Ops NodeOps() {
  return {{"nodes.list", NodesList}, {"plugins.list", PluginsList}, {"node.info", NodeInfo},
          {"node.backup", NodeBackup}, {"faults.set", FaultsSet}};
}

}  // namespace ami::admin
