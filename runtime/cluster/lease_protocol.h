// PaxosLease messages: what proposers and acceptors of leader leases say to each other.
//
// One lease per leader-mode worker (the "resource", named by the worker's sid). Plain
// data without CAF, so the protocol logic (lease_manager.h) is testable on its own; the
// cluster actor ships these between nodes (inspect() in actors/messages.h).
#pragma once

#include <cstdint>
#include <string>
#include <tuple>

namespace ami::cluster {

// A proposal number: ordered by counter, then node id. A counter is handed to at most
// one node (acceptors refuse the same counter from a different node), so the counter a
// node acquired a lease with is a unique, growing term: the fencing token.
struct Ballot {
  uint64_t counter = 0;
  std::string node;
  friend bool operator<(const Ballot& a, const Ballot& b) {
    return std::tie(a.counter, a.node) < std::tie(b.counter, b.node);
  }
  friend bool operator==(const Ballot& a, const Ballot& b) = default;
};

struct LeaseMsg {
  enum Kind : uint8_t {
    kPrepare = 1,   // proposer → acceptors: ballot
    kPromise = 2,   // acceptor → proposer: ballot promised; holder/term/remaining_ms if it has an unexpired lease
    kReject = 3,    // acceptor → proposer: ballot refused; highest_counter tells the proposer what to beat
    kPropose = 4,   // proposer → acceptors: ballot, lease_ms, term (the holder's term)
    kAccept = 5,    // acceptor → proposer: proposal accepted, its timer runs for lease_ms
    kRelease = 6,   // holder → acceptors: forget my lease now (resign)
  };
  uint8_t kind = 0;
  std::string sid;               // the worker whose lease this is
  std::string from;              // sending node id
  Ballot ballot;                 // the proposal this message is about
  std::string holder;            // kPromise: node of the acceptor's unexpired lease ("" = none)
  uint64_t term = 0;             // kPromise: that lease's term; kPropose/kAccept: the proposed term
  int64_t remaining_ms = 0;      // kPromise: time left on that lease by the acceptor's clock
  uint64_t highest_counter = 0;  // kPromise/kReject: highest counter the acceptor has promised
  int64_t lease_ms = 0;          // kPropose/kAccept: lease length
};

}  // namespace ami::cluster
