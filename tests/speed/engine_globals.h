// Helpers for the speed tests that compare engines built different ways (a fresh
// isolate, a pooled one, a startup snapshot): a host that keeps log lines, options that
// fill every facts-driven part of the script API, and a description of everything a
// script can see from globalThis — names, descriptors, frozenness, prototypes — as one
// JSON string, so two engines compare with ==.
#pragma once

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "runtime/js/engine.h"

namespace ami::test {

struct CaptureHost : js::Host {
  std::vector<std::string> lines;
  void Log(LogLevel, std::string message) override { lines.push_back(std::move(message)); }
  void StartTimer(uint64_t, std::chrono::milliseconds) override {}
  void StartKv(uint64_t, kv::Request) override {}
  void StartExchangeCall(uint64_t, js::ExchangeCall) override {}
  double HybridTimestamp() override { return 1234.0; }
  bool Logged(const std::string& text) const {
    for (const auto& line : lines)
      if (line == text) return true;
    return false;
  }
};

// Options with config, leader, exchanges and CCXT error classes all given.
inline js::EngineOptions GlobalsOptions() {
  js::EngineOptions o;
  o.sid = "11111111-2222-4333-8444-555555555555";
  o.node_id = "s-0001";
  o.config_json = R"({"symbol":"BTC/USDT","nested":{"depth":[1,2,3]}})";
  o.leader_json = R"({"node":"s-0001","term":3,"expiresAt":99})";
  o.start_time_ms = 1700000000000;
  o.exchanges_json =
      R"([{"id":"paper","describe":{"name":"Paper","countries":["XX"],"has":{"fetchTicker":true},)"
      R"("methods":[{"name":"fetchTicker"},{"name":"createOrder"},{"name":"loadMarkets"}]}}])";
  o.error_classes_json =
      R"([["BaseError",null],["ExchangeError","BaseError"],["NetworkError","BaseError"],)"
      R"(["BadRequest","ExchangeError"],["InsufficientFunds","ExchangeError"],["RequestTimeout","NetworkError"]])";
  o.max_log_line = 64ull << 20;  // the description is one long line
  return o;
}

// Load + one call of a synchronous script; the settled outcome (a failure when the call
// did not settle).
inline js::CallOutcome RunScript(js::Engine& engine, const std::string& script) {
  js::ScriptError error;
  if (!engine.Load(script, &error).ok()) return js::CallOutcome{false, error};
  engine.StartCall();
  if (auto outcome = engine.TakeOutcome()) return *outcome;
  js::CallOutcome pending{false, {}};
  pending.error.message = "the call did not settle";
  return pending;
}

// Walks globalThis (own keys, symbols included, to depth 4, each object once, in
// property order) and logs it as JSON: per object its type, frozen/sealed/extensible,
// its prototype's place in the walk, and per property the descriptor's flags, accessor
// kinds, and the value (described, or as text for primitives).
constexpr const char* kDescribeGlobals = R"JS(
const ids = new Map();
const walk = (o, depth) => {
  if (o === null || (typeof o !== 'object' && typeof o !== 'function')) return typeof o + ':' + String(o);
  if (ids.has(o)) return '#' + ids.get(o);
  ids.set(o, ids.size);
  const out = { id: ids.get(o), type: typeof o, frozen: Object.isFrozen(o), sealed: Object.isSealed(o),
                extensible: Object.isExtensible(o) };
  const proto = Object.getPrototypeOf(o);
  out.proto = proto === null ? null : (depth > 0 ? walk(proto, depth - 1) : typeof proto);
  if (depth > 0) {
    out.props = [];
    for (const k of Reflect.ownKeys(o)) {
      const d = Object.getOwnPropertyDescriptor(o, k);
      const p = { key: String(k), w: d.writable, e: d.enumerable, c: d.configurable,
                  get: typeof d.get, set: typeof d.set };
      if ('value' in d) p.value = walk(d.value, depth - 1);
      out.props.push(p);
    }
  }
  return out;
};
logger.info(JSON.stringify(walk(globalThis, 4)));
)JS";

// The description of everything `engine` (created with `host`) shows on globalThis.
inline std::string DescribeGlobals(js::Engine& engine, CaptureHost& host) {
  const size_t before = host.lines.size();
  js::CallOutcome outcome = RunScript(engine, kDescribeGlobals);
  INFO(outcome.error.Describe());
  REQUIRE(outcome.ok);
  REQUIRE(host.lines.size() == before + 1);
  return host.lines.back();
}

// The description holds the script API: each global present, not writable or
// configurable, and frozen where the API freezes it.
inline void CheckApiShape(const std::string& description) {
  const nlohmann::json g = nlohmann::json::parse(description);
  // Objects met again are "#id"; index every described object by its id to follow them.
  std::map<int, nlohmann::json> by_id;
  std::function<void(const nlohmann::json&)> index = [&](const nlohmann::json& node) {
    if (!node.is_object()) return;
    if (node.contains("id")) by_id[node["id"].get<int>()] = node;
    if (node.contains("proto")) index(node["proto"]);
    if (node.contains("props"))
      for (const auto& p : node["props"])
        if (p.contains("value")) index(p["value"]);
  };
  index(g);
  auto prop = [&](const nlohmann::json& obj, const std::string& key) -> nlohmann::json {
    if (!obj.is_object() || !obj.contains("props")) return nullptr;
    for (auto p : obj["props"]) {
      if (p["key"] != key) continue;
      if (p.contains("value") && p["value"].is_string()) {
        const std::string v = p["value"];
        if (!v.empty() && v[0] == '#') p["value"] = by_id[std::stoi(v.substr(1))];
      }
      return p;
    }
    return nullptr;
  };
  for (const char* name : {"logger", "console", "config", "signal", "shouldStop", "Stels", "Deno", "ccxt",
                           "DOMException", "AbortController", "AbortSignal", "setTimeout", "setInterval",
                           "clearTimeout", "clearInterval"}) {
    INFO(name);
    const nlohmann::json p = prop(g, name);
    REQUIRE(p.is_object());
    CHECK(p["w"] == false);
    CHECK(p["c"] == false);
  }
  for (const char* frozen : {"logger", "console", "config", "signal", "Stels", "Deno", "ccxt"}) {
    INFO(frozen);
    CHECK(prop(g, frozen)["value"]["frozen"] == true);
  }
  const nlohmann::json stels = prop(g, "Stels")["value"];
  CHECK(prop(stels, "sid")["value"] == "string:11111111-2222-4333-8444-555555555555");
  CHECK(prop(prop(stels, "runtime")["value"], "cex")["value"]["frozen"] == true);
  CHECK(prop(prop(g, "ccxt")["value"], "InsufficientFunds").is_object());
  CHECK(prop(g, "host").is_null());  // the native capability object never leaks
}

}  // namespace ami::test
