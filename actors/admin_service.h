// The admin service: every operator front end (the `ami` shell today, the HTTP/WebFIX
// gateway and the web editor later) sends the same JSON requests to this one actor.
// docs/admin-api.md is the contract: operations, arguments, results and error codes.
//
//   (admin, token, request JSON) -> reply JSON
//
// Every request is authenticated with the configured admin token (constant-time; an
// empty configured token accepts every request) and validated before anything changes;
// a bad request gets {"ok":false,"error":{code,message}} naming the field, and changes
// nothing. Tokens are never logged or echoed.
//
// The actor runs detached (its own thread): log file reads and token hashing are
// blocking work that must not hold a scheduler thread the workers run on. It talks to the
// worker catalog, store, node and cluster actors only with asynchronous requests that have
// deadlines, so requests are served concurrently. Worker records are read and written only
// through the catalog, which serializes the writes to one record and makes each a
// compare-and-set against other writers. The implementation is in actors/admin/.
// Unexpected messages are answered with an error; exit messages from other processes are
// ignored (only this process may stop it).
#pragma once

#include <caf/fwd.hpp>
#include <caf/actor.hpp>

#include <memory>
#include <string>
#include <vector>

#include "actors/catalog_actor.h"
#include "actors/cluster_actor.h"
#include "actors/node_actor.h"
#include "actors/store_actor.h"
#include "actors/worker_actor.h"
#include "runtime/config/config.h"
#include "runtime/model/worker_template.h"

namespace ami {

struct AdminContext {
  Config config;                                 // admin token in config.admin
  std::shared_ptr<const WorkerEnvironment> env;  // node id, stats, logs, exchanges/plugins
  CatalogActor catalog;                          // worker records (the only way to write them)
  StoreActor store;                              // the KV operations (kv.*)
  NodeActor node;                                // node actor
  ClusterActor cluster;                          // cluster actor (a cluster of one without `cluster:`)
  std::vector<WorkerTemplate> templates;
};

// The caller publishes the returned actor (LocalNode does, on admin.listen) and ends it
// with an exit message from this process.
caf::actor SpawnAdminService(caf::actor_system& system, AdminContext context);

}  // namespace ami
