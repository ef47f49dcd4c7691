// What the cluster actor knows of its peers and of this node's leases, readable from any
// thread: the gateway's /metrics reads it (docs/metrics.md, "Cluster") instead of asking
// the actor on every scrape. The actor writes it when the values change — peers on each
// heartbeat round (UpdatePeers), leases on each lease event and wish — so a scrape sees
// them as of the last heartbeat at worst. Both sides hold the lock only to copy.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace ami::cluster {

struct PeerGauge {
  std::string address;                  // as configured in cluster.peers: the stable label
  std::string node;                     // its node id, learned in the handshake; "" before
  std::string state;                    // up | suspect | down | unknown (StateOf)
  // How far this node's replica of the peer's network rows is behind the peer's last
  // announced write, in the peer's versionstamps (commits); 0 = caught up. Unknown
  // before the peer's first heartbeat loaded the cursor.
  std::optional<uint64_t> lag_versionstamps;
};

struct LeaseGauge {
  bool held = false;                    // this node holds the worker's lease now
  uint64_t term = 0;                    // of the last lease event (0 before the first)
};

class ClusterGauges {
 public:
  void SetPeers(std::vector<PeerGauge> peers) {
    std::lock_guard<std::mutex> lock(mu_);
    peers_ = std::move(peers);
  }
  // This node wants sid's lease (a leader-mode worker placed here): its series appear
  // with held = 0 until the first lease event. A term already known is kept.
  void WantLease(const std::string& sid) {
    std::lock_guard<std::mutex> lock(mu_);
    leases_.try_emplace(sid);
  }
  // A lease event; ignored for sids not wanted here (their series are gone).
  void LeaseChanged(const std::string& sid, bool held, uint64_t term) {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = leases_.find(sid); it != leases_.end()) it->second = LeaseGauge{held, term};
  }
  // No longer wanted here (the worker stopped or moved): its series go.
  void DropLease(const std::string& sid) {
    std::lock_guard<std::mutex> lock(mu_);
    leases_.erase(sid);
  }

  std::vector<PeerGauge> Peers() const {
    std::lock_guard<std::mutex> lock(mu_);
    return peers_;
  }
  std::map<std::string, LeaseGauge> Leases() const {
    std::lock_guard<std::mutex> lock(mu_);
    return leases_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<PeerGauge> peers_;                 // guarded by mu_
  std::map<std::string, LeaseGauge> leases_;     // by sid; guarded by mu_
};

}  // namespace ami::cluster
