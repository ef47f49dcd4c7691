#include "actors/local_node.h"

#include "ami/version.h"

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <thread>

#include "actors/admin_service.h"
#include "actors/catalog_actor.h"
#include "actors/cluster_actor.h"
#include "actors/exchange_access.h"
#include "actors/messages.h"
#include "actors/node_actor.h"
#include "actors/peer_gate.h"
#include "actors/store_actor.h"
#include "gateway/gateway.h"
#include "plugins/loader.h"
#include "runtime/cluster/membership.h"
#include "runtime/js/v8_process.h"
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

// A catalog request from a thread outside the actor system; a missing answer is Aborted.
template <class... Ts>
WorkerReply AskCatalog(caf::actor_system& system, const CatalogActor& catalog, Ts&&... xs) {
  caf::scoped_actor self{system};
  WorkerReply out{Status::Aborted("the worker catalog did not answer"), std::nullopt};
  self->request(catalog, std::chrono::seconds(60), std::forward<Ts>(xs)...)
      .receive([&](WorkerReply& reply) { out = std::move(reply); },
               [&](caf::error& err) { out.status = Status::Aborted("the worker catalog: " + caf::to_string(err)); });
  return out;
}

// Creates each declared worker that is absent and updates one whose declaration changed
// since it was last applied (its hash is kept in the store's meta table as
// DeclaredMetaName), through the catalog like every other writer. Every template id is
// checked before anything is written: a typo changes nothing. Each step asks about every
// declaration at once: the catalog runs writes to different sids side by side and the
// store commits the writes (and then the meta rows) that arrive together in one
// transaction, so 1000 declarations cost a few fsyncs, not 2000. Each record is written
// or refused on its own; the first refusal, in file order, is the error. Returns one
// line per action for the node log.
Result<std::vector<std::string>> ApplyDeclarations(caf::actor_system& system, const StoreActor& store,
                                                   const CatalogActor& catalog, const Config& config,
                                                   const std::vector<WorkerTemplate>& templates) {
  for (const auto& declaration : config.workers) {
    if (!declaration.template_id.empty() && !FindTemplate(templates, declaration.template_id))
      return Status::InvalidArgument(declaration.where + ": workers: " + declaration.name + ": " +
                                     UnknownTemplate(declaration.template_id, templates).message());
  }
  constexpr auto kTimeout = std::chrono::seconds(60);
  const auto unanswered = [](const caf::error& err) { return Status::Aborted(caf::to_string(err)); };
  struct Item {
    const WorkerDeclaration* declaration = nullptr;
    std::string sid, meta_name;
    std::optional<std::string> applied_hash;
    WorkerReply found{Status::Aborted("the worker catalog did not answer"), std::nullopt};
    std::optional<WorkerPut> put;
    WorkerReply stored{Status::OK(), std::nullopt};
    bool meta_written = false;
  };
  std::vector<Item> items(config.workers.size());
  caf::scoped_actor self{system};
  // 1. Every declaration's applied hash and record in force, asked all at once.
  using MetaHandle = decltype(self->request(store, kTimeout, meta_atom_v, std::string()));
  using CatHandle = decltype(self->request(catalog, kTimeout, cat_get_atom_v, std::string()));
  std::vector<MetaHandle> meta_reads;
  std::vector<CatHandle> gets;
  for (size_t i = 0; i < items.size(); ++i) {
    items[i].declaration = &config.workers[i];
    items[i].sid = DeclaredSid(config, config.workers[i]);
    items[i].meta_name = DeclaredMetaName(items[i].sid);
    meta_reads.push_back(self->request(store, kTimeout, meta_atom_v, items[i].meta_name));
    gets.push_back(self->request(catalog, kTimeout, cat_get_atom_v, items[i].sid));
  }
  for (size_t i = 0; i < items.size(); ++i) {
    meta_reads[i].receive([&](std::string& hash) { items[i].applied_hash = std::move(hash); }, [](caf::error&) {});
    gets[i].receive([&](WorkerReply& reply) { items[i].found = std::move(reply); },
                    [&](caf::error& err) { items[i].found.status = unanswered(err); });
  }
  // 2. What each one writes.
  for (Item& item : items) {
    if (!item.applied_hash) return Status::IOError("cannot read " + item.meta_name + " from the store");
    std::optional<uint64_t> expected = 0;  // create only if absent
    if (item.found.status.code() == Status::Code::kInternal) {
      expected.reset();  // an entry that cannot be read: the declaration replaces it
    } else if (!item.found.status.ok() && item.found.status.code() != Status::Code::kNotFound) {
      return Status::IOError("cannot read worker " + item.sid + ": " + item.found.status.message());
    }
    if (item.found.worker) expected = item.found.worker->versionstamp;
    auto plan = PlanDeclaration(config, *item.declaration, item.found.worker, *item.applied_hash, templates,
                                WallMillis());
    if (!plan.ok()) return plan.status();
    if (*plan) item.put = WorkerPut{std::move(**plan), expected, "declared"};  // else unchanged since last applied
  }
  // 3. The records, all at once.
  std::vector<std::pair<size_t, CatHandle>> puts;
  for (size_t i = 0; i < items.size(); ++i)
    if (items[i].put) puts.emplace_back(i, self->request(catalog, kTimeout, cat_put_atom_v, std::move(*items[i].put)));
  for (auto& [i, handle] : puts) {
    handle.receive([&, i = i](WorkerReply& reply) { items[i].stored = std::move(reply); },
                   [&, i = i](caf::error& err) { items[i].stored.status = unanswered(err); });
  }
  // 4. The applied hashes of the records written, all at once.
  using MetaWrite = decltype(self->request(store, kTimeout, meta_atom_v, std::string(), std::string()));
  std::vector<std::pair<size_t, MetaWrite>> meta_writes;
  for (auto& [i, handle] : puts) {
    if (items[i].stored.status.ok())
      meta_writes.emplace_back(i, self->request(store, kTimeout, meta_atom_v, items[i].meta_name,
                                                items[i].declaration->source_hash));
  }
  for (auto& [i, handle] : meta_writes)
    handle.receive([&, i = i](bool ok) { items[i].meta_written = ok; }, [](caf::error&) {});

  std::vector<std::string> actions;
  for (auto& [i, handle] : puts) {
    const Item& item = items[i];
    const WorkerDeclaration& declaration = *item.declaration;
    if (!item.stored.status.ok()) {  // e.g. "script: SyntaxError: …", named as the other declaration errors
      const std::string message = declaration.where + ": workers: " + declaration.name + ": " + item.stored.status.message();
      return item.stored.status.code() == Status::Code::kInvalidArgument ? Status::InvalidArgument(message)
                                                                          : Status::IOError(message);
    }
    if (!item.meta_written) return Status::IOError("cannot write " + item.meta_name + " to the store");
    actions.push_back(std::string(item.found.worker ? "updated" : "created") + " declared worker " + declaration.name +
                      " (" + item.sid + ")");
  }
  return actions;
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
  StoreActor store;
  CatalogActor catalog;
  NodeActor node;
  ClusterActor cluster;
  caf::actor admin;
  caf::actor peer_gate;   // published on cluster.listen (actors/peer_gate.h)
  caf::actor admin_gate;  // published on admin.listen
  std::shared_ptr<WorkerEnvironment> env;
  std::vector<WorkerTemplate> templates;
  uint16_t admin_port = 0;
  std::unique_ptr<gateway::Gateway> gateway;  // http: (gateway/gateway.h); stopped first
  uint16_t http_port = 0;
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

  // The records in force when the catalog starts; it keeps them current from then on.
  std::vector<std::string> warnings;
  auto records = LoadWorkerRecords(**store, &warnings);
  if (!records.ok()) return Status::IOError("cannot read worker records: " + records.status().message());
  if (startup_log) startup_log->insert(startup_log->end(), warnings.begin(), warnings.end());

  js::InitializeV8();
  js::StartSyntaxChecker();  // the catalog checks scripts before it stores them: ready before the first
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  impl->slots = config.execution.run_slots > 0 ? config.execution.run_slots : cores;

  impl->cfg = std::make_unique<caf::actor_system_config>();
  impl->cfg->add_message_types<caf::id_block::ami>();
  // One scheduler thread more than run slots, so node and store traffic is never stuck
  // behind running scripts; a bounded throughput keeps actors fair.
  impl->cfg->set("scheduler.max-threads", impl->slots + 1);
  impl->cfg->set("scheduler.max-throughput", 100);
  // One shared queue (CAF's work sharing), not per-thread queues with work stealing:
  // stealing threads poll (500 x 50 µs sleeps after each job, then a wake-up every 10 ms),
  // which cost ~2 % of a core on an idle node, and a job queued behind a thread busy in
  // JavaScript waited until another thread stole it. Idle threads here sleep until a job
  // comes, and any free thread takes the next one (docs/benchmarks.md, bench_idle_cpu).
  // AMI_SCHEDULER=stealing (CAF's default polling) or =polling (stealing that polls only
  // ~1 ms after a job, then sleeps on its condition variable) compare the policies in
  // benches (docs/operations.md); the default is sharing.
  const char* policy_env = std::getenv("AMI_SCHEDULER");
  const std::string policy = policy_env ? policy_env : "sharing";
  if (policy == "stealing" || policy == "polling") {
    impl->cfg->set("scheduler.policy", caf::atom("stealing"));
    if (policy == "polling") impl->cfg->set("work-stealing.moderate-poll-attempts", 20);
  } else {
    if (policy != "sharing")
      spdlog::warn("AMI_SCHEDULER={}: not sharing, stealing or polling; using sharing", policy);
    impl->cfg->set("scheduler.policy", caf::atom("sharing"));
  }
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
  auto kv_metrics = std::make_shared<KvMetrics>();  // the store counts, /metrics reads
  impl->store = SpawnStoreActor(*impl->system, std::move(*store), std::chrono::seconds(10), kv_metrics);
  impl->catalog = SpawnCatalog(*impl->system,
                               CatalogContext{config.node.id, impl->store, impl->templates,
                                              [](const std::string& script) { return js::CheckScriptSyntax(script); },
                                              std::move(*records)});

  {
    // Once the catalog has answered a request its store watch is in place (the store
    // takes its messages in order): writes by others from here on reach it.
    caf::scoped_actor self{*impl->system};
    self->request(impl->catalog, std::chrono::seconds(60), cat_list_atom_v)
        .receive([](WorkerListing&) {}, [](caf::error&) {});
  }
  // Declared workers go through the catalog like every other write.
  auto actions = ApplyDeclarations(*impl->system, impl->store, impl->catalog, config, impl->templates);
  if (!actions.ok()) {
    caf::scoped_actor self{*impl->system};  // the system waits for its actors when it goes
    self->send_exit(impl->catalog, caf::exit_reason::user_shutdown);
    self->send_exit(impl->store, caf::exit_reason::user_shutdown);
    return Status(actions.status());
  }
  if (startup_log) startup_log->insert(startup_log->end(), actions->begin(), actions->end());

  // Connector calls run on each exchange's own bulkhead (built with the directory above).
  auto env = MakeWorkerEnvironment(config, impl->store, impl->clock, exchanges, impl->slots);
  impl->env = env;
  impl->cluster = SpawnClusterActor(*impl->system, MakeClusterContext(config, *env, impl->store));
  // It subscribes to the catalog and attaches to the cluster itself.
  impl->node = SpawnNode(*impl->system, env, impl->catalog, impl->cluster);
  // From here on, a failure must stop what was started: the destructor does.
  auto node = std::unique_ptr<LocalNode>(new LocalNode(std::move(impl)));
  Impl& im = *node->impl_;
  if (config.cluster) {
    im.peer_gate = SpawnPeerGate(*im.system, PeerFacing(im.cluster));  // peers reach only the gate
    auto port = Publish(*im.system, im.peer_gate, config.cluster->listen);
    if (!port.ok()) return Status::IOError("cluster.listen " + config.cluster->listen + ": " + port.status().message());
    if (startup_log) startup_log->push_back("cluster " + config.cluster->name + ": listening on port " + std::to_string(*port));
  }
  // The admin service serves `ami` on admin.listen and is the HTTP gateway's only way into
  // the node. With http: but no admin: it runs for the gateway alone, published nowhere,
  // with the node's <data_dir>/admin.token (docs/http-api.md, "Token").
  std::string admin_token;  // the gateway's WebFIX requests carry it (never logged)
  if (config.admin || config.http) {
    AdminContext admin_context{config, env, im.catalog, im.store, im.node, im.cluster, im.templates};
    if (!admin_context.config.admin) admin_context.config.admin = AdminSection{};  // listen "": not published
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
    admin_token = admin_context.config.admin->token;
    im.admin = SpawnAdminService(*im.system, std::move(admin_context));
  }
  if (config.admin) {
    im.admin_gate = SpawnAdminGate(*im.system, im.admin);  // clients reach only the gate
    auto port = Publish(*im.system, im.admin_gate, config.admin->listen);
    if (!port.ok()) return Status::IOError("admin.listen " + config.admin->listen + ": " + port.status().message());
    im.admin_port = *port;
    if (startup_log) startup_log->push_back("admin service listening on port " + std::to_string(*port));
  }
  if (config.http) {
    gateway::Backend backend;
    backend.system = im.system.get();
    backend.admin = im.admin;
    backend.stats = env->services.stats;
    backend.run_queue = env->services.run_queue;
    backend.kv_metrics = kv_metrics;
    for (const auto& [id, exchange] : env->services.exchanges->exchanges)
      if (exchange.metrics) backend.exchange_metrics.push_back(exchange.metrics);
    backend.cluster_gauges = env->services.cluster_gauges;
    backend.logs = env->services.logs;
    backend.events = env->services.events;
    backend.node_id = config.node.id;
    backend.version = build_info::kVersion;
    backend.network = config.http->network.empty() ? env->node.network : config.http->network;
    backend.data_dir = config.node.data_dir;
    backend.admin_token = admin_token;
    auto started = gateway::Gateway::Start(*config.http, std::move(backend));
    if (!started.ok()) return Status(started.status());
    im.gateway = std::move(*started);
    im.http_port = im.gateway->port();
    if (startup_log)
      startup_log->push_back(std::string("http gateway listening on port ") + std::to_string(im.http_port) +
                             (im.gateway->tls() ? " (https)" : " (http)"));
  }
  return node;
}

Status LocalNode::Shutdown(std::chrono::milliseconds timeout) {
  if (impl_->stopped) return Status::OK();
  impl_->stopped = true;
  // The gateway first: no HTTP request may reach the admin service while it goes away.
  if (impl_->gateway) {
    impl_->gateway->Stop();
    impl_->gateway.reset();
  }
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
    self->send_exit(impl_->catalog, caf::exit_reason::user_shutdown);
    self->send_exit(impl_->store, caf::exit_reason::user_shutdown);
  }
  impl_->admin = nullptr;
  impl_->peer_gate = nullptr;
  impl_->admin_gate = nullptr;
  impl_->cluster = nullptr;
  impl_->node = nullptr;
  impl_->catalog = nullptr;
  impl_->store = nullptr;
  // The system waits until no handle keeps a detached actor alive, and the workers'
  // environment holds one to the store. The node answered (or gave up on) its shutdown,
  // so no worker should be left to read it.
  impl_->env->services.store = nullptr;
  impl_->system.reset();  // waits for every actor to finish
  // The exchange bulkheads go with impl_->env's directory: calls still queued are dropped
  // unanswered (no worker is left to answer) and threads stuck in a plugin are left behind.
  return status;
}

const Config& LocalNode::config() const { return impl_->config; }
StatsRegistry& LocalNode::stats() { return *impl_->env->services.stats; }
RunQueue& LocalNode::run_queue() { return *impl_->env->services.run_queue; }
caf::actor_system& LocalNode::system() { return *impl_->system; }
int LocalNode::run_slots() const { return impl_->slots; }

Result<kv::Reply> LocalNode::Kv(kv::Request request) {
  caf::scoped_actor self{*impl_->system};
  Result<kv::Reply> out = Status::Internal("no reply");
  self->request(impl_->store, std::chrono::seconds(30), kv_atom_v, std::move(request))
      .receive([&](kv::Reply& reply) { out = std::move(reply); },
               [&](caf::error& err) { out = Status::IOError("store: " + caf::to_string(err)); });
  return out;
}

Result<std::optional<kv::Entry>> LocalNode::KvGet(kv::Space space, const kv::Key& key) {
  kv::Request get;
  get.op = kv::Request::Op::kGet;
  get.space = space;
  get.key = key;
  auto reply = Kv(std::move(get));
  if (!reply.ok()) return reply.status();
  if (!reply->status.ok()) return reply->status;
  return std::move(reply->entry);
}

Result<std::vector<kv::Entry>> LocalNode::KvList(kv::Space space, const kv::Key& prefix) {
  kv::Request list;
  list.op = kv::Request::Op::kList;
  list.space = space;
  list.list.prefix = prefix;
  auto reply = Kv(std::move(list));
  if (!reply.ok()) return reply.status();
  if (!reply->status.ok()) return reply->status;
  return std::move(reply->entries);
}

Status LocalNode::PutWorker(const WorkerRecord& record) {
  return AskCatalog(*impl_->system, impl_->catalog, cat_put_atom_v, WorkerPut{record, std::nullopt, "stored"}).status;
}

Status LocalNode::DeleteWorker(const std::string& sid) {
  Status status = AskCatalog(*impl_->system, impl_->catalog, cat_delete_atom_v, WorkerDelete{sid, std::nullopt}).status;
  if (status.code() == Status::Code::kNotFound) return Status::OK();  // nothing to delete
  return status;
}

Result<std::optional<WorkerRecord>> LocalNode::GetWorker(const std::string& sid) {
  WorkerReply reply = AskCatalog(*impl_->system, impl_->catalog, cat_get_atom_v, sid);
  if (reply.status.code() == Status::Code::kNotFound) return std::optional<WorkerRecord>();
  if (!reply.status.ok()) return reply.status;
  if (!reply.worker) return Status::Internal("worker " + sid + ": the catalog answered OK without a record");
  return std::optional<WorkerRecord>(std::move(reply.worker->record));
}

uint16_t LocalNode::admin_port() const { return impl_->admin_port; }
uint16_t LocalNode::http_port() const { return impl_->http_port; }

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

Result<std::vector<std::string>> LocalNode::ApplyDeclaredWorkers(const std::vector<WorkerDeclaration>& workers) {
  if (impl_->stopped) return Status::Aborted("the node is stopping");
  Config declared = impl_->config;  // the running node's id, scopes and templates
  declared.workers = workers;
  auto actions = ApplyDeclarations(*impl_->system, impl_->store, impl_->catalog, declared, impl_->templates);
  if (actions.ok()) impl_->config.workers = workers;
  return actions;
}

std::vector<WorkerTemplate> LocalNode::Templates() const { return impl_->templates; }

Result<WorkerRecord> LocalNode::CreateFromTemplate(const std::string& id, const TemplateOverrides& overrides) {
  WorkerReply reply = AskCatalog(*impl_->system, impl_->catalog, cat_create_atom_v,
                                 NewWorker{id, overrides, "created (template " + id + ")"});
  if (!reply.status.ok()) return reply.status;
  if (!reply.worker) return Status::Internal("template " + id + ": the catalog answered OK without a record");
  return std::move(reply.worker->record);
}

}  // namespace ami
