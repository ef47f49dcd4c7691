// A base class for actors that other processes can reach (the published gates and the
// cluster actor, whose address peers learn from its messages).
//
// Why a base class and not an exit handler: in CAF 0.17 an exit message with
// exit_reason::kill is fatal before any handler runs (scheduled_actor::categorize quits
// the actor unconditionally), and a bare `error` message or a forged `down_msg` reaches
// the error / down handler, whose default also stops the actor. So the filter sits in
// front of the mailbox, in enqueue():
//   - exit messages that do not come from this process (remote or anonymous sender) are
//     dropped — this process ends its actors with send_exit from a local actor;
//   - bare `error` messages (not a response to a request of ours) from another process
//     are dropped;
//   - a `down_msg` sent by another process about some actor other than the sender
//     itself is dropped (a connection loss is reported by the proxy of the lost actor
//     itself, or anonymously while it is being destroyed).
// Everything else is queued as usual; the behaviour still decides what it serves, and
// IsLocalSender() tells it whether the current message comes from this process.
#pragma once

#include <caf/event_based_actor.hpp>
#include <caf/local_actor.hpp>
#include <caf/mailbox_element.hpp>

#include <cstdint>

namespace ami {

class RemoteGuarded : public caf::event_based_actor {
 public:
  explicit RemoteGuarded(caf::actor_config& cfg) : caf::event_based_actor(cfg) {}

  void enqueue(caf::mailbox_element_ptr ptr, caf::execution_unit* eu) override;

  // Whether `element` is a system message from another process that must not reach an
  // actor of `home` (see above). Exposed for tests.
  static bool Refuse(const caf::mailbox_element& element, const caf::node_id& home);

  // How many messages every RemoteGuarded actor of this process dropped so far.
  static uint64_t Dropped();
};

// Whether the message `self` is handling was sent by an actor of this process.
// Anonymous messages count as foreign: a remote node can send them too.
bool IsLocalSender(caf::local_actor* self);

}  // namespace ami
