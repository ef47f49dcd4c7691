// The simulator's append-only order journal: <data_dir>/journal.jsonl, one JSON object a
// line (format in docs/exchange-sim.md "Journal"). It is both the simulator's only
// persistent state (replayed on start) and what the trial checkers read.
//
// The file itself is the connector SDK's JournalFile (ami/plugin/journal.h, shared with
// the paper connector); this class keeps the simulator's interface and failure rule.
//
// Durability: Append() queues a line; a flusher thread writes everything queued, calls
// fdatasync once for the whole batch, and only then runs the callbacks of that batch —
// the REST handlers answer from there, so an order is acknowledged only once it is on
// disk (a kill -9 loses at most unacknowledged events). Lines are appended in the order
// Append() was called. A torn last line (a crash mid-write) is ignored on replay and cut
// off before new lines are appended. A failed write or fsync ends the process (exit 3):
// nothing after it may be acknowledged.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "ami/plugin/journal.h"

namespace ami::exchange_sim {

class Journal {
 public:
  // Opens (creates) the file. false with `error` naming the file and why.
  bool Open(const std::filesystem::path& file, std::int64_t fsync_delay_ms, std::string& error);
  // The destructor flushes what is queued, then stops.

  // Every complete line already in the file, in order (call before the first Append).
  // `torn` counts a dropped torn tail (0 or 1); unparseable whole lines are an error.
  bool Replay(const std::function<void(const nlohmann::json&)>& apply, int& torn, std::string& error);

  // Queues `event`; `durable` (may be empty) runs on the flusher thread after the fsync
  // that covers it. Thread-safe; callers keep their own order by calling under their lock.
  void Append(const nlohmann::json& event, std::function<void()> durable = nullptr);
  // Runs `durable` once everything appended so far is on disk.
  void AfterDurable(std::function<void()> durable);

  std::uint64_t fsyncs() const;
  std::uint64_t lines() const;

 private:
  plugin::JournalFile file_;
};

}  // namespace ami::exchange_sim
