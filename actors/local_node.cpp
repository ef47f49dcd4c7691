#include "actors/local_node.h"

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include <nlohmann/json.hpp>
#include <thread>

#include "actors/admin_service.h"
#include "actors/cluster_actor.h"
#include "actors/exchange_access.h"
#include "actors/messages.h"
#include "actors/node_actor.h"
#include "actors/peer_gate.h"
#include "actors/store_actor.h"
#include "plugins/loader.h"
#include "runtime/cluster/membership.h"
#include "runtime/config/host_port.h"
#include "runtime/config/node_files.h"
#include "runtime/node/worker_catalog.h"
#include "transport/caf_tls.h"

namespace ami {

namespace {

// A pack's template as the runtime knows it; an error names the bad default.
Result<WorkerTemplate> ConvertTemplate(const std::string& pack, const plugin::Template& t) {
  WorkerTemplate out;
  out.id = t.id;
  out.name = t.name;
  out.description = t.description;
  out.category = t.category;
  out.icon = t.icon;
  out.script = t.script;
  out.dependencies = t.dependencies;
  out.version = t.version.empty() ? kDefaultRecordVersion : t.version;
  out.pack = pack;
  out.assigned_node = t.defaults.assigned_node;
  auto bad = [&](const char* field, const std::string& value, const char* choices) {
    return Status::InvalidArgument("template pack " + pack + ": template " + t.id + ": defaults." + field + " \"" +
                                   value + "\" is not one of " + choices);
  };
  if (t.id.empty()) return Status::InvalidArgument("template pack " + pack + ": a template has no id");
  if (auto v = ParseWorkerMode(t.defaults.mode)) out.mode = *v;
  else return bad("mode", t.defaults.mode, "loop|single");
  if (auto v = ParsePriority(t.defaults.priority)) out.priority = *v;
  else return bad("priority", t.defaults.priority, "critical|high|normal|low");
  if (auto v = ParseExecutionMode(t.defaults.execution_mode)) out.execution_mode = *v;
  else return bad("execution_mode", t.defaults.execution_mode, "parallel|leader|exclusive");
  if (auto v = ParseScope(t.defaults.scope)) out.scope = *v;
  else return bad("scope", t.defaults.scope, "local|network");
  if (out.script.empty()) return Status::InvalidArgument("template pack " + pack + ": template " + t.id + " has no script");
  return out;
}

// Every template of every loaded pack; problems go to *problems and skip that template.
std::vector<WorkerTemplate> CollectTemplates(const plugins::PluginRegistry* registry,
                                             std::vector<std::string>* problems) {
  std::vector<WorkerTemplate> out;
  if (!registry) return out;
  for (const auto& pack_id : registry->template_pack_ids()) {
    auto pack = registry->template_pack(pack_id);
    if (!pack) continue;
    // Plugin code: a pack that throws is skipped (plugins/loader.h GuardPluginCall).
    auto templates = plugins::GuardPluginCall(pack_id, "Templates()", [&] { return pack->Templates(); });
    if (!templates.ok()) {
      problems->push_back("template pack " + pack_id + ": " + templates.status().message() + "; skipped");
      continue;
    }
    for (const auto& t : *templates) {
      auto converted = ConvertTemplate(pack_id, t);
      if (!converted.ok()) {
        problems->push_back(converted.status().message() + "; skipped");
        continue;
      }
      if (const WorkerTemplate* seen = FindTemplate(out, converted->id)) {
        problems->push_back("template pack " + pack_id + ": template " + converted->id +
                            " is already offered by pack " + seen->pack + "; skipped");
        continue;
      }
      out.push_back(std::move(*converted));
    }
  }
  return out;
}

// Publishes `actor` on "host:port" (port 0: any free port); returns the port.
Result<uint16_t> Publish(caf::actor_system& system, const caf::actor& actor, const std::string& host_port) {
  // Checked by the config loader; parsed again for the host without IPv6 brackets.
  auto address = ParseHostPort(host_port, /*allow_port_zero=*/true);
  if (!address.ok()) return address.status();
  return transport::Publish(system, actor, address->host, address->port);
}

// The certificates this node's ports require and present: the config's tls: block, or
// else a node-local CA made at first start in <data_dir>/tls (transport/credentials.h).
Result<transport::TlsFiles> NodeTlsFiles(const Config& config, std::vector<std::string>* startup_log) {
  if (config.tls) {
    transport::TlsFiles files{config.tls->ca_file, config.tls->cert_file, config.tls->key_file};
    if (Status checked = transport::CheckTlsFiles(files); !checked.ok())
      return Status::InvalidArgument("tls: " + checked.message());
    if (startup_log) startup_log->push_back("tls: peers and operators need certificates signed by " + files.ca_file.string());
    return files;
  }
  const auto dir = config.node.data_dir / "tls";
  if (Status made = transport::MakeLocalCredentials(dir, config.node.id); !made.ok())
    return Status::IOError("tls: cannot make the node-local CA in " + dir.string() + ": " + made.message());
  if (startup_log)
    startup_log->push_back("tls: no tls: section, so a node-local CA in " + dir.string() +
                           "; operators on this machine connect with ami --node-dir " + config.node.data_dir.string());
  return transport::NodeFilesIn(dir);
}

}  // namespace

struct LocalNode::Impl {
  Config config;
  int slots = 1;
  std::shared_ptr<HybridClock> clock = std::make_shared<HybridClock>();
  // CAF 0.17's actor_system keeps a reference to its config, and detached actors' threads
  // still read it while they wind down, so the config outlives the system.
  std::unique_ptr<caf::actor_system_config> cfg;
  std::unique_ptr<caf::actor_system> system;
  caf::actor store;
  caf::actor node;
  caf::actor cluster;
  caf::actor admin;
  caf::actor peer_gate;   // published on cluster.listen (actors/peer_gate.h)
  caf::actor admin_gate;  // published on admin.listen
  std::shared_ptr<WorkerEnvironment> env;
  std::vector<WorkerTemplate> templates;
  uint16_t admin_port = 0;
  bool stopped = false;
};

LocalNode::LocalNode(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

LocalNode::~LocalNode() {
  if (!impl_->stopped) Shutdown(impl_->config.limits.stop_grace + std::chrono::seconds(5));
}

Result<std::unique_ptr<LocalNode>> LocalNode::Start(const Config& config, std::vector<std::string>* startup_log) {
  auto impl = std::make_unique<Impl>();
  impl->config = config;

  kv::StoreOptions store_options;
  store_options.node_id = config.node.id;
  store_options.clock = impl->clock.get();
  if (config.cluster) {  // tombstones wait for every peer; far-future stamps are refused
    store_options.replication_peers =
        cluster::MakeView(config.cluster->listen, config.cluster->peers, 0, 0, cluster::LocalAddresses()).peers.size();
    store_options.max_clock_skew = config.cluster->max_clock_skew;
  }
  auto store = kv::Store::Open(config.node.data_dir / "node.db", store_options);
  if (!store.ok()) return Status::IOError("cannot open the store: " + store.status().message());

  // Plugins first: declared workers may name templates from template packs.
  std::vector<std::string> exchange_problems;
  auto exchanges = BuildExchangeDirectory(config, &exchange_problems);
  if (startup_log) startup_log->insert(startup_log->end(), exchange_problems.begin(), exchange_problems.end());
  std::vector<std::string> template_problems;
  impl->templates = CollectTemplates(exchanges->registry.get(), &template_problems);
  if (startup_log) startup_log->insert(startup_log->end(), template_problems.begin(), template_problems.end());

  auto actions = ApplyDeclarations(**store, config, WallMillis(), impl->templates);
  if (!actions.ok()) return Status(actions.status());
  std::vector<std::string> warnings;
  auto records = LoadWorkerRecords(**store, &warnings);
  if (!records.ok()) return Status::IOError("cannot read worker records: " + records.status().message());
  if (startup_log) {
    startup_log->insert(startup_log->end(), actions->begin(), actions->end());
    startup_log->insert(startup_log->end(), warnings.begin(), warnings.end());
  }

  js::InitializeV8();
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  impl->slots = config.execution.run_slots > 0 ? config.execution.run_slots : cores;

  impl->cfg = std::make_unique<caf::actor_system_config>();
  impl->cfg->add_message_types<caf::id_block::ami>();
  // One scheduler thread more than run slots, so node and store traffic is never stuck
  // behind running scripts; a bounded throughput keeps actors fair.
  impl->cfg->set("scheduler.max-threads", impl->slots + 1);
  impl->cfg->set("scheduler.max-throughput", 100);
  impl->cfg->set("logger.verbosity", caf::atom("quiet"));
  // Remoting carries the cluster and the admin service, always over mutual TLS
  // (transport/caf_tls.h): no party without a certificate of the CA reaches CAF.
  if (config.cluster || config.admin) {
    auto tls = NodeTlsFiles(config, startup_log);
    if (!tls.ok()) return tls.status();
    transport::UseTls(*impl->cfg, *tls);
  } else {
    impl->cfg->load<caf::io::middleman>();
  }
  if (config.cluster) {
    // CAF's own heartbeats let a frozen or cut-off peer's connection fail instead of
    // hanging forever; the cluster's heartbeats decide up/suspect/down by themselves.
    impl->cfg->set("middleman.heartbeat-interval", caf::timespan{config.cluster->heartbeat});
    impl->cfg->set("middleman.connection-timeout", caf::timespan{config.cluster->heartbeat * 6});
  }
  impl->system = std::make_unique<caf::actor_system>(*impl->cfg);
  impl->store = SpawnStoreActor(*impl->system, std::move(*store));

  // Connector calls run on each exchange's own bulkhead (built with the directory above).
  auto env = MakeWorkerEnvironment(config, &impl->store, impl->clock, exchanges, impl->slots);
  impl->env = env;
  impl->cluster = SpawnClusterActor(*impl->system, ClusterContext{config, env, impl->store});
  impl->node = SpawnNode(*impl->system, env, std::move(*records), impl->cluster);
  // Not anonymous: the cluster actor takes node-only commands from local senders only.
  caf::scoped_actor{*impl->system}->send(impl->cluster, attach_atom_v, impl->node);
  // From here on, a failure must stop what was started: the destructor does.
  auto node = std::unique_ptr<LocalNode>(new LocalNode(std::move(impl)));
  Impl& im = *node->impl_;
  if (config.cluster) {
    im.peer_gate = SpawnPeerGate(*im.system, im.cluster);  // peers reach only the gate
    auto port = Publish(*im.system, im.peer_gate, config.cluster->listen);
    if (!port.ok()) return Status::IOError("cluster.listen " + config.cluster->listen + ": " + port.status().message());
    if (startup_log) startup_log->push_back("cluster " + config.cluster->name + ": listening on port " + std::to_string(*port));
  }
  if (config.admin) {
    AdminContext admin_context{config, env, im.store, im.node, im.cluster, im.templates};
    // The admin service never runs without a token: with none configured, the node's own
    // <data_dir>/admin.token (generated at first start, mode 0600). Only its path is logged.
    if (admin_context.config.admin->token.empty()) {
      auto token = LoadOrCreateAdminToken(config.node.data_dir);
      if (!token.ok()) return Status(token.status());
      admin_context.config.admin->token = std::move(token->token);
      if (startup_log)
        startup_log->push_back("admin token: " + std::string(token->created ? "generated " : "read from ") +
                               token->path.string() + " (ami --token-file " + token->path.string() + ")");
    }
    im.admin = SpawnAdminService(*im.system, std::move(admin_context));
    im.admin_gate = SpawnAdminGate(*im.system, im.admin);  // clients reach only the gate
    auto port = Publish(*im.system, im.admin_gate, config.admin->listen);
    if (!port.ok()) return Status::IOError("admin.listen " + config.admin->listen + ": " + port.status().message());
    im.admin_port = *port;
    if (startup_log) startup_log->push_back("admin service listening on port " + std::to_string(*port));
  }
  return node;
}

Status LocalNode::Shutdown(std::chrono::milliseconds timeout) {
  if (impl_->stopped) return Status::OK();
  impl_->stopped = true;
  Status status;
  {
    caf::scoped_actor self{*impl_->system};
    // A stopping leader worker waits for its exchange calls (up to their timeout) before
    // it quits and its lease may be resigned below: allow for that.
    Millis exchange_wait{0};
    for (const auto& ex : impl_->config.exchanges) exchange_wait = std::max(exchange_wait, ex.timeout);
    self->request(impl_->node, timeout + exchange_wait, shutdown_atom_v)
        .receive([](bool) {},
                 [&](caf::error& err) {
                   status = Status::Aborted("workers did not stop in time: " + caf::to_string(err));
                 });
    // Only now that no leader worker runs here, hand the leases over (resign), so the
    // next holder starts at once instead of after the lease time.
    self->request(impl_->cluster, std::chrono::seconds(5), shutdown_atom_v).receive([](bool) {}, [](caf::error&) {});
    if (impl_->peer_gate) self->send_exit(impl_->peer_gate, caf::exit_reason::user_shutdown);
    if (impl_->admin_gate) self->send_exit(impl_->admin_gate, caf::exit_reason::user_shutdown);
    if (impl_->admin) self->send_exit(impl_->admin, caf::exit_reason::user_shutdown);
    self->send_exit(impl_->cluster, caf::exit_reason::user_shutdown);
    self->send_exit(impl_->node, caf::exit_reason::user_shutdown);
    self->send_exit(impl_->store, caf::exit_reason::user_shutdown);
  }
  impl_->admin = nullptr;
  impl_->peer_gate = nullptr;
  impl_->admin_gate = nullptr;
  impl_->cluster = nullptr;
  impl_->node = nullptr;
  impl_->store = nullptr;
  impl_->system.reset();  // waits for every actor to finish
  // The exchange bulkheads go with impl_->env's directory: calls still queued are dropped
  // unanswered (no worker is left to answer) and threads stuck in a plugin are left behind.
  return status;
}

const Config& LocalNode::config() const { return impl_->config; }
StatsRegistry& LocalNode::stats() { return *impl_->env->stats; }
RunQueue& LocalNode::run_queue() { return *impl_->env->run_queue; }
caf::actor_system& LocalNode::system() { return *impl_->system; }
int LocalNode::run_slots() const { return impl_->slots; }

Result<js::KvReply> LocalNode::Kv(js::KvRequest request) {
  caf::scoped_actor self{*impl_->system};
  Result<js::KvReply> out = Status::Internal("no reply");
  self->request(impl_->store, std::chrono::seconds(30), kv_atom_v, std::move(request))
      .receive([&](js::KvReply& reply) { out = std::move(reply); },
               [&](caf::error& err) { out = Status::IOError("store: " + caf::to_string(err)); });
  return out;
}

Result<std::optional<kv::Entry>> LocalNode::KvGet(kv::Space space, const kv::Key& key) {
  js::KvRequest get;
  get.op = js::KvRequest::Op::kGet;
  get.space = space;
  get.key = key;
  auto reply = Kv(std::move(get));
  if (!reply.ok()) return reply.status();
  if (!reply->status.ok()) return reply->status;
  return std::move(reply->entry);
}

Result<std::vector<kv::Entry>> LocalNode::KvList(kv::Space space, const kv::Key& prefix) {
  js::KvRequest list;
  list.op = js::KvRequest::Op::kList;
  list.space = space;
  list.list.prefix = prefix;
  auto reply = Kv(std::move(list));
  if (!reply.ok()) return reply.status();
  if (!reply->status.ok()) return reply->status;
  return std::move(reply->entries);
}

Status LocalNode::PutWorker(const WorkerRecord& record) {
  Status valid = ValidateRecord(record);
  if (!valid.ok()) return valid;
  js::ScriptError error;
  if (!js::Engine::CheckSyntax(record.script, &error).ok())
    return Status::InvalidArgument("script: " + error.Describe());
  js::KvRequest put;
  put.op = js::KvRequest::Op::kCommit;
  put.space = SpaceOf(record);
  put.mutations.push_back(
      kv::Mutation{kv::Mutation::Kind::kSet, WorkerKey(record.sid), RecordToStoredValue(record).dump(), std::nullopt});
  auto reply = Kv(std::move(put));
  if (!reply.ok()) return reply.status();
  return reply->status;
}

Status LocalNode::DeleteWorker(const std::string& sid) {
  for (kv::Space space : {kv::Space::kLocal, kv::Space::kNetwork}) {
    js::KvRequest del;
    del.op = js::KvRequest::Op::kCommit;
    del.space = space;
    del.mutations.push_back(kv::Mutation{kv::Mutation::Kind::kDelete, WorkerKey(sid), {}, std::nullopt});
    auto reply = Kv(std::move(del));
    if (!reply.ok()) return reply.status();
    if (!reply->status.ok()) return reply->status;
  }
  return Status::OK();
}

Result<std::optional<WorkerRecord>> LocalNode::GetWorker(const std::string& sid) {
  for (kv::Space space : {kv::Space::kLocal, kv::Space::kNetwork}) {
    js::KvRequest get;
    get.op = js::KvRequest::Op::kGet;
    get.space = space;
    get.key = WorkerKey(sid);
    auto reply = Kv(std::move(get));
    if (!reply.ok()) return reply.status();
    if (!reply->status.ok()) return reply->status;
    if (!reply->entry) continue;
    auto json = nlohmann::json::parse(reply->entry->value, nullptr, false);
    if (json.is_discarded()) return Status::Internal("worker " + sid + ": stored value is not JSON");
    auto record = RecordFromStoredValue(json);
    if (!record.ok()) return record.status();
    return std::optional<WorkerRecord>(std::move(*record));
  }
  return std::optional<WorkerRecord>();
}

uint16_t LocalNode::admin_port() const { return impl_->admin_port; }

std::string LocalNode::Admin(const std::string& token, const std::string& request_json) {
  if (!impl_->admin) return R"({"ok":false,"error":{"code":"unavailable","message":"no admin section in the config"}})";
  caf::scoped_actor self{*impl_->system};
  std::string out;
  self->request(impl_->admin, std::chrono::seconds(60), admin_atom_v, token, request_json)
      .receive([&](std::string& reply) { out = std::move(reply); },
               [&](caf::error& err) {
                 out = nlohmann::json{{"ok", false},
                                      {"error", {{"code", "internal"}, {"message", caf::to_string(err)}}}}
                           .dump();
               });
  return out;
}

int LocalNode::RunningWorkers() {
  caf::scoped_actor self{*impl_->system};
  int n = -1;
  self->request(impl_->node, std::chrono::seconds(30), started_atom_v)
      .receive([&](int count) { n = count; }, [&](caf::error&) {});
  return n;
}

std::vector<WorkerTemplate> LocalNode::Templates() const { return impl_->templates; }

Result<WorkerRecord> LocalNode::CreateFromTemplate(const std::string& id, const TemplateOverrides& overrides) {
  const WorkerTemplate* t = FindTemplate(impl_->templates, id);
  if (!t) return UnknownTemplate(id, impl_->templates);
  auto record = RecordFromTemplate(*t, overrides, impl_->config.node.id, WallMillis());
  if (!record.ok()) return record.status();
  Status stored = PutWorker(*record);
  if (!stored.ok()) return stored;
  return record;
}

}  // namespace ami
