#include "trials/runner/collect.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "runtime/store/store.h"

namespace ami::trials::runner {

using nlohmann::json;

std::vector<std::string> WorkerLogLines(const std::filesystem::path& data_dir) {
  std::vector<std::string> lines;
  const auto dir = data_dir / "logs" / "workers";
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return lines;
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  for (const auto& file : files) {
    std::ifstream in(file);
    std::string line;
    while (std::getline(in, line)) lines.push_back(line);
  }
  return lines;
}

namespace {
// The words after `tag` ("SPAN ", …) in a log line; empty when it has none.
std::istringstream After(const std::string& line, const std::string& tag, bool* found) {
  const auto at = line.find(tag);
  *found = at != std::string::npos;
  return std::istringstream(*found ? line.substr(at + tag.size()) : std::string());
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// "BTCUSDT" -> "BTC/USDT" (the simulator's quotes are USDT, USDC or BTC).
std::string Unified(const std::string& symbol) {
  for (const std::string quote : {"USDT", "USDC", "BTC"})
    if (symbol.size() > quote.size() && symbol.ends_with(quote))
      return symbol.substr(0, symbol.size() - quote.size()) + "/" + quote;
  return symbol;
}
}  // namespace

void AddTermOwners(const std::string& sid, const std::vector<std::string>& lines, TermOwners* owners) {
  for (const auto& line : lines) {
    bool found = false;
    for (const char* tag : {"TERM ", "SPAN "}) {
      auto words = After(line, tag, &found);
      std::string node;
      uint64_t term = 0;
      if (found && (words >> node >> term)) owners->emplace(std::make_pair(sid, term), node);
    }
  }
}

std::vector<OrderEvent> ReadJournal(const std::filesystem::path& journal, const std::vector<std::string>& workers,
                                    const std::string& grid_sid, const TermOwners& owners) {
  std::vector<OrderEvent> events;
  std::ifstream in(journal);
  std::string line;
  while (std::getline(in, line)) {
    json j = json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) continue;  // a torn last line
    const std::string event = j.value("event", "");
    OrderEvent e;
    e.t = j.value("t", int64_t{0});
    e.client_order_id = j.value("client_order_id", "");
    e.order_id = j.value("order_id", "");
    if (event == "accepted") {
      e.kind = OrderEventKind::kPlaced;
    } else if (event == "refused" && j.value("refused_stale", false)) {
      e.kind = OrderEventKind::kRefusedStale;
    } else if (event == "filled" || event == "cancelled") {
      e.kind = OrderEventKind::kStatus;
      e.status = event;
      events.push_back(std::move(e));
      continue;
    } else {
      continue;  // other refusals made no order
    }
    const std::string sid8 = j.value("sid8", "");
    e.term = j.value("term", uint64_t{0});
    for (const auto& sid : workers)
      if (!sid8.empty() && sid.compare(0, sid8.size(), sid8) == 0) e.worker = sid;
    if (auto it = owners.find({e.worker, e.term}); it != owners.end()) e.node = it->second;
    e.symbol = Unified(j.value("symbol", ""));
    e.side = Lower(j.value("side", ""));
    e.price = j.value("price", 0.0);
    if (!grid_sid.empty() && e.worker == grid_sid) e.grid_level = std::llround(e.price);
    events.push_back(std::move(e));
  }
  return events;
}

std::vector<KvWrite> ReadAcks(const std::string& node, const std::vector<std::string>& lines) {
  std::vector<KvWrite> writes;
  for (const auto& line : lines) {
    bool found = false;
    auto words = After(line, "KVACK ", &found);
    KvWrite w;
    std::string value;
    if (found && (words >> w.key >> value >> w.acked_at)) {
      w.value = value;
      w.node = node;
      writes.push_back(std::move(w));
    }
  }
  return writes;
}

NodeFinal ReadFinal(const std::string& node, const std::filesystem::path& data_dir,
                    std::map<std::string, std::pair<uint64_t, std::string>>* ack_hlc, std::string* error) {
  NodeFinal out;
  out.node = node;
  kv::StoreOptions options;
  options.node_id = node;
  auto store = kv::Store::Open(data_dir / "node.db", options);
  if (!store.ok()) {
    *error = node + ": " + store.status().ToString();
    return out;
  }
  auto rows = (*store)->ChangesSince(0, 0);
  if (!rows.ok()) {
    *error = node + ": " + rows.status().ToString();
    return out;
  }
  auto text = [](const kv::KeyPart& p) { return p.type == kv::KeyPart::Type::kString ? p.text : std::string(); };
  for (const auto& row : *rows) {
    if (row.key.size() != 3 || text(row.key[0]) != "trial") continue;
    std::optional<std::string> value;
    if (!row.deleted) {
      json v = json::parse(row.value, nullptr, false);
      value = v.is_string() ? v.get<std::string>() : row.value;
    }
    if (text(row.key[1]) == "kv") {
      out.values[text(row.key[2])] = KvValue{value, row.hlc, row.origin};
    } else if (text(row.key[1]) == "acks") {
      ack_hlc->emplace(text(row.key[2]), std::make_pair(row.hlc, row.origin));
    }
  }
  return out;
}

}  // namespace ami::trials::runner
