#include "apps/ami/format.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>

namespace ami::shell {

namespace {

const char* Code(Color color) {
  switch (color) {
    case Color::kBold: return "\x1b[1m";
    case Color::kDim: return "\x1b[2m";
    case Color::kRed: return "\x1b[31m";
    case Color::kGreen: return "\x1b[32m";
    case Color::kYellow: return "\x1b[33m";
    case Color::kBlue: return "\x1b[34m";
    case Color::kCyan: return "\x1b[36m";
    case Color::kNone: break;
  }
  return "";
}

bool IsContinuation(unsigned char c) { return (c & 0xC0) == 0x80; }

std::string Pad(const std::string& text, size_t width, bool right) {
  const size_t w = DisplayWidth(text);
  if (w >= width) return text;
  return right ? std::string(width - w, ' ') + text : text + std::string(width - w, ' ');
}

}  // namespace

std::string Style::operator()(Color color, const std::string& text) const {
  if (!enabled_ || color == Color::kNone || text.empty()) return text;
  return std::string(Code(color)) + text + "\x1b[0m";
}

size_t DisplayWidth(const std::string& text) {
  size_t width = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = text[i];
    if (c == 0x1b && i + 1 < text.size() && text[i + 1] == '[') {
      // CSI sequence: ESC [ parameters final-byte (0x40..0x7E).
      i += 2;
      while (i < text.size() && !(text[i] >= 0x40 && text[i] <= 0x7E)) ++i;
      continue;
    }
    if (!IsContinuation(c)) ++width;
  }
  return width;
}

std::string Truncate(const std::string& text, size_t width) {
  if (DisplayWidth(text) <= width) return text;
  if (width == 0) return "";
  std::string out;
  size_t w = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = text[i];
    if (!IsContinuation(c)) {
      if (w + 1 >= width) break;  // room for the ellipsis
      ++w;
    }
    out += text[i];
  }
  return out + "…";
}

std::string OneLine(const std::string& text) {
  const auto nl = text.find_first_of("\r\n");
  std::string line = text.substr(0, nl);
  std::replace(line.begin(), line.end(), '\t', ' ');
  if (nl != std::string::npos && text.find_first_not_of("\r\n \t", nl) != std::string::npos) line += " …";
  return line;
}

Table::Table(std::vector<std::string> headers)
    : headers_(std::move(headers)), max_width_(headers_.size(), 0), right_(headers_.size(), false) {}

void Table::SetMaxWidth(size_t column, size_t width) {
  if (column < max_width_.size()) max_width_[column] = width;
}

void Table::RightAlign(size_t column) {
  if (column < right_.size()) right_[column] = true;
}

void Table::AddRow(std::vector<Cell> cells) {
  cells.resize(headers_.size());
  for (size_t i = 0; i < cells.size(); ++i)
    if (max_width_[i] > 0) cells[i].text = Truncate(cells[i].text, max_width_[i]);
  rows_.push_back(std::move(cells));
}

void Table::Print(std::ostream& out, const Style& style) const {
  std::vector<size_t> width(headers_.size());
  for (size_t i = 0; i < headers_.size(); ++i) {
    width[i] = DisplayWidth(headers_[i]);
    for (const auto& row : rows_) width[i] = std::max(width[i], DisplayWidth(row[i].text));
  }
  auto line = [&](const std::vector<Cell>& cells, bool header) {
    std::string text;
    for (size_t i = 0; i < cells.size(); ++i) {
      const bool last = i + 1 == cells.size();
      std::string cell = last && !right_[i] ? cells[i].text : Pad(cells[i].text, width[i], right_[i]);
      text += style(header ? Color::kBold : cells[i].color, cell);
      if (!last) text += "  ";
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    out << text << "\n";
  };
  std::vector<Cell> header;
  for (const auto& h : headers_) header.emplace_back(h);
  line(header, true);
  for (const auto& row : rows_) line(row, false);
}

void Card::Add(std::string label, std::string value, Color color) {
  lines_.push_back({std::move(label), std::move(value), color});
}

void Card::Print(std::ostream& out, const Style& style, const std::string& indent) const {
  size_t width = 0;
  for (const auto& l : lines_) width = std::max(width, DisplayWidth(l.label) + 1);
  for (const auto& l : lines_)
    out << indent << Pad(l.label + ":", width, false) << "  " << style(l.color, l.value) << "\n";
}

std::string FormatCount(uint64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string FormatDuration(int64_t ms) {
  if (ms < 0) ms = 0;
  char buf[32];
  if (ms < 1000) {
    std::snprintf(buf, sizeof buf, "%lldms", static_cast<long long>(ms));
  } else if (ms < 60'000) {
    std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(ms / 1000));
  } else if (ms < 3'600'000) {
    std::snprintf(buf, sizeof buf, "%lldm %02llds", static_cast<long long>(ms / 60'000),
                  static_cast<long long>(ms / 1000 % 60));
  } else if (ms < 86'400'000) {
    std::snprintf(buf, sizeof buf, "%lldh %02lldm", static_cast<long long>(ms / 3'600'000),
                  static_cast<long long>(ms / 60'000 % 60));
  } else {
    std::snprintf(buf, sizeof buf, "%lldd %02lldh", static_cast<long long>(ms / 86'400'000),
                  static_cast<long long>(ms / 3'600'000 % 24));
  }
  return buf;
}

std::string FormatTime(int64_t epoch_ms) {
  const std::time_t t = static_cast<std::time_t>(epoch_ms / 1000);
  const std::time_t now = std::time(nullptr);
  std::tm tm{}, today{};
  localtime_r(&t, &tm);
  localtime_r(&now, &today);
  char buf[32];
  const bool same_day = tm.tm_year == today.tm_year && tm.tm_yday == today.tm_yday;
  std::strftime(buf, sizeof buf, same_day ? "%H:%M:%S" : "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

int64_t NowMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Scalar(const nlohmann::json& value) {
  if (value.is_null()) return "-";
  if (value.is_string()) return value.get<std::string>();
  if (value.is_boolean()) return value.get<bool>() ? "yes" : "no";
  return value.dump();
}

std::optional<double> AsNumber(const nlohmann::json& value) {
  if (value.is_number()) return value.get<double>();
  if (value.is_string()) {
    const std::string& s = value.get_ref<const std::string&>();
    char* end = nullptr;
    const double d = std::strtod(s.c_str(), &end);
    if (end != s.c_str() && *end == '\0') return d;
  }
  return std::nullopt;
}

std::optional<double> PercentValue(const nlohmann::json& value) {
  if (value.is_string()) {
    std::string s = value.get<std::string>();
    if (!s.empty() && s.back() == '%') s.pop_back();
    return AsNumber(nlohmann::json(s));
  }
  return AsNumber(value);
}

Color RateColor(double percent) {
  if (percent < 5) return Color::kGreen;
  if (percent < 15) return Color::kYellow;
  return Color::kRed;
}

Color StatusColor(const std::string& status) {
  if (status == "running") return Color::kGreen;
  if (status == "backing-off" || status == "starting") return Color::kYellow;
  if (status == "failed" || status == "invalid") return Color::kRed;
  return Color::kDim;
}

void PrintGeneric(std::ostream& out, const Style& style, const nlohmann::json& value) {
  auto text = [](const nlohmann::json& v) { return v.is_structured() ? v.dump() : Scalar(v); };
  if (value.is_array()) {
    if (value.empty()) {
      out << "(none)\n";
      return;
    }
    std::vector<std::string> columns;
    bool all_objects = true;
    for (const auto& item : value) {
      if (!item.is_object()) {
        all_objects = false;
        break;
      }
      for (const auto& [k, v] : item.items())
        if (std::find(columns.begin(), columns.end(), k) == columns.end()) columns.push_back(k);
    }
    if (!all_objects) {
      for (const auto& item : value) out << text(item) << "\n";
      return;
    }
    std::vector<std::string> headers;
    for (const auto& c : columns) {
      std::string h;
      for (char ch : c) {
        if (std::isupper(static_cast<unsigned char>(ch))) h += ' ';
        h += static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      }
      headers.push_back(h);
    }
    Table table(headers);
    for (size_t i = 0; i < columns.size(); ++i) table.SetMaxWidth(i, 60);
    for (const auto& item : value) {
      std::vector<Table::Cell> row;
      for (const auto& c : columns) row.emplace_back(item.contains(c) ? text(item[c]) : "");
      table.AddRow(std::move(row));
    }
    table.Print(out, style);
    return;
  }
  if (value.is_object()) {
    Card card;
    for (const auto& [k, v] : value.items()) card.Add(k, text(v));
    card.Print(out, style, "");
    return;
  }
  out << text(value) << "\n";
}

}  // namespace ami::shell
