// The fault-trial runner stopped from outside (a CI timeout, `kill`) must not leave the
// trial's amid and simulator processes running: they would hold ports and CPU, and a
// later campaign beside them measures a loaded machine (ChildProcess::KillChildrenOnTermination).
#include <catch2/catch.hpp>

#include <signal.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "tests/support/test_support.h"

using namespace ami::test;

namespace {

// The pids whose parent is `parent`, read from /proc.
std::set<int> ChildrenOf(int parent) {
  std::set<int> out;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(entry.path() / "stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    // pid (comm) state ppid …: comm may hold spaces, so read after the last ')'.
    const auto close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 1));
    std::string state;
    int ppid = 0;
    rest >> state >> ppid;
    if (ppid == parent) out.insert(std::stoi(name));
  }
  return out;
}

// Whether `pid` still runs (a zombie nobody reaped yet counts as ended).
bool Alive(int pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return false;
  const auto close = line.rfind(')');
  return close != std::string::npos && line.size() > close + 2 && line[close + 2] != 'Z';
}

}  // namespace

TEST_CASE("ami-trials stopped with SIGTERM kills the processes of the trial under way", "[trials]") {
  TempDir dir;
  ChildProcess runner((BinaryDir() / "trials" / "runner" / "ami-trials").string(),
                      {"--trials", "1", "--nodes", "3", "--seed", "1", "--minutes", "0.2", "--out",
                       (dir / "out").string()},
                      dir / "runner.log");
  // The simulator and three nodes are up: four children.
  std::set<int> children;
  REQUIRE(Eventually(
      [&] {
        children = ChildrenOf(runner.pid());
        return children.size() >= 4 || !runner.Running();
      },
      std::chrono::seconds(60)));
  INFO(runner.Output());
  REQUIRE(runner.Running());
  runner.Signal(SIGTERM);
  CHECK(runner.Wait() == 128 + SIGTERM);
  CHECK(Eventually([&] {
    for (int pid : children)
      if (Alive(pid)) return false;
    return true;
  }));
}
