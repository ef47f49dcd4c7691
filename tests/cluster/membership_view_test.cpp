// runtime/cluster/membership.h: a node recognises its own address however it is written,
// and every node of one configured membership computes the same view hash.
#include <catch2/catch.hpp>

#include "runtime/cluster/membership.h"

using namespace ami::cluster;

namespace {
const std::vector<std::string> kLocal = {"127.0.0.1", "::1", "10.1.2.3"};
}

TEST_CASE("addresses split with and without IPv6 brackets", "[membership]") {
  std::string host;
  uint16_t port = 0;
  REQUIRE(SplitAddress("127.0.0.1:7101", &host, &port));
  CHECK(host == "127.0.0.1");
  CHECK(port == 7101);
  REQUIRE(SplitAddress("[::1]:7102", &host, &port));
  CHECK(host == "::1");
  CHECK(port == 7102);
  CHECK_FALSE(SplitAddress("::1:7102", &host, &port));
  CHECK_FALSE(SplitAddress("host:", &host, &port));
  CHECK_FALSE(SplitAddress("host:70000", &host, &port));
}

TEST_CASE("a node recognises its own address however it is written", "[membership]") {
  // The listen address as a name, the peers by number (and the other way round).
  auto v = MakeView("localhost:7101", {"127.0.0.1:7101", "127.0.0.1:7102", "127.0.0.1:7103"}, 2000, 200, kLocal);
  CHECK(v.dropped == std::vector<std::string>{"127.0.0.1:7101"});
  CHECK(v.peers == std::vector<std::string>{"127.0.0.1:7102", "127.0.0.1:7103"});
  CHECK(v.members.size() == 3);

  auto v6 = MakeView("[::1]:7101", {"[::1]:7101", "[::1]:7102"}, 2000, 200, kLocal);
  CHECK(v6.dropped == std::vector<std::string>{"[::1]:7101"});
  CHECK(v6.peers == std::vector<std::string>{"[::1]:7102"});

  // A wildcard listen address: any local address on the listen port is this node.
  auto any = MakeView("0.0.0.0:7101", {"10.1.2.3:7101", "10.9.9.9:7101", "127.0.0.1:7102"}, 2000, 200, kLocal);
  CHECK(any.dropped == std::vector<std::string>{"10.1.2.3:7101"});
  CHECK(any.peers == std::vector<std::string>{"10.9.9.9:7101", "127.0.0.1:7102"});
  CHECK(any.notes.empty());
  // … and without its own entry it cannot know how others name it: it says so.
  auto lonely = MakeView("0.0.0.0:7101", {"10.9.9.9:7101"}, 2000, 200, kLocal);
  REQUIRE(lonely.notes.size() == 1);
  CHECK(lonely.notes[0].find("wildcard") != std::string::npos);
}

TEST_CASE("every node of one membership computes the same view hash", "[membership]") {
  const std::vector<std::string> all = {"127.0.0.1:7101", "127.0.0.1:7102", "127.0.0.1:7103"};
  auto n1 = MakeView("127.0.0.1:7101", {"127.0.0.1:7102", "127.0.0.1:7103"}, 2000, 200, kLocal);
  auto n2 = MakeView("localhost:7102", all, 2000, 200, kLocal);       // lists itself, named differently
  auto n3 = MakeView("0.0.0.0:7103", {"127.0.0.1:7103", "127.0.0.1:7101", "localhost:7102"}, 2000, 200, kLocal);
  CHECK(n1.hash == n2.hash);
  CHECK(n1.hash == n3.hash);
  CHECK(n1.members == std::vector<std::string>{"127.0.0.1:7101", "127.0.0.1:7102", "127.0.0.1:7103"});

  // A different peer list, ttl or margin is a different view.
  CHECK(MakeView("127.0.0.1:7101", {"127.0.0.1:7102"}, 2000, 200, kLocal).hash != n1.hash);
  CHECK(MakeView("127.0.0.1:7101", {"127.0.0.1:7102", "127.0.0.1:7104"}, 2000, 200, kLocal).hash != n1.hash);
  CHECK(MakeView("127.0.0.1:7101", {"127.0.0.1:7102", "127.0.0.1:7103"}, 3000, 200, kLocal).hash != n1.hash);
  CHECK(MakeView("127.0.0.1:7101", {"127.0.0.1:7102", "127.0.0.1:7103"}, 2000, 300, kLocal).hash != n1.hash);
}
