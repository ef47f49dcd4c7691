// Turning what a finished trial left behind into a trials::History (trials/history.h):
// the nodes' worker logs, the exchange simulator's journal and the nodes' stores.
// Pure parsing apart from reading the given files; the trial runner (trial.h) calls it
// after every process of the trial has stopped.
//
// What the trial's scripts log (trial.cpp holds them), one line each:
//   "TERM <node> <term>"                      a leader-mode iteration starts
//   "SPAN <node> <term> <start> <end>"        it ended (the cluster tests' span line)
//   "KVACK <key> <value> <acked ms>"          a Stels.net write was acknowledged
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "trials/history.h"

namespace ami::trials::runner {

// Every line of every worker log (current and rotated) under `data_dir`/logs/workers.
std::vector<std::string> WorkerLogLines(const std::filesystem::path& data_dir);

// (worker sid, term) -> node, from the TERM and SPAN lines of every node.
using TermOwners = std::map<std::pair<std::string, uint64_t>, std::string>;
void AddTermOwners(const std::string& sid, const std::vector<std::string>& lines, TermOwners* owners);

// The journal's order events: accepted -> placed, refused_stale -> refused_stale,
// filled/cancelled -> status. `workers`: the sids whose first 8 characters the journal's
// sid8 names; `grid_sid`: that worker's orders get grid_level = its price rounded (its
// levels are fixed prices). Unfenced orders keep worker/term/node empty (the checker flags them).
std::vector<OrderEvent> ReadJournal(const std::filesystem::path& journal, const std::vector<std::string>& workers,
                                    const std::string& grid_sid, const TermOwners& owners);

// KVACK lines of `node`'s logs.
std::vector<KvWrite> ReadAcks(const std::string& node, const std::vector<std::string>& lines);

// The node's network rows under ["trial", …] from its stopped store (`data_dir`/node.db):
// the final values of ["trial","kv",<key>] (keyed "<key>"), and the hlc of each
// ["trial","acks",<value>] row (the write that set <value> committed both in one atomic
// operation, so they share its hlc) into *ack_hlc. The digest is left to the caller.
NodeFinal ReadFinal(const std::string& node, const std::filesystem::path& data_dir,
                    std::map<std::string, std::pair<uint64_t, std::string>>* ack_hlc, std::string* error);

}  // namespace ami::trials::runner
