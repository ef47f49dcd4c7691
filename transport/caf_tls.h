// CAF remoting over TLS: the one place that knows how a node's actors are published and
// how connections to other parties are opened. Both go through CAF's OpenSSL module
// (libcaf_openssl), configured for mutual authentication: a party must present a
// certificate signed by the CA before a single BASP frame is read (credentials.h).
// Plain CAF remoting (middleman().publish / remote_actor) is never used.
#pragma once

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman_actor.hpp>

#include <cstdint>
#include <string>

#include "runtime/base/status.h"
#include "transport/credentials.h"

namespace ami::transport {

// Loads the middleman and CAF's OpenSSL module into `cfg`, presenting `files.cert_file` /
// `files.key_file` and requiring peers signed by `files.ca_file`. Call before the
// actor_system is made from `cfg`.
void UseTls(caf::actor_system_config& cfg, const TlsFiles& files);

// Publishes `actor` on host:port (port 0 = any free port) over TLS and returns the port.
// `host` is an address or name without IPv6 brackets.
Result<uint16_t> Publish(caf::actor_system& system, const caf::actor& actor, const std::string& host,
                         uint16_t port);

// The actor to ask for connections: (connect_atom, host, port) → (node_id, actor, ifs),
// as with middleman().actor_handle(), but over TLS.
caf::io::middleman_actor Connector(caf::actor_system& system);

}  // namespace ami::transport
