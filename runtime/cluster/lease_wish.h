// The latest lease wish per worker, for the cluster actor's (wantlease) handling.
//
// Wanting a lease starts with an asynchronous read (the leader record's term), so a
// want=false can arrive before that read answers. Record() every wish and get a ticket;
// when the read answers, IsLatestWant() tells whether the wish that started it is still
// the latest one for that sid and still wants the lease — if not, a later wish replaced
// it and the answer must be dropped (want true/false/true ends wanting, true/false ends
// not wanting). Settle() forgets a sid once its latest wish was applied, so the map
// only holds sids with a read in flight.
//
// Not thread-safe: owned by one actor.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace ami::cluster {

class LeaseWishes {
 public:
  // Records the newest wish for sid. Tickets grow over all sids, so a ticket is never
  // reused even after Settle().
  uint64_t Record(const std::string& sid, bool want) {
    const uint64_t ticket = ++last_ticket_;
    if (want) pending_[sid] = ticket;
    else pending_.erase(sid);  // a not-want is applied at once: nothing stays pending
    return ticket;
  }

  // Whether the want recorded with `ticket` is still sid's latest wish.
  bool IsLatestWant(const std::string& sid, uint64_t ticket) const {
    auto it = pending_.find(sid);
    return it != pending_.end() && it->second == ticket;
  }

  // The want with `ticket` was applied: forget sid unless a newer wish is pending.
  void Settle(const std::string& sid, uint64_t ticket) {
    if (IsLatestWant(sid, ticket)) pending_.erase(sid);
  }

  size_t pending() const { return pending_.size(); }

 private:
  uint64_t last_ticket_ = 0;
  std::map<std::string, uint64_t> pending_;  // sid → ticket of its latest want, while its read is in flight
};

}  // namespace ami::cluster
