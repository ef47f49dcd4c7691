#include "transport/caf_tls.h"
#include "transport/caf_openssl_fixes.h"

#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/openssl/publish.hpp>

namespace ami::transport {

void UseTls(caf::actor_system_config& cfg, const TlsFiles& files) {
  detail::LinkCafOpenSslFixes();
  cfg.load<caf::io::middleman>();
  cfg.load<caf::openssl::manager>();
  // Any of these set turns on CAF's peer verification (SSL_VERIFY_PEER and
  // SSL_VERIFY_FAIL_IF_NO_PEER_CERT on both sides of a connection).
  cfg.openssl_cafile = files.ca_file.string();
  cfg.openssl_certificate = files.cert_file.string();
  cfg.openssl_key = files.key_file.string();
}

Result<uint16_t> Publish(caf::actor_system& system, const caf::actor& actor, const std::string& host,
                         uint16_t port) {
  auto published = caf::openssl::publish(actor, port, host.c_str(), true);
  if (!published) return Status::IOError("cannot listen on " + host + ":" + std::to_string(port) + ": " +
                                         system.render(published.error()));
  return *published;
}

caf::io::middleman_actor Connector(caf::actor_system& system) { return system.openssl_manager().actor_handle(); }

}  // namespace ami::transport
