#include "gateway/webfix/webfix_methods.h"

#include <array>

namespace ami::gateway::webfix {

namespace {

using json = nlohmann::json;

constexpr std::string_view kChannelPrefix = "ami.worker.";

std::string ChannelOf(const std::string& sid) { return std::string(kChannelPrefix) + sid; }

Reply AsIs(const json& result, const AdminCall&) { return {200, result}; }

Reply Entry(const json& result, const AdminCall&) { return {200, WorkerEntry(result)}; }

// A worker id from body.<name> (a sid) or body.channel ("ami.worker.<sid>").
std::string SidFrom(const json& body, const char* name, std::string* sid) {
  if (body.contains(name) && body[name].is_string()) {
    *sid = body[name].get<std::string>();
    return "";
  }
  if (body.contains("channel") && body["channel"].is_string()) {
    *sid = SidOfChannel(body["channel"].get<std::string>());
    if (sid->empty()) return "body.channel: expected \"ami.worker.<sid>\"";
    return "";
  }
  return std::string("body.") + name + ": required (the worker's sid), or body.channel \"ami.worker.<sid>\"";
}

// ---- listWorkers

Reply ListShape(const json& result, const AdminCall&) {
  json entries = json::array();
  if (result.is_array())
    for (const auto& worker : result)
      if (json entry = WorkerEntry(worker); !entry.is_null()) entries.push_back(std::move(entry));
  return {200, std::move(entries)};  // a bare array: the editor checks Array.isArray
}

// ---- setWorker: the WorkerCreateRequest of the editor

std::string SetBuild(const json& body, AdminCall* call) {
  call->op = "workers.create";
  // scriptContent is the editor's name for the record's script.
  if (body.contains("scriptContent")) call->args["script"] = body["scriptContent"];
  else if (body.contains("script")) call->args["script"] = body["script"];
  // The rest keep their names. Fields the node does not know are not passed on: the
  // frontend is a compatibility client, and an extra field must not fail its save.
  for (const char* name : {"dependencies", "version", "scope", "executionMode", "priority", "mode", "note",
                           "accountId", "assignedNode", "active"})
    if (body.contains(name)) call->args[name] = body[name];
  return "";
}

// ---- updateWorker: {channel, raw:{whole record}, versionstamp?} — a full-record replace

std::string UpdateBuild(const json& body, AdminCall* call) {
  call->op = "workers.update";
  if (!body.contains("raw") || !body["raw"].is_object())
    return "body.raw: required (the whole worker record, as listWorkers gave it)";
  const json& raw = body["raw"];
  std::string sid;
  if (body.contains("channel")) {
    if (!body["channel"].is_string() || (sid = SidOfChannel(body["channel"].get<std::string>())).empty())
      return "body.channel: expected \"ami.worker.<sid>\"";
    if (raw.contains("sid") && raw["sid"].is_string() && raw["sid"].get<std::string>() != sid)
      return "body.raw.sid: \"" + raw["sid"].get<std::string>() + "\" is not the sid of body.channel \"" +
             body["channel"].get<std::string>() + "\"";
  } else if (raw.contains("sid") && raw["sid"].is_string()) {
    sid = raw["sid"].get<std::string>();
  } else {
    return "body.channel: required (\"ami.worker.<sid>\")";
  }
  json changes = json::object();
  for (const char* name : {"script", "note", "mode", "priority", "executionMode", "scope", "active", "dependencies",
                           "version", "sid", "nid"})
    if (raw.contains(name)) changes[name] = raw[name];
  // The editor leaves a cleared accountId/assignedNode out of raw: in a replace, a field
  // that is not there is a field that is cleared.
  for (const char* name : {"accountId", "assignedNode"}) changes[name] = raw.contains(name) ? raw[name] : json();
  call->args["sid"] = sid;
  call->args["changes"] = std::move(changes);
  if (body.contains("versionstamp") && !body["versionstamp"].is_null()) call->args["versionstamp"] = body["versionstamp"];
  return "";
}

// ---- deleteWorker (older editor): {sid} or {channel}

std::string DeleteBuild(const json& body, AdminCall* call) {
  call->op = "workers.delete";
  std::string sid;
  if (std::string bad = SidFrom(body, "sid", &sid); !bad.empty()) return bad;
  call->args["sid"] = sid;
  return "";
}

Reply DeleteShape(const json&, const AdminCall& call) {
  const std::string sid = call.args.value("sid", "");
  return {200, json{{"message", "Worker deleted"}, {"sid", sid}, {"channel", ChannelOf(sid)}}};
}

// ---- getLeaderInfo: {workerId}

std::string LeaderBuild(const json& body, AdminCall* call) {
  call->op = "leader.info";
  std::string sid;
  if (std::string bad = SidFrom(body, "workerId", &sid); !bad.empty()) return bad;
  call->args["sid"] = sid;
  return "";
}

Reply LeaderShape(const json& result, const AdminCall&) {
  json out = result;
  // The editor's LeaderInfo has leader: string | null.
  if (out.is_object() && !out.contains("leader")) out["leader"] = nullptr;
  return {200, std::move(out)};
}

// ---- getWorkerStats: the node's summary ({…totals, workers:[…]}), as the admin gives it

std::string StatsBuild(const json&, AdminCall* call) {
  call->op = "stats";
  return "";
}

// ---- stopAllWorkers

std::string StopAllBuild(const json&, AdminCall* call) {
  call->op = "workers.stopAll";
  return "";
}

Reply StopAllShape(const json& result, const AdminCall&) {
  json out = result;
  // STELS names workers by channel here; the sid stays as well.
  for (const char* list : {"workers", "errors"})
    if (out.is_object() && out.contains(list) && out[list].is_array())
      for (auto& item : out[list])
        if (item.is_object() && item.contains("sid") && item["sid"].is_string())
          item["channel"] = ChannelOf(item["sid"].get<std::string>());
  // Some stopped, some not: 207 like the reference (still a 2xx for response.ok).
  const int status = out.is_object() && out.value("failed", 0) > 0 ? 207 : 200;
  return {status, std::move(out)};
}

std::string ListBuild(const json&, AdminCall* call) {
  call->op = "workers.list";
  return "";
}

const std::array<Method, 7> kMethods = {{
    {"listWorkers", Access::kRead, ListBuild, ListShape},
    {"setWorker", Access::kWrite, SetBuild, Entry},
    {"updateWorker", Access::kWrite, UpdateBuild, Entry},
    {"deleteWorker", Access::kWrite, DeleteBuild, DeleteShape},
    {"getLeaderInfo", Access::kRead, LeaderBuild, LeaderShape},
    {"getWorkerStats", Access::kRead, StatsBuild, AsIs},
    {"stopAllWorkers", Access::kWrite, StopAllBuild, StopAllShape},
}};

}  // namespace

const Method* FindMethod(std::string_view name) {
  for (const Method& m : kMethods)
    if (name == m.name) return &m;
  return nullptr;
}

std::string SidOfChannel(std::string_view channel) {
  if (channel.size() <= kChannelPrefix.size() || channel.substr(0, kChannelPrefix.size()) != kChannelPrefix) return "";
  return std::string(channel.substr(kChannelPrefix.size()));
}

json WorkerEntry(const json& worker) {
  if (!worker.is_object() || !worker.contains("record") || !worker["record"].is_object()) return nullptr;
  json raw = worker["record"];
  const std::string sid = worker.contains("sid") && worker["sid"].is_string() ? worker["sid"].get<std::string>()
                          : raw.contains("sid") && raw["sid"].is_string()     ? raw["sid"].get<std::string>()
                                                                              : std::string();
  // The editor calls string methods on these: never null.
  for (const char* name : {"note", "sid", "nid", "version", "script"})
    if (!raw.contains(name) || !raw[name].is_string()) raw[name] = name == std::string("sid") ? sid : "";
  if (!raw.contains("dependencies") || !raw["dependencies"].is_array()) raw["dependencies"] = json::array();
  json value = {{"channel", ChannelOf(sid)},
                {"module", "worker"},
                {"widget", "widget.ami.worker." + sid},
                {"raw", raw},
                {"timestamp", raw.value("timestamp", json(0))}};
  return json{{"key", json::array({"ami", "worker", sid})},
              {"value", std::move(value)},
              {"versionstamp", worker.value("versionstamp", json())},
              {"_source", worker.value("source", json())}};
}

}  // namespace ami::gateway::webfix
