// The cluster actor's pending lease wishes (runtime/cluster/lease_wish.h): the answer of a
// leader-record read started by a want applies only while that want is still the
// latest wish for its sid.
#include <catch2/catch.hpp>

#include "runtime/cluster/lease_wish.h"

using ami::cluster::LeaseWishes;

TEST_CASE("lease wishes: a lone want applies once its read answers", "[lease][wish]") {
  LeaseWishes wishes;
  const uint64_t t = wishes.Record("w1", true);
  CHECK(wishes.IsLatestWant("w1", t));
  wishes.Settle("w1", t);
  CHECK(wishes.pending() == 0);
  CHECK_FALSE(wishes.IsLatestWant("w1", t));  // applied once, never twice
}

TEST_CASE("lease wishes: want then not-want before the read answers ends not wanting", "[lease][wish]") {
  LeaseWishes wishes;
  const uint64_t want = wishes.Record("w1", true);
  wishes.Record("w1", false);
  CHECK_FALSE(wishes.IsLatestWant("w1", want));  // the stale answer is dropped
  CHECK(wishes.pending() == 0);
}

TEST_CASE("lease wishes: want, not-want, want applies only the last want", "[lease][wish]") {
  LeaseWishes wishes;
  const uint64_t first = wishes.Record("w1", true);
  wishes.Record("w1", false);
  const uint64_t last = wishes.Record("w1", true);
  // Answers may come in either order; only the last want's answer applies.
  CHECK_FALSE(wishes.IsLatestWant("w1", first));
  CHECK(wishes.IsLatestWant("w1", last));
  wishes.Settle("w1", first);  // settling a stale ticket keeps the newer one pending
  CHECK(wishes.IsLatestWant("w1", last));
  wishes.Settle("w1", last);
  CHECK(wishes.pending() == 0);
}

TEST_CASE("lease wishes: sids are independent and tickets are never reused", "[lease][wish]") {
  LeaseWishes wishes;
  const uint64_t a = wishes.Record("a", true);
  const uint64_t b = wishes.Record("b", true);
  wishes.Record("a", false);
  CHECK_FALSE(wishes.IsLatestWant("a", a));
  CHECK(wishes.IsLatestWant("b", b));
  // After a settles and wants again, the old ticket still does not match.
  const uint64_t a2 = wishes.Record("a", true);
  CHECK(a2 != a);
  CHECK_FALSE(wishes.IsLatestWant("a", a));
  CHECK(wishes.IsLatestWant("a", a2));
}
