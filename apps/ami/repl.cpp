#include "apps/ami/repl.h"

#include <histedit.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cwchar>
#include <iostream>

namespace ami::shell {

struct LineEditor::EditLineState {
  EditLine* el = nullptr;
  History* history = nullptr;
};

namespace {

LineEditor* Self(EditLine* el) {
  void* data = nullptr;
  el_get(el, EL_CLIENTDATA, &data);
  return static_cast<LineEditor*>(data);
}

extern "C" char* PromptFn(EditLine* el) { return const_cast<char*>(Self(el)->prompt()); }

extern "C" unsigned char CompleteFn(EditLine* el, int) { return Self(el)->CompleteAtCursor(); }

// libedit's read function, replaced so that Ctrl-C ends el_gets(): the signal handler
// only sets a flag (and may run on any thread), so stdin is polled in short steps and
// the flag checked in between. Returns 1 with a character, 0 at end of input, -1 (errno
// EINTR) on Ctrl-C.
extern "C" int ReadCharFn(EditLine*, wchar_t* out) {
  char buf[MB_LEN_MAX];
  size_t n = 0;
  while (true) {
    if (Interrupted()) {
      errno = EINTR;
      return -1;
    }
    pollfd pfd{0, POLLIN, 0};
    const int ready = poll(&pfd, 1, 100);
    if (ready < 0 && errno != EINTR) return -1;
    if (ready <= 0) continue;
    char ch = 0;
    const ssize_t r = read(0, &ch, 1);
    if (r < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return -1;
    }
    if (r == 0) return 0;
    buf[n++] = ch;
    std::mbstate_t state{};
    wchar_t wc = 0;
    const size_t k = std::mbrtowc(&wc, buf, n, &state);
    if (k == static_cast<size_t>(-2)) {
      if (n < sizeof buf) continue;  // incomplete sequence: read on
      n = 0;
      continue;
    }
    if (k == static_cast<size_t>(-1)) {  // invalid byte: drop it
      n = 0;
      continue;
    }
    *out = wc;
    return 1;
  }
}

// Words before the cursor as the completer sees them: quotes group, but an open quote
// is not an error (the user is still typing).
void SplitForCompletion(const std::string& text, std::vector<std::string>* words, std::string* partial) {
  std::string word;
  bool in_word = false;
  char quote = 0;
  for (char c : text) {
    if (quote) {
      if (c == quote)
        quote = 0;
      else
        word += c;
      continue;
    }
    if (c == ' ' || c == '\t') {
      if (in_word) words->push_back(word);
      word.clear();
      in_word = false;
    } else if (c == '\'' || c == '"') {
      quote = c;
      in_word = true;
    } else {
      word += c;
      in_word = true;
    }
  }
  *partial = in_word ? word : "";
}

std::string Trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

}  // namespace

std::string DefaultHistoryFile() {
  if (const char* h = std::getenv("AMI_HISTORY")) return h;
  if (const char* home = std::getenv("HOME"); home && *home) return std::string(home) + "/.ami_history";
  return "";
}

LineEditor::LineEditor(std::string history_file) : history_file_(std::move(history_file)) {
  editing_ = isatty(0) && isatty(1);
  if (!editing_) return;
  el_ = new EditLineState;
  el_->el = el_init("ami", stdin, stdout, stderr);
  el_->history = history_init();
  HistEvent ev;
  history(el_->history, &ev, H_SETSIZE, 1000);
  history(el_->history, &ev, H_SETUNIQUE, 1);
  if (!history_file_.empty()) history(el_->history, &ev, H_LOAD, history_file_.c_str());
  el_set(el_->el, EL_CLIENTDATA, this);
  el_set(el_->el, EL_EDITOR, "emacs");
  el_set(el_->el, EL_PROMPT, PromptFn);
  el_set(el_->el, EL_HIST, history, el_->history);
  el_set(el_->el, EL_GETCFN, ReadCharFn);
  el_set(el_->el, EL_ADDFN, "ami-complete", "complete a command, sid or template id", CompleteFn);
  el_set(el_->el, EL_BIND, "^I", "ami-complete", nullptr);
  el_set(el_->el, EL_BIND, "^R", "em-inc-search-prev", nullptr);
  el_source(el_->el, nullptr);  // the operator's ~/.editrc, if any
}

LineEditor::~LineEditor() {
  if (!el_) return;
  SaveHistory();
  el_end(el_->el);
  history_end(el_->history);
  delete el_;
}

void LineEditor::SaveHistory() {
  if (!el_ || history_file_.empty()) return;
  HistEvent ev;
  if (history(el_->history, &ev, H_SAVE, history_file_.c_str()) >= 0) chmod(history_file_.c_str(), 0600);
}

std::optional<std::string> LineEditor::Read(const std::string& prompt, bool* interrupted) {
  *interrupted = false;
  if (!editing_) {
    if (!prompt.empty()) std::cout << prompt << std::flush;
    std::string line;
    if (!std::getline(std::cin, line)) return std::nullopt;
    return Trimmed(line);
  }
  prompt_ = prompt;
  CatchInterrupts catching;
  ClearInterrupt();
  int count = 0;
  const char* line = el_gets(el_->el, &count);
  if (!line) {
    if (count < 0 && Interrupted()) {
      ClearInterrupt();
      *interrupted = true;
      std::cout << "^C\n" << std::flush;
      return std::string();
    }
    return std::nullopt;
  }
  return Trimmed(line);
}

std::optional<std::string> LineEditor::ReadCommand(const std::string& prompt) {
  bool interrupted = false;
  auto line = Read(editing_ ? prompt : "", &interrupted);
  if (line && editing_ && line->find_first_not_of(" \t") != std::string::npos) {
    HistEvent ev;
    history(el_->history, &ev, H_ENTER, line->c_str());
    SaveHistory();  // after every line: a killed session keeps what was typed
  }
  return line;
}

std::optional<std::string> LineEditor::Ask(const std::string& prompt, const std::vector<std::string>& choices) {
  bool interrupted = false;
  choices_ = &choices;
  auto answer = Read(prompt, &interrupted);
  choices_ = nullptr;
  if (interrupted) return std::nullopt;
  return answer;
}

unsigned char LineEditor::CompleteAtCursor() {
  const LineInfo* li = el_line(el_->el);
  const std::string before(li->buffer, static_cast<size_t>(li->cursor - li->buffer));
  std::vector<std::string> words;
  std::string partial;
  SplitForCompletion(before, &words, &partial);
  std::vector<std::string> candidates;
  if (choices_) {
    for (const auto& c : *choices_)
      if (c.rfind(partial, 0) == 0) candidates.push_back(c);
  } else if (completer_) {
    candidates = completer_(words, partial);
  }
  if (candidates.empty()) return CC_REFRESH_BEEP;
  std::string common = candidates.front();
  for (const auto& c : candidates) {
    size_t i = 0;
    while (i < common.size() && i < c.size() && common[i] == c[i]) ++i;
    common.resize(i);
  }
  if (candidates.size() == 1) {
    const std::string rest = candidates.front().substr(partial.size()) + (choices_ ? "" : " ");
    el_insertstr(el_->el, rest.c_str());
    return CC_REFRESH;
  }
  if (common.size() > partial.size()) {
    el_insertstr(el_->el, common.substr(partial.size()).c_str());
    return CC_REFRESH;
  }
  // Ambiguous: list the candidates in columns under the line, then redraw it.
  size_t width = 0;
  for (const auto& c : candidates) width = std::max(width, c.size());
  width += 2;
  winsize ws{};
  const size_t cols = ioctl(1, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 ? ws.ws_col : 80;
  const size_t per_line = std::max<size_t>(1, cols / width);
  std::string out = "\n";
  for (size_t i = 0; i < candidates.size(); ++i) {
    out += candidates[i];
    if ((i + 1) % per_line == 0 || i + 1 == candidates.size())
      out += "\n";
    else
      out += std::string(width - candidates[i].size(), ' ');
  }
  std::fputs(out.c_str(), stdout);
  std::fflush(stdout);
  return CC_REDISPLAY;
}

int RunInteractive(Shell& shell, LineEditor& editor, const std::string& node) {
  const std::string prompt = "ami" + (node.empty() ? std::string() : " " + node) + "> ";
  if (editor.interactive())
    std::cout << "Connected to node " << (node.empty() ? "?" : node)
              << ". `help` lists the commands; Tab completes; Ctrl-D or `exit` leaves.\n";
  int last_failure = kExitOk;
  while (!shell.exit_requested()) {
    auto line = editor.ReadCommand(prompt);
    if (!line) {
      if (editor.interactive()) std::cout << "\n";
      break;
    }
    auto words = SplitWords(*line);
    if (!words.ok()) {
      std::cerr << "ami: " << words.status().message() << "\n";
      last_failure = kExitUsage;
      continue;
    }
    if (words->empty() || (*words)[0].rfind("#", 0) == 0) continue;
    const int rc = shell.Run(*words);
    if (rc != kExitOk) last_failure = rc;
  }
  return editor.interactive() ? kExitOk : last_failure;
}

}  // namespace ami::shell
