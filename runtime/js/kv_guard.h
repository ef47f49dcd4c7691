// What a script may ask of the stores: the one check every script KV request passes
// before the engine hands it to the host.
//
// The ["ami", …] keyspace (keys whose first part is the string "ami": worker records,
// leader records, anything the runtime keeps) belongs to the runtime. A script may not
// read, list, write, delete or check any key in it, in either space:
//   - get, atomic checks and mutations (set, delete, webfix) of such a key are refused;
//   - a list whose range lies inside the keyspace (prefix ["ami", …], or start and end
//     both inside it) is refused;
//   - a list whose range reaches into the keyspace from one side is clamped to stop
//     before it (or start after it), so its limit still counts only the script's keys;
//   - a list that spans the keyspace on both sides (e.g. prefix []) runs, and the
//     engine drops the keyspace's entries from the reply (FilterReserved): such a list
//     may return fewer entries than its limit.
// The list limit is clamped to `max_list_results`: 0 (none given) means that cap, not
// "everything".
#pragma once

#include <cstddef>

#include "runtime/base/status.h"
#include "runtime/js/engine.h"

namespace ami::js {

// True for keys in the ["ami", …] keyspace.
bool IsReservedKey(const kv::Key& key);

struct GuardedKv {
  Status status;                  // InvalidArgument naming the key when refused
  bool filter_reply = false;      // a list spanning the keyspace: filter its reply
};

// Checks (and, for lists, clamps) `request` in place.
GuardedKv GuardScriptKv(kv::Request* request, size_t max_list_results);

// Drops entries in the reserved keyspace from a list reply.
void FilterReserved(std::vector<kv::Entry>* entries);

}  // namespace ami::js
