// What the cluster actor knows of the membership, readable from any thread: scripts see
// it in Stels.config.cluster.members when their worker starts.
#pragma once

#include <mutex>
#include <nlohmann/json.hpp>

namespace ami::cluster {

class MemberView {
 public:
  // [{"id": "s-0002" | null, "address": "host:port" | null, "state": "self|up|suspect|down|unknown"}…]
  void Set(nlohmann::json members) {
    std::lock_guard<std::mutex> lock(mu_);
    members_ = std::move(members);
  }
  nlohmann::json Get() const {
    std::lock_guard<std::mutex> lock(mu_);
    return members_;
  }

 private:
  mutable std::mutex mu_;
  nlohmann::json members_ = nlohmann::json::array();  // guarded by mu_
};

}  // namespace ami::cluster
