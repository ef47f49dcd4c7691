// What a node gives its workers — store actor, stats, exchanges — without the node actor,
// so a test spawns worker actors directly (as the node actor does) and controls leader
// grants itself. Shared by tests/worker_actor_test.cpp and tests/plugins/containment_test.cpp.
// Header-only: only test targets that link ami_actors include it.
#pragma once

#include <catch2/catch.hpp>

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "actors/exchange_access.h"
#include "actors/messages.h"
#include "actors/store_actor.h"
#include "runtime/js/v8_process.h"
#include "actors/worker_actor.h"
#include "runtime/base/clock.h"
#include "tests/support/test_support.h"

namespace ami::test {

// An active worker record with a fresh sid for node s-0001, as setWorker would make it.
inline WorkerRecord ActiveRecord(const std::string& script, Priority priority = Priority::kNormal,
                                 WorkerMode mode = WorkerMode::kLoop,
                                 ExecutionMode execution = ExecutionMode::kParallel) {
  WorkerRecord fields;
  fields.active = true;
  fields.script = script;
  fields.priority = priority;
  fields.mode = mode;
  fields.execution_mode = execution;
  return NewWorkerRecord("s-0001", fields, WallMillis());
}

// A grant for node s-0001 with `term`, valid for `valid_for` from now.
inline LeaderGrant MakeGrant(uint64_t term, std::chrono::milliseconds valid_for) {
  LeaderGrant g;
  g.node = "s-0001";
  g.term = term;
  g.expires_at_ms = WallMillis() + valid_for.count();
  g.valid_until = std::chrono::steady_clock::now() + valid_for;
  return g;
}

// Derived fixtures call Start() from their constructor. Stop() stops every spawned worker
// (as the node stops its workers), the stand-in node and the store, then waits for all
// actors; it runs at the latest in the destructor and is safe to call twice.
struct WorkerRig {
  TempDir dir;
  Config config;
  std::unique_ptr<caf::actor_system_config> cfg;
  std::unique_ptr<caf::actor_system> system;
  StoreActor store;
  caf::actor node;  // stands in for the node actor: gets (failed_atom, sid, message)
  std::shared_ptr<WorkerEnvironment> env;
  std::vector<std::pair<caf::actor, std::shared_ptr<js::StopSwitch>>> workers;

  WorkerRig() = default;
  WorkerRig(const WorkerRig&) = delete;
  WorkerRig& operator=(const WorkerRig&) = delete;
  ~WorkerRig() { Shutdown(); }

  // Parses `yaml` (REQUIREs it valid), opens the store under dir, and spawns the store
  // actor and `node_behavior` as the node. Exchange problems are appended to `problems`.
  template <class NodeBehavior>  // caf::behavior(caf::event_based_actor*)
  void Start(const std::string& yaml, std::vector<std::string>* problems, NodeBehavior node_behavior) {
    auto parsed = ParseConfig(yaml, "test.yaml", dir.path());
    INFO(parsed.status().message());
    REQUIRE(parsed.ok());
    config = *parsed;
    auto clock = std::make_shared<HybridClock>();
    kv::StoreOptions store_options;
    store_options.node_id = config.node.id;
    store_options.clock = clock.get();
    auto opened = kv::Store::Open(config.node.data_dir / "node.db", store_options);
    REQUIRE(opened.ok());
    auto exchanges = BuildExchangeDirectory(config, problems);
    js::InitializeV8();
    cfg = std::make_unique<caf::actor_system_config>();
    cfg->add_message_types<caf::id_block::ami>();
    cfg->set("scheduler.max-threads", 3);
    cfg->set("logger.verbosity", caf::atom("quiet"));
    system = std::make_unique<caf::actor_system>(*cfg);
    store = SpawnStoreActor(*system, std::move(*opened));
    node = system->spawn(std::move(node_behavior));
    env = MakeWorkerEnvironment(config, store, clock, exchanges, 2);
  }

  void Shutdown() {
    if (!system) return;
    {
      caf::scoped_actor self{*system};
      for (auto& [worker, stop_switch] : workers) {
        stop_switch->RequestStop(config.limits.stop_grace);
        self->send(worker, stop_atom_v);
      }
      self->send_exit(node, caf::exit_reason::user_shutdown);
      self->send_exit(store, caf::exit_reason::user_shutdown);
    }
    workers.clear();
    node = nullptr;
    store = nullptr;
    if (env) env->services.store = nullptr;  // a strong handle to the detached store would keep the system waiting
    system.reset();  // waits for every actor, the workers' stops included
  }

  caf::actor Spawn(const WorkerRecord& record, std::optional<LeaderGrant> grant = std::nullopt) {
    auto stop_switch = std::make_shared<js::StopSwitch>();
    // Untyped, so tests can send what they like; the worker's own checks still apply.
    auto worker = caf::actor_cast<caf::actor>(
        SpawnWorker(*system, env, record, caf::actor_cast<WorkerSupervisor>(node), stop_switch, std::move(grant)));
    workers.emplace_back(worker, stop_switch);
    return worker;
  }

  // The value at [name] in the local KV space, if any.
  std::optional<nlohmann::json> Local(const std::string& name) {
    caf::scoped_actor self{*system};
    kv::Request get;
    get.op = kv::Request::Op::kGet;
    get.space = kv::Space::kLocal;
    get.key = kv::MakeKey({name});
    std::optional<nlohmann::json> out;
    self->request(store, std::chrono::seconds(30), kv_atom_v, std::move(get))
        .receive([&](kv::Reply& reply) { if (reply.entry) out = nlohmann::json::parse(reply.entry->value); },
                 [](caf::error&) { FAIL("store"); });
    return out;
  }

  // The value at [name] in the local KV space, once there is one (REQUIREd within 20 s).
  nlohmann::json AwaitLocal(const std::string& name) {
    std::optional<nlohmann::json> out;
    REQUIRE(Eventually([&] { return (out = Local(name)).has_value(); }));
    return *out;
  }

  WorkerStats Stats(const std::string& sid) { return env->services.stats->Get(sid).value_or(WorkerStats{}); }
  std::string Log(const std::string& sid) { return ReadFile(env->settings.log_dir / (sid + ".log")); }
};

}  // namespace ami::test
