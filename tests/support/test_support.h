// Helpers shared by the tests: temporary directories, waiting for a condition with a
// deadline (never bare sleeps), and running real child processes such as amid.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace ami::test {

using namespace std::chrono_literals;

// A fresh directory under /tmp, removed when the object goes away.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

// Polls `condition` every 5 ms until it holds (true) or `timeout` passes (false).
// Deadlines are generous: tests must pass on a loaded 2-core machine.
bool Eventually(const std::function<bool()>& condition,
                std::chrono::milliseconds timeout = std::chrono::seconds(20));
// True when `condition` stays false for all of `period`: a bounded wait, not a sleep.
bool StaysFalse(const std::function<bool()>& condition, std::chrono::milliseconds period);

std::string ReadFile(const std::filesystem::path& file);
void WriteFile(const std::filesystem::path& file, const std::string& text);

// Paths of the source and build trees. BinaryDir() is the environment's
// AMI_TEST_BINARY_DIR when set: a copy of the build's binaries (apps/, plugins/) that a
// long fault-trial campaign runs from while the build tree is rebuilt.
std::filesystem::path SourceDir();
std::filesystem::path BinaryDir();

// A child process with stdout and stderr captured into one file.
class ChildProcess {
 public:
  ChildProcess(const std::string& program, const std::vector<std::string>& args,
               const std::filesystem::path& output_file);
  ~ChildProcess();  // SIGKILLs the child if it is still running
  // From now on every child this process starts is SIGKILLed by the kernel when this
  // process ends, however it ends (SIGTERM, a crash, SIGKILL): a harness stopped from
  // outside leaves no amid behind. Strictly, when the thread that started the child ends
  // (PR_SET_PDEATHSIG), so only for programs that start children from their main thread.
  static void KillChildrenOnTermination();
  int pid() const { return pid_; }
  void Signal(int signo);
  // Waits up to `timeout`; returns the exit code, 128+signal when signalled, or -1 on timeout.
  int Wait(std::chrono::milliseconds timeout = std::chrono::seconds(30));
  bool Running();
  std::string Output() const;

 private:
  int pid_ = -1;
  int status_ = -1;
  bool reaped_ = false;
  std::filesystem::path output_file_;
};

// Runs a program to completion and returns {exit code, combined output}.
struct RunResult { int exit_code; std::string output; };
RunResult Run(const std::string& program, const std::vector<std::string>& args,
              std::chrono::milliseconds timeout = std::chrono::seconds(60));

}  // namespace ami::test
