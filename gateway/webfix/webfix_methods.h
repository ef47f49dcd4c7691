// The WebFIX editor methods (docs/webfix.md "Methods"), each as one admin request
// (docs/admin-api.md) and back: what the STELS frontend sends becomes admin arguments,
// and the admin result becomes the shape the frontend reads
// (shared/design/webfix-gateway.md, "Editor methods"). Pure functions: no I/O, no state,
// so every mapping is testable without a node.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace ami::gateway::webfix {

enum class Access {
  kRead,      // any session (http.wallets developers and viewers)
  kWrite,     // developers only
};

struct AdminCall {
  std::string op;
  nlohmann::json args = nlohmann::json::object();
};

struct Reply {
  int status = 200;
  nlohmann::json body;
};

struct Method {
  const char* name;
  Access access;
  // Fills `call` from the envelope's body (an object); returns "" or a 400 message.
  std::string (*build)(const nlohmann::json& body, AdminCall* call);
  // The reply for the admin `result` of `call`.
  Reply (*shape)(const nlohmann::json& result, const AdminCall& call);
};

// The method called `name` (listWorkers, setWorker, updateWorker, deleteWorker,
// getLeaderInfo, getWorkerStats, stopAllWorkers), or nullptr. connectionNode and
// requestDeveloperAccess are answered by the gateway itself (webfix_api.cpp).
const Method* FindMethod(std::string_view name);

// An admin `Worker` ({sid, versionstamp, source, running, status, record}) as the STELS
// KV entry {key:["ami","worker",sid], value:{channel, module, widget, raw, timestamp},
// versionstamp, _source}; `raw` keeps every record field, with note/sid/nid/version/
// script always strings. null for a record the node cannot read (record null): the
// editor would break on it, so it is left out of lists (REST still shows it).
nlohmann::json WorkerEntry(const nlohmann::json& worker);

// "ami.worker.<sid>" -> sid; "" when `channel` is not a worker channel.
std::string SidOfChannel(std::string_view channel);

}  // namespace ami::gateway::webfix
