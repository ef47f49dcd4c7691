#include "apps/exchange_sim/sim_journal.h"

#include <cstdio>
#include <cstdlib>

namespace ami::exchange_sim {

bool Journal::Open(const std::filesystem::path& file, std::int64_t fsync_delay_ms, std::string& error) {
  plugin::JournalFile::Options options;
  options.fsync_delay_ms = fsync_delay_ms;
  options.on_failure = [](const std::string& why) {
    // An event we cannot make durable must never be acknowledged: stop the process (the
    // replay on restart shows exactly what reached the disk).
    std::fprintf(stderr, "ami-exchange-sim: %s — exiting\n", why.c_str());
    std::_Exit(3);
  };
  return file_.Open(file, error, std::move(options));
}

bool Journal::Replay(const std::function<void(const nlohmann::json&)>& apply, int& torn, std::string& error) {
  plugin::JournalFile::ReplayReport report;
  const bool ok = file_.Replay([&](const nlohmann::json& event, std::uint64_t) { apply(event); }, report, error);
  torn = report.torn ? 1 : 0;
  return ok;
}

void Journal::Append(const nlohmann::json& event, std::function<void()> durable) {
  const auto ticket = file_.Append(event.dump());
  if (durable)
    file_.AfterDurable(ticket, [durable = std::move(durable)](bool ok, const std::string&) {
      if (ok) durable();   // not ok: on_failure ends the process
    });
}

void Journal::AfterDurable(std::function<void()> durable) {
  file_.AfterDurable(file_.last(), [durable = std::move(durable)](bool ok, const std::string&) {
    if (ok) durable();
  });
}

std::uint64_t Journal::fsyncs() const { return file_.fsyncs(); }

std::uint64_t Journal::lines() const { return file_.lines(); }

}  // namespace ami::exchange_sim
