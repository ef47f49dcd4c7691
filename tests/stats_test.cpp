// Worker statistics: the compat JSON fields, error rates, and the node-wide registry.
#include <catch2/catch.hpp>

#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "runtime/stats/worker_stats.h"

using namespace ami;
using json = nlohmann::json;

TEST_CASE("ErrorRate strings", "[stats]") {
  CHECK(ErrorRate(0, 0) == "0%");
  CHECK(ErrorRate(5, 0) == "0%");
  CHECK(ErrorRate(0, 10) == "0.00%");
  CHECK(ErrorRate(1, 2000) == "0.05%");
  CHECK(ErrorRate(1, 3) == "33.33%");
  CHECK(ErrorRate(2, 3) == "66.67%");
  CHECK(ErrorRate(1, 8) == "12.50%");
  CHECK(ErrorRate(10, 10) == "100.00%");
  CHECK(ErrorRate(1, 1000000) == "0.00%");
}

TEST_CASE("ErrorClass names", "[stats]") {
  CHECK(std::string(ToString(ErrorClass::kNetwork)) == "network");
  CHECK(std::string(ToString(ErrorClass::kCritical)) == "critical");
}

TEST_CASE("StatsToJson: a fresh, never-started worker", "[stats]") {
  WorkerStats s;
  s.sid = "w1";
  s.script_hash = "ba7816bf";
  json j = StatsToJson(s, 1000000);
  std::set<std::string> keys;
  for (auto it = j.begin(); it != j.end(); ++it) keys.insert(it.key());
  CHECK(keys == std::set<std::string>{"sid", "started", "uptime", "executions", "errors",
                                      "networkErrors", "criticalErrors", "consecutiveErrors",
                                      "errorRate", "lastError", "lastErrorType", "lastRun",
                                      "lastRunAgo", "scriptHash", "isRunning", "status"});
  CHECK(j["sid"] == "w1");
  CHECK(j["started"].is_null());
  CHECK(j["uptime"] == 0);
  CHECK(j["executions"] == 0);
  CHECK(j["errors"] == 0);
  CHECK(j["errorRate"] == "0%");
  CHECK(j["lastError"].is_null());
  CHECK(j["lastErrorType"].is_null());
  CHECK(j["lastRun"].is_null());
  CHECK(j["lastRunAgo"].is_null());
  CHECK(j["scriptHash"] == "ba7816bf");
  CHECK(j["isRunning"] == false);
  CHECK(j["status"] == "stopped");
}

TEST_CASE("StatsToJson: a running worker with errors", "[stats]") {
  WorkerStats s;
  s.sid = "w2";
  s.started = 1000;
  s.executions = 2000;
  s.errors = 1;
  s.network_errors = 1;
  s.critical_errors = 0;
  s.consecutive_errors = 1;
  s.last_error = "RequestTimeout: bybit GET /v5/market/tickers timed out";
  s.last_error_type = ErrorClass::kNetwork;
  s.last_run = 4000;
  s.script_hash = "dcc022dd";
  s.is_running = true;
  s.status = "backing-off";
  json j = StatsToJson(s, 5000);
  CHECK(j["started"] == 1000);
  CHECK(j["started"].is_number_integer());
  CHECK(j["uptime"] == 4000);
  CHECK(j["executions"] == 2000);
  CHECK(j["errors"] == 1);
  CHECK(j["networkErrors"] == 1);
  CHECK(j["criticalErrors"] == 0);
  CHECK(j["consecutiveErrors"] == 1);
  CHECK(j["errorRate"] == "0.05%");
  CHECK(j["lastError"] == "RequestTimeout: bybit GET /v5/market/tickers timed out");
  CHECK(j["lastErrorType"] == "network");
  CHECK(j["lastRun"] == 4000);
  CHECK(j["lastRunAgo"] == 1000);
  CHECK(j["isRunning"] == true);
  CHECK(j["status"] == "backing-off");

  s.last_error_type = ErrorClass::kCritical;
  CHECK(StatsToJson(s, 5000)["lastErrorType"] == "critical");

  // A clock that stepped back never yields negative durations.
  json back = StatsToJson(s, 500);
  CHECK(back["uptime"] == 0);
  CHECK(back["lastRunAgo"] == 0);
}

TEST_CASE("StatsRegistry: update, get, remove, snapshot", "[stats]") {
  StatsRegistry reg;
  CHECK_FALSE(reg.Get("a"));
  CHECK(reg.Snapshot().empty());

  reg.Update("b", [](WorkerStats& s) { s.executions = 3; });
  reg.Update("a", [](WorkerStats& s) { s.is_running = true; });
  reg.Update("b", [](WorkerStats& s) { s.executions += 1; });

  auto b = reg.Get("b");
  REQUIRE(b);
  CHECK(b->sid == "b");
  CHECK(b->executions == 4);

  auto snap = reg.Snapshot();
  REQUIRE(snap.size() == 2);
  CHECK(snap[0].sid == "a");
  CHECK(snap[1].sid == "b");

  reg.Remove("a");
  reg.Remove("nope");
  CHECK_FALSE(reg.Get("a"));
  CHECK(reg.Snapshot().size() == 1);
}

TEST_CASE("StatsRegistry summary totals", "[stats]") {
  StatsRegistry reg;
  json empty = reg.SummaryJson(42);
  CHECK(empty["totalWorkers"] == 0);
  CHECK(empty["runningWorkers"] == 0);
  CHECK(empty["stoppedWorkers"] == 0);
  CHECK(empty["totalExecutions"] == 0);
  CHECK(empty["timestamp"] == 42);
  CHECK(empty["workers"] == json::array());

  reg.Update("w1", [](WorkerStats& s) {
    s.is_running = true; s.status = "running"; s.started = 100;
    s.executions = 10; s.errors = 3; s.network_errors = 2; s.critical_errors = 1;
  });
  reg.Update("w2", [](WorkerStats& s) {
    s.is_running = false; s.status = "failed";
    s.executions = 5; s.errors = 5; s.critical_errors = 5;
  });
  reg.Update("w3", [](WorkerStats& s) {
    s.is_running = true; s.status = "backing-off";
    s.executions = 1; s.errors = 1; s.network_errors = 1;
  });

  json j = reg.SummaryJson(1100);
  std::set<std::string> keys;
  for (auto it = j.begin(); it != j.end(); ++it) keys.insert(it.key());
  CHECK(keys == std::set<std::string>{"totalWorkers", "runningWorkers", "stoppedWorkers",
                                      "totalExecutions", "totalErrors", "totalNetworkErrors",
                                      "totalCriticalErrors", "timestamp", "workers"});
  CHECK(j["totalWorkers"] == 3);
  CHECK(j["runningWorkers"] == 2);
  CHECK(j["stoppedWorkers"] == 1);
  CHECK(j["totalExecutions"] == 16);
  CHECK(j["totalErrors"] == 9);
  CHECK(j["totalNetworkErrors"] == 3);
  CHECK(j["totalCriticalErrors"] == 6);
  CHECK(j["timestamp"] == 1100);
  REQUIRE(j["workers"].size() == 3);
  CHECK(j["workers"][0]["sid"] == "w1");
  CHECK(j["workers"][0]["uptime"] == 1000);
  CHECK(j["workers"][0]["errorRate"] == "30.00%");
  CHECK(j["workers"][1]["errorRate"] == "100.00%");
  CHECK(j["workers"][2]["status"] == "backing-off");
}

TEST_CASE("StatsRegistry is safe to use from several threads", "[stats]") {
  StatsRegistry reg;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&reg, t] {
      for (int i = 0; i < 1000; ++i) {
        reg.Update("w" + std::to_string(i % 8), [](WorkerStats& s) { s.executions++; });
        if (i % 100 == 0) (void)reg.SummaryJson(0);
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(reg.SummaryJson(0)["totalExecutions"] == 4000);
}
