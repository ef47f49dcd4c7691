// ami-trials: runs seeded fault trials against real processes and judges them
// (issue 14, docs/reliability.md). Usually started through scripts/trials.
//
//   ami-trials [--trials N] [--nodes 3|5] [--seed S] [--minutes M] [--out DIR] [--keep]
//
// Trial k (0-based) uses seed S + k. Each trial's files go to DIR/trial-<seed>/; a passing
// trial's are removed unless --keep, a failing one's stay and its seed and replay command
// are printed. DIR gets trials-report.json and trials-report.html. Exit 0 = every trial
// passed, 1 = some failed, 2 = bad arguments or a trial could not run.
#include <iostream>
#include <string>

#include "trials/report.h"
#include "trials/runner/trial.h"

using namespace ami::trials;

int main(int argc, char** argv) {
  int trials = 1, nodes = 3;
  uint64_t seed = 1;
  double minutes = 1.0;
  std::filesystem::path out = "trials-out";
  bool keep = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(arg + " needs a value");
      return argv[++i];
    };
    try {
      if (arg == "--trials") trials = std::stoi(next());
      else if (arg == "--nodes") nodes = std::stoi(next());
      else if (arg == "--seed") seed = std::stoull(next());
      else if (arg == "--minutes") minutes = std::stod(next());
      else if (arg == "--out") out = next();
      else if (arg == "--keep") keep = true;
      else throw std::invalid_argument("unknown argument " + arg);
    } catch (const std::exception& e) {
      std::cerr << "ami-trials: " << e.what()
                << "\nusage: ami-trials [--trials N] [--nodes 3|5] [--seed S] [--minutes M] [--out DIR] [--keep]\n";
      return 2;
    }
  }
  if (trials < 1 || (nodes != 3 && nodes != 5) || minutes < 0.2) {
    std::cerr << "ami-trials: need --trials >= 1, --nodes 3 or 5, --minutes >= 0.2\n";
    return 2;
  }
  out = std::filesystem::absolute(out);
  std::vector<TrialRecord> records;
  int failed = 0;
  for (int k = 0; k < trials; ++k) {
    runner::TrialOptions o;
    o.seed = seed + static_cast<uint64_t>(k);
    o.nodes = nodes;
    o.minutes = minutes;
    o.work_dir = out / ("trial-" + std::to_string(o.seed));
    std::filesystem::remove_all(o.work_dir);
    std::cout << "trial " << k + 1 << "/" << trials << ": seed " << o.seed << ", " << nodes << " nodes, " << minutes
              << " min\n" << std::flush;
    History history;
    try {
      history = runner::RunTrial(o);
    } catch (const std::exception& e) {
      std::cerr << "ami-trials: seed " << o.seed << " could not run: " << e.what() << "\n  files kept in "
                << o.work_dir.string() << "\n";
      return 2;
    }
    TrialRecord record = Judge(std::move(history));
    if (record.passed()) {
      std::cout << "  pass\n";
      if (!keep) std::filesystem::remove_all(o.work_dir);
    } else {
      ++failed;
      std::cout << "  FAIL (seed " << o.seed << "), logs kept in " << o.work_dir.string() << "\n";
      for (const auto& v : record.violations) std::cout << "    " << v.checker << "/" << v.kind << ": " << v.message << "\n";
      std::cout << "  replay: " << ReplayCommand(record.history) << "\n";
    }
    records.push_back(std::move(record));
    WriteReport(out, records);  // after every trial: a long run shows progress and keeps what it did
  }
  std::cout << trials - failed << "/" << trials << " trials passed; report: " << (out / "trials-report.html").string()
            << "\n";
  return failed == 0 ? 0 : 1;
}
