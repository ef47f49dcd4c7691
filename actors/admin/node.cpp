// The node and its cluster (docs/admin-api.md): nodes.list, plugins.list, node.info and
// faults.set (tests only).
#include <spdlog/spdlog.h>

#include <algorithm>

#include "actors/admin/admin.h"
#include "actors/exchange_access.h"
#include "runtime/base/clock.h"

#ifndef AMI_VERSION
#define AMI_VERSION "0.1.0"  // keep in step with project(ami VERSION …) until the build passes it
#endif

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
               {"version", AMI_VERSION},
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

void FaultsSet(Admin& admin, const json& args, Done done) {
  if (Status s = OnlyKnown(args, {"drop"}, "", "faults.set"); !s.ok()) return done(s);
  const Config& config = admin.ctx.config;
  if (!config.cluster || !config.cluster->fault_injection)
    return done(Status::InvalidArgument("faults.set: fault injection is off (cluster.fault_injection is not true)"));
  const json* drop = Arg(args, "drop");
  if (!drop) return done(Invalid("drop", "required (an array of node ids; [] heals)"));
  if (!drop->is_array()) return done(Invalid("drop", "expected an array of node ids"));
  for (size_t i = 0; i < drop->size(); ++i)
    if (!(*drop)[i].is_string()) return done(Invalid("drop[" + std::to_string(i) + "]", "expected a node id"));
  spdlog::warn("admin: faults.set drop {}", drop->dump());
  admin.self->request(admin.ctx.cluster, kClusterTimeout, faults_atom_v, json{{"drop", *drop}}.dump())
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
  return {{"nodes.list", NodesList}, {"plugins.list", PluginsList}, {"node.info", NodeInfo}, {"faults.set", FaultsSet}};
}

}  // namespace ami::admin
