// The interactive shell: libedit line editing (emacs keys, ~/.editrc), history kept in
// ~/.ami_history (or $AMI_HISTORY, mode 0600), tab completion from Shell::Complete, and
// Ctrl-C that drops the line being typed instead of leaving.
//
// When stdin is not a terminal (commands piped in) there is no editing, prompt or
// history: each line runs as a command, and the exit code is that of the last failing
// command (0 when all succeeded).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "apps/ami/commands.h"

namespace ami::shell {

class LineEditor : public Console {
 public:
  // (complete words before the cursor, the partial word) -> candidates
  using Completer = std::function<std::vector<std::string>(const std::vector<std::string>&, const std::string&)>;

  explicit LineEditor(std::string history_file);
  ~LineEditor() override;  // saves the history
  LineEditor(const LineEditor&) = delete;
  LineEditor& operator=(const LineEditor&) = delete;

  void SetCompleter(Completer completer) { completer_ = std::move(completer); }
  // One command line, entered into the history when not blank; nullopt at end of input
  // (Ctrl-D). Ctrl-C returns "" (an empty line: the shell prompts again).
  std::optional<std::string> ReadCommand(const std::string& prompt);

  // Console: answers to questions complete from `choices` and stay out of the history.
  std::optional<std::string> Ask(const std::string& prompt, const std::vector<std::string>& choices) override;
  bool interactive() const override { return editing_; }

  // Internal: libedit callbacks.
  unsigned char CompleteAtCursor();
  const char* prompt() const { return prompt_.c_str(); }

 private:
  std::optional<std::string> Read(const std::string& prompt, bool* interrupted);
  void SaveHistory();

  std::string history_file_;
  bool editing_ = false;
  struct EditLineState;
  EditLineState* el_ = nullptr;
  std::string prompt_;
  Completer completer_;
  const std::vector<std::string>* choices_ = nullptr;  // set while Ask() reads
};

// The interactive loop: prompt "ami <node id>> ", run each line through `shell`, until
// exit/quit or Ctrl-D. Returns the exit code for the process.
int RunInteractive(Shell& shell, LineEditor& editor, const std::string& node_id);

// ~/.ami_history unless $AMI_HISTORY names another file ("" = no history file).
std::string DefaultHistoryFile();

}  // namespace ami::shell
