#include "gateway/admin_bridge.h"

#include <caf/all.hpp>

#include <map>
#include <mutex>

#include "actors/messages.h"

namespace ami::gateway {

// Shared by the bridge object (Asio side) and its actor (CAF side).
struct AdminBridge::Shared {
  std::mutex mu;
  bool closed = false;                 // guarded by mu
  uint64_t next_id = 0;                // guarded by mu
  std::map<uint64_t, Done> pending;    // guarded by mu
  caf::actor actor;                    // set once in the constructor

  // Runs `id`'s callback, if it is still wanted. Under the lock, so that Close() returns
  // only when no callback is running (callbacks only post to Asio: they are short).
  void Complete(uint64_t id, AdminAnswer answer) {
    std::lock_guard<std::mutex> lock(mu);
    auto it = pending.find(id);
    if (it == pending.end()) return;
    Done done = std::move(it->second);
    pending.erase(it);
    done(std::move(answer));
  }
};

namespace {

struct BridgeState {
  static inline const char* name = "ami.http-admin-bridge";
};

// One request = one message (admin, token, request, id) from an Asio thread; the reply
// comes back through Shared::Complete. Requests are independent: .then() does not
// hold up the mailbox, so a slow admin request does not delay the next one.
caf::behavior BridgeActor(caf::stateful_actor<BridgeState>* self, caf::actor admin,
                          std::shared_ptr<AdminBridge::Shared> shared, caf::timespan timeout) {
  self->set_default_handler(caf::drop);
  return {
      [=](admin_atom, std::string& token, std::string& request, uint64_t id) {
        self->request(admin, timeout, admin_atom_v, std::move(token), std::move(request))
            .then([shared, id](std::string& reply) { shared->Complete(id, AdminAnswer{true, std::move(reply), {}}); },
                  [shared, id](caf::error& err) {
                    shared->Complete(id, AdminAnswer{false, {}, caf::to_string(err)});
                  });
      },
  };
}

}  // namespace

AdminBridge::AdminBridge(caf::actor_system& system, const caf::actor& admin, std::chrono::milliseconds timeout)
    : shared_(std::make_shared<Shared>()) {
  shared_->actor = system.spawn(BridgeActor, admin, shared_, caf::timespan{timeout});
}

AdminBridge::~AdminBridge() { Close(); }

void AdminBridge::Ask(std::string token, std::string request_json, Done done) {
  uint64_t id;
  caf::actor actor;
  {
    std::lock_guard<std::mutex> lock(shared_->mu);
    if (shared_->closed) return;  // `done` is destroyed: the gateway is stopping
    id = shared_->next_id++;
    shared_->pending.emplace(id, std::move(done));
    actor = shared_->actor;
  }
  caf::anon_send(actor, admin_atom_v, std::move(token), std::move(request_json), id);
}

void AdminBridge::Close() {
  std::map<uint64_t, Done> dropped;
  caf::actor actor;
  {
    std::lock_guard<std::mutex> lock(shared_->mu);
    if (shared_->closed) return;
    shared_->closed = true;
    dropped.swap(shared_->pending);
    actor = std::move(shared_->actor);
  }
  // Destroyed outside the lock: a callback's connection may be the last owner of things
  // whose destructors take other locks.
  dropped.clear();
  if (actor) caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
}

}  // namespace ami::gateway
