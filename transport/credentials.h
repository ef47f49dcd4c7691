// Who may talk to a node: the certificates its ports require and present.
//
// Every port amid opens (cluster.listen, admin.listen) speaks TLS with mutual
// certificate authentication, so no party that has not proven itself gets a single frame
// to the CAF/BASP layer (docs/security.md). Two sources of credentials:
//   - the config's `tls:` block: one cluster CA; nodes and operators present certificates
//     it signed (scripts/dev-certs makes a set for local clusters);
//   - without one, a node-local CA made at first start in <data_dir>/tls (this file's
//     MakeLocalCredentials). Such a node listens on loopback only (the config loader
//     enforces it), and only processes that can read its data directory — the operator
//     running `ami --node-dir` on that machine — can connect.
#pragma once

#include <filesystem>
#include <string>

#include "runtime/base/status.h"

namespace ami::transport {

// PEM files: the CA peers must be signed by, and this party's certificate and key.
struct TlsFiles {
  std::filesystem::path ca_file;
  std::filesystem::path cert_file;
  std::filesystem::path key_file;
};

// The layout of a node-local CA directory (<data_dir>/tls):
//   ca.pem                      the CA certificate (its key is never written)
//   node.pem, node.key          the node's certificate and key
//   operator.pem, operator.key  a certificate for `ami` on this machine
// Keys are mode 0600 and the directory 0700.
TlsFiles NodeFilesIn(const std::filesystem::path& dir);
TlsFiles OperatorFilesIn(const std::filesystem::path& dir);

// Makes `dir` with a fresh CA (P-256, self-signed), a node and an operator certificate
// signed by it, unless `dir` already holds all five files, which are then reused. The
// directory appears complete or not at all (built beside it, then renamed).
// `node_id` is the node certificate's common name.
Status MakeLocalCredentials(const std::filesystem::path& dir, const std::string& node_id);

// Checks that the three files exist, are readable PEM, that the certificate matches the
// key and is signed by the CA. The message names the file and what is wrong.
Status CheckTlsFiles(const TlsFiles& files);

}  // namespace ami::transport
