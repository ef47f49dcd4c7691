#include "actors/peer_gate.h"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include <atomic>

#include "actors/messages.h"
#include "actors/remote_guard.h"

namespace ami {

namespace {

std::atomic<uint64_t> g_dropped{0};

bool FromThisProcess(const caf::strong_actor_ptr& sender, const caf::node_id& home) {
  return sender && sender->node() == home;
}

}  // namespace

bool RemoteGuarded::Refuse(const caf::mailbox_element& element, const caf::node_id& home) {
  if (FromThisProcess(element.sender, home)) return false;
  const auto& content = element.content();
  if (content.size() != 1) return false;
  if (content.match_elements<caf::exit_msg>()) return true;
  if (content.match_elements<caf::error>()) return !element.mid.is_response();
  if (content.match_elements<caf::down_msg>()) {
    // Anonymous: how CAF reports an actor that is being destroyed (its proxy included).
    if (!element.sender) return false;
    return content.get_as<caf::down_msg>(0).source != element.sender->address();
  }
  return false;
}

uint64_t RemoteGuarded::Dropped() { return g_dropped.load(); }

void RemoteGuarded::enqueue(caf::mailbox_element_ptr ptr, caf::execution_unit* eu) {
  if (ptr && Refuse(*ptr, home_system().node())) {
    const uint64_t n = ++g_dropped;
    // A flood must not flood the log: the first few, then every thousandth.
    if (n <= 10 || n % 1000 == 0) {
      std::string what = ptr->content().stringify();
      if (what.size() > 200) what = what.substr(0, 200) + "…";  // its text is the sender's to choose
      spdlog::warn("{}: ignored a system message ({}) from another process ({} so far)", name(), what, n);
    }
    return;
  }
  caf::event_based_actor::enqueue(std::move(ptr), eu);
}

bool IsLocalSender(caf::local_actor* self) {
  return FromThisProcess(self->current_sender(), self->home_system().node());
}

namespace {

struct PeerGateState {
  static inline const char* name = "ami.peer-gate";
};

caf::behavior PeerGate(caf::stateful_actor<PeerGateState, RemoteGuarded>* self, caf::actor cluster) {
  // Anything else: an unexpected_message error to a request, nothing otherwise (CAF's
  // default would print the whole message to stderr).
  self->set_default_handler(caf::drop);
  self->set_error_handler([](caf::error& err) { spdlog::warn("peer gate: {}", caf::to_string(err)); });
  self->set_down_handler([](caf::down_msg&) {});
  return {
      [self, cluster](hello_atom a, const wire::Hello& x) { return self->delegate(cluster, a, x); },
      [self, cluster](auth_atom a, const wire::Auth& x) { return self->delegate(cluster, a, x); },
      [self, cluster](heartbeat_atom a, const wire::Heartbeat& x) { return self->delegate(cluster, a, x); },
      [self, cluster](repl_push_atom a, const wire::ReplBatch& x) { return self->delegate(cluster, a, x); },
      [self, cluster](repl_pull_atom a, uint64_t after) { return self->delegate(cluster, a, after); },
      [self, cluster](lease_atom a, const cluster::LeaseMsg& x) { return self->delegate(cluster, a, x); },
      [self, cluster](peer_stats_atom a) { return self->delegate(cluster, a); },
  };
}

struct AdminGateState {
  static inline const char* name = "ami.admin-gate";
};

// Long enough for any admin operation (they answer within their own deadlines); it only
// bounds how long an unanswered relay could be kept.
constexpr auto kAdminRelayTimeout = std::chrono::minutes(5);

caf::behavior AdminGate(caf::stateful_actor<AdminGateState, RemoteGuarded>* self, caf::actor admin) {
  self->set_default_handler(caf::drop);
  self->set_error_handler([](caf::error& err) { spdlog::warn("admin gate: {}", caf::to_string(err)); });
  self->set_down_handler([](caf::down_msg&) {});
  return {
      [self, admin](admin_atom a, const std::string& token, const std::string& request) -> caf::result<std::string> {
        auto promise = self->make_response_promise<std::string>();
        self->request(admin, kAdminRelayTimeout, a, token, request)
            .then([promise](std::string& reply) mutable { promise.deliver(std::move(reply)); },
                  [promise](caf::error& err) mutable { promise.deliver(std::move(err)); });
        return promise;
      },
  };
}

}  // namespace

caf::actor SpawnPeerGate(caf::actor_system& system, caf::actor cluster) {
  return system.spawn(PeerGate, std::move(cluster));
}

caf::actor SpawnAdminGate(caf::actor_system& system, caf::actor admin) {
  return system.spawn(AdminGate, std::move(admin));
}

}  // namespace ami
