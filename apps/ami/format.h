// Output for people: aligned tables, key/value cards, colour, and the small formatters
// (counts, durations, times) the shell's commands share. Machines get --json instead,
// so nothing here has to stay stable for parsing.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace ami::shell {

enum class Color { kNone, kBold, kDim, kRed, kGreen, kYellow, kBlue, kCyan };

// Wraps text in ANSI colour codes when enabled (stdout is a terminal, NO_COLOR unset,
// no --json / --no-color); otherwise returns it unchanged.
class Style {
 public:
  explicit Style(bool enabled = false) : enabled_(enabled) {}
  bool enabled() const { return enabled_; }
  std::string operator()(Color color, const std::string& text) const;

 private:
  bool enabled_;
};

// Display width of UTF-8 text: code points, not bytes (wide CJK/emoji count as 1 —
// close enough for notes). ANSI escape sequences count as 0.
size_t DisplayWidth(const std::string& text);
// At most `width` columns; longer text ends in "…". Never splits a UTF-8 sequence.
std::string Truncate(const std::string& text, size_t width);
// The first line of `text`, with tabs as spaces ("…" appended when lines were dropped).
std::string OneLine(const std::string& text);

// A table with a header row; columns are padded to their widest cell (capped per column
// with SetMaxWidth, where longer cells are truncated). The last column is not padded.
class Table {
 public:
  struct Cell {
    std::string text;
    Color color = Color::kNone;
    Cell(std::string t = "", Color c = Color::kNone) : text(std::move(t)), color(c) {}  // NOLINT: implicit
    Cell(const char* t, Color c = Color::kNone) : text(t), color(c) {}                  // NOLINT: implicit
  };
  explicit Table(std::vector<std::string> headers);
  void SetMaxWidth(size_t column, size_t width);
  void RightAlign(size_t column);
  void AddRow(std::vector<Cell> cells);
  bool empty() const { return rows_.empty(); }
  void Print(std::ostream& out, const Style& style) const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<Cell>> rows_;
  std::vector<size_t> max_width_;
  std::vector<bool> right_;
};

// "label:  value" lines with the labels padded to one width.
class Card {
 public:
  void Add(std::string label, std::string value, Color color = Color::kNone);
  void Print(std::ostream& out, const Style& style, const std::string& indent = "  ") const;

 private:
  struct Line {
    std::string label, value;
    Color color;
  };
  std::vector<Line> lines_;
};

// 15234 -> "15,234"
std::string FormatCount(uint64_t n);
// Milliseconds as "850ms", "45s", "5m 03s", "2h 04m", "3d 02h".
std::string FormatDuration(int64_t ms);
// Epoch milliseconds as local time: "14:30:45" today, else "2026-01-02 14:30:45".
std::string FormatTime(int64_t epoch_ms);
// Milliseconds since epoch now.
int64_t NowMillis();

// A JSON scalar as people read it: strings without quotes, null as "-", others as JSON.
std::string Scalar(const nlohmann::json& value);
// Number or numeric string; nullopt for anything else.
std::optional<double> AsNumber(const nlohmann::json& value);
// "0.41%" -> 0.41; a number as is.
std::optional<double> PercentValue(const nlohmann::json& value);
// Green below 5 %, yellow below 15 %, red from 15 % (the editor's stats panel colours).
Color RateColor(double percent);
// Colour of a worker status: running green, backing-off yellow, failed red, others dim.
Color StatusColor(const std::string& status);

// Any JSON for people: an array of objects becomes a table of their scalar fields, an
// object a card (nested values as compact JSON), a scalar its text.
void PrintGeneric(std::ostream& out, const Style& style, const nlohmann::json& value);

}  // namespace ami::shell
