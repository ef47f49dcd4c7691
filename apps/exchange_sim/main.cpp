// ami-exchange-sim: the paper exchange as a standalone process speaking Bybit v5, so many
// nodes can trade against ONE book through the real bybit connector (docs/exchange-sim.md).
//
//   ami-exchange-sim --config FILE --port P --data-dir D [--host H]
//
// Start-up replays <data-dir>/journal.jsonl, then listens; prints "listening on H:P" once
// ready (scripts and tests wait for that line). SIGINT/SIGTERM stop it cleanly; a kill -9
// loses nothing that was acknowledged (sim_journal.h).
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>

#include "apps/exchange_sim/sim_config.h"
#include "apps/exchange_sim/sim_engine.h"
#include "apps/exchange_sim/sim_journal.h"
#include "apps/exchange_sim/sim_server.h"

namespace {

constexpr const char* kUsage =
    "usage: ami-exchange-sim --config FILE --port P --data-dir D [--host H]\n"
    "\n"
    "Serves a simulated spot exchange over Bybit's v5 REST and WebSocket API (the subset\n"
    "the bybit connector uses), one book for every client. Point a node at it with\n"
    "  exchanges: {bybit: {connector: bybit, base_url: http://H:P, ws_url: ws://H:P}}\n"
    "\n"
    "  --config FILE    accounts (api_key, secret, balances), markets, price process; YAML or JSON\n"
    "  --port P         TCP port (0 = any free port; the chosen one is printed)\n"
    "  --data-dir D     where journal.jsonl lives (created if missing); replayed on start\n"
    "  --host H         address to bind, default 127.0.0.1\n"
    "  --help           this text\n"
    "\n"
    "See docs/exchange-sim.md.\n";

int Fail(const std::string& message) {
  std::cerr << "ami-exchange-sim: " << message << "\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace ami::exchange_sim;
  std::string config_file, data_dir, host = "127.0.0.1", port_text;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      return 0;
    }
    auto value = [&](std::string& out) {
      if (i + 1 >= argc) return false;
      out = argv[++i];
      return true;
    };
    bool ok = true;
    if (a == "--config") ok = value(config_file);
    else if (a == "--data-dir") ok = value(data_dir);
    else if (a == "--port") ok = value(port_text);
    else if (a == "--host") ok = value(host);
    else return Fail("unknown argument \"" + a + "\" (see --help)");
    if (!ok) return Fail(a + " needs a value (see --help)");
  }
  if (config_file.empty()) return Fail("--config FILE is required (see --help)");
  if (data_dir.empty()) return Fail("--data-dir D is required (see --help)");
  if (port_text.empty()) return Fail("--port P is required (see --help)");
  int port = -1;
  try {
    std::size_t used = 0;
    port = std::stoi(port_text, &used);
    if (used != port_text.size()) port = -1;
  } catch (...) {
  }
  if (port < 0 || port > 65535) return Fail("--port: \"" + port_text + "\" is not a port number (0-65535)");

  SimConfig config;
  std::string error;
  if (!LoadSimConfig(config_file, config, error)) return Fail("config " + error);
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  if (ec) return Fail("--data-dir " + data_dir + ": cannot create: " + ec.message());

  // Signals are taken by sigwait below; block them before any thread starts.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  SimEngine engine(config);
  Journal journal;
  if (!journal.Open(std::filesystem::path(data_dir) / "journal.jsonl", config.fsync_delay_ms, error)) return Fail(error);
  int torn = 0;
  if (!journal.Replay([&](const Json& e) { engine.Apply(e); }, torn, error)) return Fail(error);
  const SimStats& s = engine.stats();
  std::cout << "ami-exchange-sim: replayed " << journal.lines() << " journal lines (" << s.accepted << " orders, "
            << s.fills << " fills, " << s.cancels << " cancels, " << s.refused_stale << " stale refusals)"
            << (torn ? "; dropped a torn last line" : "") << "\n";

  SimServer server(engine, journal);
  if (!server.Start(host, static_cast<std::uint16_t>(port), error)) return Fail("cannot listen on " + host + ":" + port_text + ": " + error);
  std::cout << "ami-exchange-sim: listening on " << host << ":" << server.port() << std::endl;

  int sig = 0;
  sigwait(&stop_signals, &sig);
  std::cout << "ami-exchange-sim: stopping (signal " << sig << ")" << std::endl;
  server.Stop();
  return 0;   // ~Journal flushes what is queued
}
