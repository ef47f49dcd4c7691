// WebFIX sessions (docs/webfix.md "Sessions"): what a successful wallet login hands out.
//
//   - A session id is 32 random bytes (RAND_bytes) as 64 hex characters. It is the only
//     credential a browser holds, so the store keeps only its SHA-256: the sessions file
//     (and a copy of it) never holds a usable secret, and a lookup by hash reveals nothing
//     about the id through timing.
//   - A session lasts `ttl` from its login (http.sessions.ttl; not extended by use), then
//     it is gone; expired sessions are pruned on every write and when met.
//   - Sessions survive a restart: the store lives in <data_dir>/http/sessions.json, written
//     whole to a temporary file (mode 0600) and renamed over the old one, so a crash leaves
//     either the old or the new file, never half of one.
//   - A session names only its wallet. What the wallet may do is decided at every use
//     from http.wallets (webfix_api.cpp), so removing a wallet from the config (and
//     restarting) takes its sessions' access away.
//   - At most `max_per_wallet` sessions per wallet: a new login beyond that ends the
//     wallet's oldest session (a script logging in in a loop cannot grow the file forever).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace ami::gateway::webfix {

class SessionStore {
 public:
  struct Options {
    std::filesystem::path file;                    // "" = in memory only (nothing survives a restart)
    std::chrono::milliseconds ttl{std::chrono::hours(12)};
    size_t max_per_wallet = 64;
    std::function<int64_t()> now;                  // wall clock, ms since the epoch; empty = system clock
  };

  // Loads `options.file` when it exists. A file that cannot be read or parsed does not
  // stop the node: `*warning` says why, and the store starts empty (users log in again).
  static std::unique_ptr<SessionStore> Open(Options options, std::string* warning);

  struct Session {
    std::string wallet;
    int64_t created_at = 0;   // ms since the epoch
    int64_t expires_at = 0;
  };

  // A new session for `wallet`; returns its id (the only time the id exists in clear).
  // Persisting failures are logged; the session still works until the node stops.
  std::string Create(const std::string& wallet, Session* created = nullptr);

  // The live session of `id`, or nullopt (unknown, malformed, expired). Thread-safe.
  std::optional<Session> Find(std::string_view id);

  size_t size() const;

  // The text Create()/pruning would write now (for tests of the file format).
  std::string Serialize() const;

 private:
  explicit SessionStore(Options options);
  int64_t Now() const;
  bool PruneLocked(int64_t now);        // true when something was removed
  void PersistLocked();
  std::string SerializeLocked() const;

  Options options_;
  mutable std::mutex mu_;
  std::map<std::string, Session> by_hash_;   // sha256 hex of the id -> session; guarded by mu_
};

}  // namespace ami::gateway::webfix
