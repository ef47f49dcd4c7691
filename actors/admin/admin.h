// What the admin service's domain handlers work with: the actor and its context, the
// asynchronous steps they take (the worker catalog, the store, the cluster actor), and
// the one dispatch table they register their operations into.
//
// Each domain file (workers, templates, leader, stats, logs, kv, node) returns its
// operations as {op name, handler}; admin_service.cpp joins them into the table and
// dispatches each request to one handler after authenticating and parsing it. A handler
// checks its arguments, then answers through `done` — at once, or from the reply of an
// asynchronous request (every one has a deadline; none blocks the actor).
//
// Worker records are read and written only through the worker catalog
// (actors/catalog_actor.h): it serializes the writes to one record, applies the record
// rules and checks scripts. The store is asked directly only for other keys (kv.*, the
// leader records).
#pragma once

#include <caf/all.hpp>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "actors/admin/request.h"
#include "actors/admin_service.h"
#include "actors/messages.h"
#include "runtime/node/worker_catalog.h"
#include "runtime/store/kv_protocol.h"

namespace ami::admin {

constexpr auto kStoreTimeout = std::chrono::seconds(15);
constexpr auto kNodeTimeout = std::chrono::seconds(10);
constexpr auto kClusterTimeout = std::chrono::seconds(10);
// A catalog request waits behind earlier writes to the same record and takes a few store
// round trips (each with the store's own deadline) and a script check.
constexpr auto kCatalogTimeout = std::chrono::seconds(45);

// The error for a request that got no answer: timeout or the actor is gone.
Status Unanswered(const std::string& who, const caf::error& err, std::chrono::seconds timeout);

struct Admin {
  caf::event_based_actor* self = nullptr;
  AdminContext ctx;
  bool open = false;  // no token configured (node.info reports auth "none")

  // One store request; `next(kv::Reply&)` gets the reply when its status is OK. A
  // rejected request is `invalid` when the input was bad, else `internal`.
  template <class F>
  void Kv(kv::Request request, Done done, F next) {
    self->request(ctx.store, kStoreTimeout, kv_atom_v, std::move(request))
        .then(
            [done, next](kv::Reply& reply) mutable {
              if (!reply.status.ok()) {
                const bool bad_input = reply.status.code() == Status::Code::kInvalidArgument;
                return done(bad_input ? reply.status : Status::Internal("store: " + reply.status.message()));
              }
              Guard(done, [&] { next(reply); });
            },
            [done](caf::error& err) { done(Unanswered("the store", err, kStoreTimeout)); });
  }

  // `next(std::optional<kv::Entry>)`
  template <class F>
  void Get(kv::Space space, kv::Key key, Done done, F next) {
    kv::Request get;
    get.op = kv::Request::Op::kGet;
    get.space = space;
    get.key = std::move(key);
    Kv(std::move(get), std::move(done), [next](kv::Reply& reply) mutable { next(std::move(reply.entry)); });
  }

  // `next(std::vector<kv::Entry>)`
  template <class F>
  void List(kv::Space space, kv::Key prefix, size_t limit, Done done, F next) {
    kv::Request list;
    list.op = kv::Request::Op::kList;
    list.space = space;
    list.list.prefix = std::move(prefix);
    list.list.limit = limit;
    Kv(std::move(list), std::move(done), [next](kv::Reply& reply) mutable { next(std::move(reply.entries)); });
  }

  // `next(const kv::CommitResult&)`
  template <class F>
  void Commit(kv::Space space, std::vector<kv::Mutation> mutations, Done done, F next) {
    kv::Request commit;
    commit.op = kv::Request::Op::kCommit;
    commit.space = space;
    commit.mutations = std::move(mutations);
    Kv(std::move(commit), std::move(done), [next](kv::Reply& reply) mutable { next(reply.commit); });
  }

  // A cluster actor question answered with JSON text; `next(json)` gets it parsed.
  template <class Atom, class F>
  void AskCluster(Atom atom, Done done, F next) {
    self->request(ctx.cluster, kClusterTimeout, atom)
        .then(
            [done, next](std::string& text) mutable {
              auto parsed = json::parse(text, nullptr, false);
              if (parsed.is_discarded()) return done(Status::Internal("the cluster actor answered something not JSON"));
              Guard(done, [&] { next(std::move(parsed)); });
            },
            [done](caf::error& err) { done(Unanswered("the cluster actor", err, kClusterTimeout)); });
  }

  // One worker catalog request (cat_*_atom_v and its payload); `next(StoredWorker*)` gets
  // the record in force when the reply is OK (nullptr when there is none, as after a
  // delete). A failed reply answers `done` with its status: NotFound → not_found,
  // Conflict → conflict, InvalidArgument → invalid, Aborted → unavailable, …
  template <class F, class... Ts>
  void AskCatalog(Done done, F next, Ts&&... request) {
    self->request(ctx.catalog, kCatalogTimeout, std::forward<Ts>(request)...)
        .then(
            [done, next](WorkerReply& reply) mutable {
              if (!reply.status.ok()) return done(reply.status);
              Guard(done, [&] { next(reply.worker ? &*reply.worker : nullptr); });
            },
            [done](caf::error& err) { done(Unanswered("the worker catalog", err, kCatalogTimeout)); });
  }

  // The record in force for `sid`; `next(const StoredWorker&)`. No record: not_found.
  template <class F>
  void GetWorker(const std::string& sid, Done done, F next) {
    AskCatalog(
        done,
        [sid, done, next](const StoredWorker* worker) mutable {
          if (!worker) return done(Status::NotFound("worker " + sid + " not found"));
          next(*worker);
        },
        cat_get_atom_v, sid);
  }

  // The API's `Worker` object: the record, where it is stored, and this node's view of it.
  json WorkerJson(const StoredWorker& worker) const;
};

using Handler = void (*)(Admin& admin, const json& args, Done done);
using Ops = std::vector<std::pair<std::string, Handler>>;

// The operations of each domain, in the order `op: unknown operation` lists them.
Ops WorkerOps();    // workers.*                      (workers.cpp)
Ops TemplateOps();  // templates.*                    (templates.cpp)
Ops LeaderOps();    // leader.info                    (leader.cpp)
Ops StatsOps();     // stats                          (stats.cpp)
Ops LogOps();       // logs.tail                      (logs.cpp)
Ops KvOps();        // kv.*                           (kv.cpp)
Ops NodeOps();      // nodes.list, plugins.list, node.info, node.backup, faults.set (node.cpp)

// Shared by workers.create and templates.create: stores a new record through the catalog
// and answers with its `Worker` (workers.cpp).
void CreateWorker(Admin& admin, NewWorker request, Done done);

}  // namespace ami::admin
