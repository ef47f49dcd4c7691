#include "tests/support/test_support.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <spdlog/spdlog.h>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace ami::test {

namespace {
// In-process nodes log every worker start and stop; tests only want warnings and errors.
const bool quiet_node_log = [] {
  spdlog::set_level(spdlog::level::warn);
  return true;
}();
}  // namespace

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "ami-test-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

bool Eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
}

bool StaysFalse(const std::function<bool()>& condition, std::chrono::milliseconds period) {
  return !Eventually(condition, period);
}

std::string ReadFile(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFile(const std::filesystem::path& file, const std::string& text) {
  if (file.has_parent_path()) std::filesystem::create_directories(file.parent_path());
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << text;
}

std::filesystem::path SourceDir() { return AMI_SOURCE_DIR; }
std::filesystem::path BinaryDir() {
  static const std::filesystem::path dir = [] {
    const char* copy = std::getenv("AMI_TEST_BINARY_DIR");
    return std::filesystem::path(copy && *copy ? copy : AMI_BINARY_DIR);
  }();
  return dir;
}

namespace {
// Set by KillChildrenOnTermination: each child asks the kernel for SIGKILL when its parent ends.
std::atomic<bool> children_die_with_parent{false};
}  // namespace

void ChildProcess::KillChildrenOnTermination() { children_die_with_parent = true; }

ChildProcess::ChildProcess(const std::string& program, const std::vector<std::string>& args,
                           const std::filesystem::path& output_file)
    : output_file_(output_file) {
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(program.c_str()));
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t parent = getpid();
  const bool die_with_parent = children_die_with_parent;
  pid_ = fork();
  if (pid_ == 0) {
    // PR_SET_PDEATHSIG fires when the thread that forked ends; then (or if the parent is
    // already gone) this child ends too.
    if (die_with_parent && (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)) _exit(127);
    int fd = open(output_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    execv(program.c_str(), argv.data());
    _exit(127);
  }
  if (pid_ < 0) throw std::runtime_error("fork failed");
}

ChildProcess::~ChildProcess() {
  if (!reaped_ && pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, &status_, 0);
  }
}

void ChildProcess::Signal(int signo) {
  if (!reaped_) kill(pid_, signo);
}

bool ChildProcess::Running() {
  if (reaped_) return false;
  int st = 0;
  pid_t r = waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    reaped_ = true;
    status_ = st;
    return false;
  }
  return true;
}

int ChildProcess::Wait(std::chrono::milliseconds timeout) {
  if (!Eventually([&] { return !Running(); }, timeout)) return -1;
  if (WIFEXITED(status_)) return WEXITSTATUS(status_);
  if (WIFSIGNALED(status_)) return 128 + WTERMSIG(status_);
  return -1;
}

std::string ChildProcess::Output() const { return ReadFile(output_file_); }

RunResult Run(const std::string& program, const std::vector<std::string>& args,
              std::chrono::milliseconds timeout) {
  char tmpl[] = "/tmp/ami-run-XXXXXX";
  int fd = mkstemp(tmpl);
  if (fd >= 0) close(fd);
  RunResult result{-1, {}};
  {
    ChildProcess child(program, args, tmpl);
    result.exit_code = child.Wait(timeout);
    result.output = child.Output();
  }
  std::filesystem::remove(tmpl);
  return result;
}

}  // namespace ami::test
