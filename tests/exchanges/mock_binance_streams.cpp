// The loopback Binance's streams (mock_binance.h): its order books and the events sent
// to subscribed sockets (depthUpdate, 24hrTicker, trade / aggTrade), dropping sockets;
// and RawCloser, the listener that drops connections.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <stdexcept>

#include "tests/exchanges/mock_binance_impl.h"

namespace ami::test {

using Json = nlohmann::json;

namespace {

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

void MockBinance::Impl::Broadcast(const std::string& stream, const Json& event) {
  const std::string text = event.dump();
  for (auto& [id, peer] : peers)
    if (peer->open && peer->socket && peer->streams.count(stream)) peer->socket->Send(text);
}

void MockBinance::SetBook(const std::string& id, const std::vector<std::pair<double, double>>& bids,
                          const std::vector<std::pair<double, double>>& asks, std::uint64_t last_update_id) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Impl::Book b;
  for (auto [p, a] : bids) b.bids[p] = a;
  for (auto [p, a] : asks) b.asks[p] = a;
  b.update_id = b.last_u = last_update_id;
  impl_->books[id] = b;
}

std::uint64_t MockBinance::Depth(const std::string& id, const std::vector<std::pair<double, double>>& bids,
                                 const std::vector<std::pair<double, double>>& asks, bool lost) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Impl::Book& b = impl_->books[id];
  const std::uint64_t first = b.update_id + 1, last = b.update_id + 2;   // two updates per event
  Json jb = Json::array(), ja = Json::array();
  for (auto [p, a] : bids) {
    if (a == 0) b.bids.erase(p); else b.bids[p] = a;
    jb.push_back({MockDecimal(p), MockDecimal(a)});
  }
  for (auto [p, a] : asks) {
    if (a == 0) b.asks.erase(p); else b.asks[p] = a;
    ja.push_back({MockDecimal(p), MockDecimal(a)});
  }
  const bool futures = impl_->futures_symbols.count(id) && !impl_->spot_symbols.count(id);
  Json ev = {{"e", "depthUpdate"}, {"E", impl_->Now()}, {"s", id}, {"U", first}, {"u", last}, {"b", jb}, {"a", ja}};
  ev["T"] = impl_->Now();
  ev["pu"] = b.last_u;
  (void)futures;
  b.update_id = last;
  b.last_u = last;
  if (!lost) impl_->Broadcast(Lower(id) + "@depth@100ms", ev);
  return last;
}

int MockBinance::DepthSnapshots(const std::string& id) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto it = impl_->depth_snapshots.find(id);
  return it == impl_->depth_snapshots.end() ? 0 : it->second;
}

void MockBinance::PushTicker(const std::string& id, double last) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  const auto now = impl_->Now();
  const std::string p = MockDecimal(last);
  Json ev = {{"e", "24hrTicker"}, {"E", now}, {"s", id}, {"p", "0.00000000"}, {"P", "0.000"}, {"w", p},
             {"x", p}, {"c", p}, {"Q", "1.00000000"}, {"b", MockDecimal(last - 0.01)}, {"B", "2.00000000"},
             {"a", p}, {"A", "3.00000000"}, {"o", p}, {"h", p}, {"l", p}, {"v", "100.00000000"},
             {"q", MockDecimal(100 * last)}, {"O", now - 86400000}, {"C", now}, {"F", 1}, {"L", 2}, {"n", 2}};
  impl_->Broadcast(Lower(id) + "@ticker", ev);
}

void MockBinance::PushTrade(const std::string& id, double price, double amount, bool buyer_maker) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  const auto now = impl_->Now();
  const auto tid = impl_->next_trade_id++;
  impl_->Broadcast(Lower(id) + "@trade", {{"e", "trade"}, {"E", now}, {"s", id}, {"t", tid},
                                          {"p", MockDecimal(price)}, {"q", MockDecimal(amount)},
                                          {"T", now}, {"m", buyer_maker}, {"M", true}});
  impl_->Broadcast(Lower(id) + "@aggTrade", {{"e", "aggTrade"}, {"E", now}, {"s", id}, {"a", tid},
                                             {"p", MockDecimal(price)}, {"q", MockDecimal(amount)},
                                             {"f", tid}, {"l", tid}, {"T", now}, {"m", buyer_maker}});
}

std::set<std::string> MockBinance::Subscriptions() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->subscriptions;
}

int MockBinance::SocketsOpen() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return static_cast<int>(impl_->peers.size());
}

void MockBinance::DropSockets() {
  std::vector<std::shared_ptr<gateway::WebSocketPeer>> sockets;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    for (auto& [id, peer] : impl_->peers)
      if (peer->socket) sockets.push_back(peer->socket);
    impl_->subscriptions.clear();
  }
  for (auto& s : sockets) s->Close(1001, "going away");
}

// ---- RawCloser ----------------------------------------------------------------------------

struct RawCloser::State {
  std::atomic<bool> stop{false};
  std::atomic<int> accepted{0};
};

RawCloser::RawCloser() : state_(std::make_shared<State>()) {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd_, 16) != 0)
    throw std::runtime_error("RawCloser: cannot listen");
  socklen_t len = sizeof addr;
  ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([fd = fd_, state = state_] {
    while (!state->stop) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const int c = ::accept(fd, nullptr, nullptr);
      if (c < 0) continue;
      ++state->accepted;
      std::string got;
      char buf[4096];
      for (int i = 0; i < 40 && got.find("\r\n\r\n") == std::string::npos; ++i) {
        pollfd q{c, POLLIN, 0};
        if (::poll(&q, 1, 25) <= 0) continue;
        const auto n = ::read(c, buf, sizeof buf);
        if (n <= 0) break;
        got.append(buf, static_cast<std::size_t>(n));
      }
      ::close(c);   // no reply: the client sees the connection closed after sending
    }
  });
}

RawCloser::~RawCloser() {
  state_->stop = true;
  if (thread_.joinable()) thread_.join();
  if (fd_ >= 0) ::close(fd_);
}

int RawCloser::accepted() const { return state_->accepted; }

}  // namespace ami::test
