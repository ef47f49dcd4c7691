// Types that cross the wire between processes: node ↔ node (cluster) and shell ↔ node
// (admin). Each has an inspect() in CAF 0.17's form and a CAF_ADD_TYPE_ID entry in
// messages.h; every process registers the same list, since CAF matches types by name.
//
// Nothing here is trusted when it arrives: receivers validate every field (keys are
// decoded with kv::DecodeKey, sizes are bounded) and drop what does not fit.
#pragma once

#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/cluster/lease_protocol.h"

namespace ami::wire {

// --- membership handshake (actors/cluster_actor.h) ---
// What a node believes the cluster is (runtime/cluster/membership.h): two nodes talk only
// when these are equal. `hash` covers the sorted member addresses, ttl and margin; the
// other fields let the refusing side say what differs.
struct View {
  std::string hash;           // hex SHA-256
  uint32_t members = 0;       // size of the configured membership
  int64_t lease_ttl_ms = 0;
  int64_t lease_margin_ms = 0;
};
// A → B: who I am, my view and a fresh nonce.
struct Hello {
  std::string cluster;       // cluster name; must match
  std::string node;          // node id
  std::string incarnation;   // random per process start
  std::string nonce;         // random, hex
  View view;
};
// B → A: B's identity, view, nonce, and
// HMAC(secret, "ami-hello" | cluster | B | A.nonce | B.nonce | B.view.hash | A.view.hash).
// A refusal has no mac (and carries B's view, so that A can log what differs).
struct HelloReply {
  std::string node;
  std::string incarnation;
  std::string nonce;
  std::string mac;
  View view;
};
// A → B: HMAC(secret, "ami-auth" | cluster | A | B.nonce | A.nonce | A.view.hash). B serves A only after it.
struct Auth {
  std::string node;
  std::string mac;
};

// Sent to every authenticated peer each heartbeat; doubles as the anti-entropy digest:
// a peer whose cursor for this node is below `last_versionstamp` pulls the difference.
struct Heartbeat {
  std::string node;
  std::string incarnation;        // process incarnation
  std::string store_incarnation;  // kv::Store::Incarnation(): changes only with a new data dir
  uint64_t last_versionstamp = 0; // highest local versionstamp of the network space
  uint64_t hlc = 0;               // sender's clock, folded into the receiver's HLC
  // How far the sender has applied the RECEIVER's store (its cursor for it), so the
  // receiver sweeps a tombstone only once every peer has it (kv::Store::SweepExpired).
  std::string acked_store;        // the receiver's store incarnation that cursor is for
  uint64_t acked = 0;
};

// One replicated row of the network space. `key` is kv::EncodeKey() bytes.
struct ReplRow {
  std::string key;
  bool deleted = false;
  std::string value;              // JSON text; empty for tombstones
  int64_t expires_at = 0;         // wall epoch ms; 0 = never
  uint64_t hlc = 0;
  std::string origin;
  uint64_t versionstamp = 0;      // the sender's local versionstamp (for cursors)
};

// Rows of the sender's network space with after < versionstamp <= upto, in versionstamp
// order; `more` when the sender stopped at a size limit.
struct ReplBatch {
  std::string node;
  std::string store_incarnation;
  uint64_t after = 0;
  uint64_t upto = 0;
  bool more = false;
  std::vector<ReplRow> rows;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, View& x) {
  return f(caf::meta::type_name("ami.View"), x.hash, x.members, x.lease_ttl_ms, x.lease_margin_ms);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, Hello& x) {
  return f(caf::meta::type_name("ami.Hello"), x.cluster, x.node, x.incarnation, x.nonce, x.view);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, HelloReply& x) {
  return f(caf::meta::type_name("ami.HelloReply"), x.node, x.incarnation, x.nonce, x.mac, x.view);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, Auth& x) {
  return f(caf::meta::type_name("ami.Auth"), x.node, x.mac);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, Heartbeat& x) {
  return f(caf::meta::type_name("ami.Heartbeat"), x.node, x.incarnation, x.store_incarnation,
           x.last_versionstamp, x.hlc, x.acked_store, x.acked);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ReplRow& x) {
  return f(caf::meta::type_name("ami.ReplRow"), x.key, x.deleted, x.value, x.expires_at, x.hlc, x.origin,
           x.versionstamp);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ReplBatch& x) {
  return f(caf::meta::type_name("ami.ReplBatch"), x.node, x.store_incarnation, x.after, x.upto, x.more, x.rows);
}

}  // namespace ami::wire

namespace ami::cluster {

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, Ballot& x) {
  return f(caf::meta::type_name("ami.Ballot"), x.counter, x.node);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, LeaseMsg& x) {
  return f(caf::meta::type_name("ami.LeaseMsg"), x.kind, x.sid, x.from, x.ballot, x.holder, x.term,
           x.remaining_ms, x.highest_counter, x.lease_ms);
}

}  // namespace ami::cluster
