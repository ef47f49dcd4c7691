// The shell's commands: one table describes every command (words, arguments, flags,
// help), so parsing, local checks, `help` and tab completion cannot drift apart.
//
// A command line runs in two steps:
//   1. parse and check locally (argument counts, enum values, sid syntax, KV keys, JSON
//      values, readable files) — a failure is a usage error (exit 2) and nothing is sent;
//   2. run against the node — a failure is exit 3 when the node cannot be reached or
//      refuses the token (Status kIOError from AdminClient), else exit 1 (the node's
//      error reply, an unknown or ambiguous sid, a declined confirmation, an editor
//      that failed).
// Errors are printed to stderr as "ami: <message>".
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "apps/ami/admin_client.h"
#include "runtime/base/status.h"

namespace ami::shell {

// Exit codes of `ami` (docs/operator-guide.md).
constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;       // the node replied with an error, or the command failed
constexpr int kExitUsage = 2;        // bad arguments, found before anything was sent
constexpr int kExitUnreachable = 3;  // cannot connect, or the token was refused

// Splits a command line into words like a POSIX shell does for plain words: blanks
// separate, '…' quotes literally, "…" quotes with \" and \\ escapes, a backslash
// outside quotes escapes the next character. An unterminated quote is an error.
Result<std::vector<std::string>> SplitWords(const std::string& line);

// Ctrl-C. Inside a CatchInterrupts scope (prompts of the interactive shell, --watch and
// -f loops) it only sets a flag that the code there polls: the line being typed is
// dropped, the loop ends quietly. Elsewhere a one-shot `ami` dies of SIGINT as usual,
// and the interactive shell, busy waiting for the node, leaves on a second Ctrl-C.
void InstallInterruptHandler(bool interactive_session);
bool Interrupted();
void ClearInterrupt();
class CatchInterrupts {
 public:
  CatchInterrupts();
  ~CatchInterrupts();
  CatchInterrupts(const CatchInterrupts&) = delete;
  CatchInterrupts& operator=(const CatchInterrupts&) = delete;
};

// Where questions (confirmations, the create dialogue) are asked and answered.
class Console {
 public:
  virtual ~Console() = default;
  // Shows `prompt`, reads one line; nullopt at end of input or on Ctrl-C. `choices`
  // are offered to tab completion where the console has it.
  virtual std::optional<std::string> Ask(const std::string& prompt, const std::vector<std::string>& choices) = 0;
  // True when a person is there to answer (the terminal), which allows dialogues.
  virtual bool interactive() const = 0;
};

// Questions on stdin/stdout for one-shot commands (prompts go to stderr under --json).
class StdConsole : public Console {
 public:
  explicit StdConsole(bool prompts_to_stderr) : to_stderr_(prompts_to_stderr) {}
  std::optional<std::string> Ask(const std::string& prompt, const std::vector<std::string>& choices) override;
  bool interactive() const override;

 private:
  bool to_stderr_;
};

struct ShellOptions {
  bool json = false;         // print raw result JSON
  bool yes = false;          // answer every confirmation with yes
  bool color = false;        // ANSI colour in human output
  bool interactive = false;  // running inside the interactive shell (enables the create dialogue)
};

class Shell {
 public:
  Shell(AdminClient& client, Console& console, ShellOptions options);
  ~Shell();

  // Runs one command (words after global options; per-command --json, --yes and
  // --no-color are accepted too) and returns its exit code.
  int Run(const std::vector<std::string>& words);
  // Candidates for the word being typed (`partial`) after `before` (complete words),
  // already filtered by the partial prefix: command names, subcommands, flags, enum
  // values, worker sids (fetched from the node) and template ids.
  std::vector<std::string> Complete(const std::vector<std::string>& before, const std::string& partial);
  // `exit` / `quit` was run.
  bool exit_requested() const;
  // Full help text, or one command's ("" when there is no such command).
  static std::string Help(const std::string& command = "");

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ami::shell
