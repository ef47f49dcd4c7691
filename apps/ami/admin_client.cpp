#include "apps/ami/admin_client.h"

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <optional>
#include <set>

#include "actors/messages.h"
#include "runtime/config/host_port.h"
#include "transport/caf_openssl_fixes.h"
#include "transport/caf_tls.h"

namespace ami::shell {

namespace {

constexpr auto kConnectTimeout = std::chrono::seconds(10);

Status FromErrorReply(const nlohmann::json& error, const NodeAddress& address) {
  std::string code = "internal";
  std::string message = "the node replied with an error but gave no message";
  if (error.is_object()) {
    if (auto it = error.find("code"); it != error.end() && it->is_string()) code = *it;
    if (auto it = error.find("message"); it != error.end() && it->is_string()) message = *it;
  }
  if (code == "unauthorized")
    return Status::IOError("node " + address.ToString() + " refused the admin token (unauthorized): " + message +
                           "; give the node's admin token with --token-file FILE (its <data_dir>/admin.token when "
                           "the config sets none), AMI_TOKEN or --token");
  if (code == "invalid") return Status::InvalidArgument(message);
  if (code == "not_found") return Status::NotFound(message);
  if (code == "conflict") return Status::Conflict(message);
  if (code == "unavailable") return Status::Aborted(message);
  return Status::Internal(code == "internal" ? message : code + ": " + message);
}

}  // namespace

Result<NodeAddress> ParseNodeAddress(const std::string& text) {
  auto parsed = ParseHostPort(text);
  if (!parsed.ok()) return Status::InvalidArgument(parsed.status().message());
  return NodeAddress{parsed->host, parsed->port};
}

struct AdminClient::Impl {
  caf::actor_system_config cfg;
  std::optional<caf::actor_system> system;
  std::optional<caf::scoped_actor> self;
  caf::actor admin;  // null until connected, and again once the connection is gone
};

AdminClient::AdminClient(NodeAddress address, std::string token, TlsFiles tls)
    : address_(std::move(address)), token_(std::move(token)), tls_(std::move(tls)), impl_(std::make_unique<Impl>()) {
  // The same type-ID block as the node: CAF matches message types across processes by name.
  impl_->cfg.add_message_types<caf::id_block::ami>();
  // Every node port requires a client certificate (transport/caf_tls.h); without one the
  // middleman still loads so that Connect() can say what is missing.
  if (tls_.enabled()) transport::UseTls(impl_->cfg, {tls_.ca_file, tls_.cert_file, tls_.key_file});
  else impl_->cfg.load<caf::io::middleman>();
  // A shell sends one request at a time; a couple of threads are plenty.
  impl_->cfg.set("scheduler.max-threads", 2);
  impl_->cfg.set("logger.verbosity", caf::atom("quiet"));
  impl_->cfg.set("logger.console", caf::atom("none"));
  impl_->system.emplace(impl_->cfg);
  impl_->self.emplace(*impl_->system);
}

AdminClient::~AdminClient() {
  impl_->admin = nullptr;
  impl_->self.reset();
  impl_->system.reset();
}

Status AdminClient::Connect() {
  auto& self = *impl_->self;
  if (!tls_.enabled())
    return Status::IOError("cannot reach node " + address_.ToString() +
                           ": nodes accept only TLS clients with a certificate; give --node-dir DIR for a node on "
                           "this machine (its data directory), or --tls-ca, --tls-cert and --tls-key");
  // The connect request rather than remote_actor(): the latter waits forever for a peer
  // that accepts the connection but never speaks CAF.
  Status status = Status::OK();
  self->request(transport::Connector(*impl_->system), kConnectTimeout, caf::connect_atom::value, address_.host,
                address_.port)
      .receive(
          [&](const caf::node_id&, caf::strong_actor_ptr& ptr, const std::set<std::string>&) {
            if (!ptr) {
              status = Status::IOError("cannot reach node " + address_.ToString() +
                                       ": nothing is published on that port (is it the node's admin.listen?)");
              return;
            }
            impl_->admin = caf::actor_cast<caf::actor>(std::move(ptr));
          },
          [&](caf::error& err) {
            std::string why = impl_->system->render(err);
            if (err == caf::sec::cannot_connect_to_node)
              why = "connection failed (is amid running with admin.listen " + address_.ToString() + "?)";
            else if (err == caf::sec::request_timeout)
              why = "no answer within " + std::to_string(kConnectTimeout.count()) + " s";
            else if (err == caf::sec::disconnect_during_handshake)
              why = "the TLS handshake did not complete: no TLS answer within " +
                    std::to_string(transport::detail::kHandshakeDeadline.count()) +
                    " s (is it the node's admin.listen?), or a certificate was refused (the node's must be "
                    "signed by " + tls_.ca_file + ", and " + tls_.cert_file + " by the node's CA)";
            status = Status::IOError("cannot reach node " + address_.ToString() + ": " + why);
          });
  if (!status.ok()) return status;
  // A down message tells the next Call that the connection is gone and to reconnect.
  self->monitor(impl_->admin);
  return Status::OK();
}

Result<nlohmann::json> AdminClient::Call(const std::string& op, const nlohmann::json& args,
                                         std::chrono::milliseconds timeout) {
  auto& self = *impl_->self;
  // Forget a connection that broke since the last call (node restarted or stopped).
  bool draining = true;
  while (draining && impl_->admin) {
    self->receive([&](caf::down_msg&) { impl_->admin = nullptr; },
                  caf::after(std::chrono::milliseconds(0)) >> [&] { draining = false; });
  }
  if (!impl_->admin) {
    Status connected = Connect();
    if (!connected.ok()) return connected;
  }
  const std::string request = nlohmann::json{{"op", op}, {"args", args}}.dump();
  std::string reply;
  Status status = Status::OK();
  self->request(impl_->admin, timeout, admin_atom_v, token_, request)
      .receive([&](std::string& text) { reply = std::move(text); },
               [&](caf::error& err) {
                 impl_->admin = nullptr;
                 status = Status::IOError("cannot reach node " + address_.ToString() + ": " +
                                          (err == caf::sec::request_timeout
                                               ? "no reply within " + std::to_string(timeout.count() / 1000) + " s"
                                               : impl_->system->render(err)));
               });
  if (!status.ok()) return status;
  auto parsed = nlohmann::json::parse(reply, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object() || !parsed.contains("ok"))
    return Status::Internal("the node sent a reply that is not admin-protocol JSON");
  if (parsed["ok"] != true) return FromErrorReply(parsed.value("error", nlohmann::json()), address_);
  return parsed.value("result", nlohmann::json());
}

}  // namespace ami::shell
