#include "tests/support/test_support.h"

#include <fcntl.h>
#include <signal.h>
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
// The children started and not yet reaped, for the termination handler: a fixed table of
// lock-free atomics, since a signal handler may neither lock nor allocate.
constexpr size_t kTrackedChildren = 1024;
std::atomic<pid_t> tracked_children[kTrackedChildren];

void TrackChild(pid_t pid) {
  for (auto& slot : tracked_children) {
    pid_t empty = 0;
    if (slot.compare_exchange_strong(empty, pid)) return;
  }
}

void UntrackChild(pid_t pid) {
  for (auto& slot : tracked_children) {
    pid_t mine = pid;
    if (slot.compare_exchange_strong(mine, 0)) return;
  }
}

void KillChildrenThenDie(int signo) {
  for (auto& slot : tracked_children)
    if (const pid_t pid = slot.load(); pid > 0) kill(pid, SIGKILL);
  signal(signo, SIG_DFL);
  raise(signo);
}
}  // namespace

void ChildProcess::KillChildrenOnTermination() {
  static_assert(std::atomic<pid_t>::is_always_lock_free);
  struct sigaction action {};
  action.sa_handler = KillChildrenThenDie;
  sigemptyset(&action.sa_mask);
  for (int signo : {SIGTERM, SIGINT, SIGHUP}) sigaction(signo, &action, nullptr);
}

ChildProcess::ChildProcess(const std::string& program, const std::vector<std::string>& args,
                           const std::filesystem::path& output_file)
    : output_file_(output_file) {
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(program.c_str()));
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_ = fork();
  if (pid_ == 0) {
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
  TrackChild(pid_);
}

ChildProcess::~ChildProcess() {
  if (!reaped_ && pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, &status_, 0);
    UntrackChild(pid_);
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
    UntrackChild(pid_);
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
