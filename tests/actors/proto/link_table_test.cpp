// Tests of the per-node link table (actors/proto/link_table.hpp), including the
// duplicate rule "the link dialed by the smaller node id wins" simulated on
// both ends of a simultaneous mutual dial.
#include "actors/proto/link_table.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <deque>
#include <set>
#include <string>

namespace lanmesh {
namespace {

using verdict = link_table::verdict;

TEST(LinkTable, FirstLinkAccepted) {
  link_table t(5);
  EXPECT_FALSE(t.linked(9));
  EXPECT_EQ(t.find(9), nullptr);
  auto d = t.offer(100, 9, direction::out);
  EXPECT_EQ(d.what, verdict::accept);
  EXPECT_FALSE(d.retired.has_value());
  EXPECT_TRUE(t.linked(9));
  ASSERT_NE(t.find(9), nullptr);
  EXPECT_EQ(t.find(9)->conn, 100u);
  EXPECT_EQ(t.find(9)->peer, 9u);
  EXPECT_EQ(t.find(9)->dir, direction::out);
  EXPECT_EQ(t.size(), 1u);
}

TEST(LinkTable, FirstLinkAcceptedInEitherDirectionAndForEitherIdOrder) {
  link_table t(50);
  EXPECT_EQ(t.offer(1, 10, direction::in).what, verdict::accept);  // smaller peer, in
  EXPECT_EQ(t.offer(2, 90, direction::in).what, verdict::accept);  // larger peer, in
  EXPECT_EQ(t.offer(3, 20, direction::out).what, verdict::accept); // smaller peer, out
  EXPECT_EQ(t.offer(4, 80, direction::out).what, verdict::accept); // larger peer, out
  EXPECT_EQ(t.size(), 4u);
}

TEST(LinkTable, CountsInAndOut) {
  link_table t(1);
  EXPECT_EQ(t.count(direction::in), 0u);
  EXPECT_EQ(t.count(direction::out), 0u);
  t.offer(10, 2, direction::out);
  t.offer(11, 3, direction::in);
  t.offer(12, 4, direction::in);
  EXPECT_EQ(t.count(direction::out), 1u);
  EXPECT_EQ(t.count(direction::in), 2u);
  EXPECT_EQ(t.size(), 3u);
  EXPECT_EQ(t.links().size(), 3u);
  EXPECT_EQ(t.links().at(3).conn, 11u);
  t.remove(11);
  EXPECT_EQ(t.count(direction::in), 1u);
  EXPECT_EQ(t.count(direction::out), 1u);
}

TEST(LinkTable, RemoveReturnsEntryOnlyWhenActive) {
  link_table t(1);
  t.offer(10, 2, direction::out);
  EXPECT_FALSE(t.remove(999).has_value()); // unknown conn
  auto e = t.remove(10);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->conn, 10u);
  EXPECT_EQ(e->peer, 2u);
  EXPECT_EQ(e->dir, direction::out);
  EXPECT_FALSE(t.linked(2));
  EXPECT_EQ(t.size(), 0u);
  EXPECT_FALSE(t.remove(10).has_value()); // twice
}

TEST(LinkTable, RemoveOfRefusedConnDoesNotTouchTheActiveLink) {
  link_table t(5);
  t.offer(1, 9, direction::out);         // dialed by 5
  auto d = t.offer(2, 9, direction::in); // dialed by 9: loses
  EXPECT_EQ(d.what, verdict::refuse);
  EXPECT_FALSE(t.remove(2).has_value());
  ASSERT_TRUE(t.linked(9));
  EXPECT_EQ(t.find(9)->conn, 1u);
}

TEST(LinkTable, RemoveOfRetiredConnDoesNotTouchTheActiveLink) {
  link_table t(5);
  t.offer(1, 9, direction::in);           // dialed by 9
  auto d = t.offer(2, 9, direction::out); // dialed by 5: wins
  EXPECT_EQ(d.what, verdict::replace);
  ASSERT_TRUE(d.retired.has_value());
  EXPECT_EQ(d.retired->conn, 1u);
  EXPECT_EQ(d.retired->dir, direction::in);
  EXPECT_EQ(d.retired->peer, 9u);
  EXPECT_FALSE(t.remove(1).has_value());
  ASSERT_TRUE(t.linked(9));
  EXPECT_EQ(t.find(9)->conn, 2u);
  EXPECT_EQ(t.find(9)->dir, direction::out);
  EXPECT_EQ(t.size(), 1u);
  EXPECT_EQ(t.count(direction::in), 0u);
  EXPECT_EQ(t.count(direction::out), 1u);
}

TEST(LinkTable, SameDialerTwiceSecondIsRefused) {
  // We dialed the peer twice.
  link_table a(5);
  EXPECT_EQ(a.offer(1, 9, direction::out).what, verdict::accept);
  auto d = a.offer(2, 9, direction::out);
  EXPECT_EQ(d.what, verdict::refuse);
  EXPECT_FALSE(d.retired.has_value());
  EXPECT_EQ(a.find(9)->conn, 1u);
  // The peer dialed us twice (peer larger and smaller than us).
  link_table b(9);
  EXPECT_EQ(b.offer(1, 5, direction::in).what, verdict::accept);
  EXPECT_EQ(b.offer(2, 5, direction::in).what, verdict::refuse);
  EXPECT_EQ(b.find(5)->conn, 1u);
  link_table c(5);
  EXPECT_EQ(c.offer(1, 9, direction::in).what, verdict::accept);
  EXPECT_EQ(c.offer(2, 9, direction::in).what, verdict::refuse);
  EXPECT_EQ(c.find(9)->conn, 1u);
  EXPECT_EQ(c.size(), 1u);
}

TEST(LinkTable, DuplicateOfOnePeerLeavesOthersAlone) {
  link_table t(5);
  t.offer(1, 9, direction::in);
  t.offer(2, 3, direction::in);
  t.offer(3, 7, direction::out);
  auto d = t.offer(4, 9, direction::out);
  EXPECT_EQ(d.what, verdict::replace);
  EXPECT_EQ(t.size(), 3u);
  EXPECT_EQ(t.find(3)->conn, 2u);
  EXPECT_EQ(t.find(7)->conn, 3u);
  EXPECT_EQ(t.find(9)->conn, 4u);
}

// --- Simultaneous mutual dial ------------------------------------------------
//
// Node A (id 5) dials B while B (id 9) dials A. Two TCP connections exist:
//   X, dialed by A: on A it is `out`, on B it is `in`;
//   Y, dialed by B: on A it is `in`,  on B it is `out`.
// Each node learns of each connection when its handshake completes there. The
// rule must leave X (dialed by the smaller id) on both ends.

constexpr node_id id_a = 5, id_b = 9;
constexpr conn_id conn_x = 1, conn_y = 2; // the same number names the same TCP link

struct completion {
  int side; // 0: A, 1: B
  conn_id conn;
};

// The four handshake completions: A_X, A_Y, B_X, B_Y.
const std::array<completion, 4> all_completions = {
    completion{0, conn_x}, completion{0, conn_y}, completion{1, conn_x},
    completion{1, conn_y}};

direction dir_of(int side, conn_id conn) {
  bool dialed_by_a = conn == conn_x;
  bool this_side_is_a = side == 0;
  return dialed_by_a == this_side_is_a ? direction::out : direction::in;
}

std::string order_name(const std::array<int, 4>& order) {
  std::string s;
  for (int i : order) {
    auto& c = all_completions[static_cast<std::size_t>(i)];
    s += std::string(c.side == 0 ? "A" : "B") + (c.conn == conn_x ? "x " : "y ");
  }
  return s;
}

void expect_survivor_is_x(const link_table& a, const link_table& b,
                          const std::string& what) {
  ASSERT_TRUE(a.linked(id_b)) << what;
  ASSERT_TRUE(b.linked(id_a)) << what;
  EXPECT_EQ(a.find(id_b)->conn, conn_x) << what;
  EXPECT_EQ(b.find(id_a)->conn, conn_x) << what;
  EXPECT_EQ(a.find(id_b)->dir, direction::out) << what;
  EXPECT_EQ(b.find(id_a)->dir, direction::in) << what;
  EXPECT_EQ(a.size(), 1u) << what;
  EXPECT_EQ(b.size(), 1u) << what;
}

TEST(LinkTableMutualDial, BothSidesKeepTheLinkDialedBySmallerIdInEveryOrder) {
  // Every interleaving of the four completions; the two tables are told only
  // their own facts. Closing a duplicate reaches the other side afterwards.
  std::array<int, 4> order = {0, 1, 2, 3};
  int orders = 0;
  do {
    ++orders;
    auto name = order_name(order);
    std::array<link_table, 2> tables = {link_table(id_a), link_table(id_b)};
    std::set<conn_id> closed;
    for (int i : order) {
      auto& c = all_completions[static_cast<std::size_t>(i)];
      auto peer = c.side == 0 ? id_b : id_a;
      auto d = tables[static_cast<std::size_t>(c.side)].offer(c.conn, peer,
                                                              dir_of(c.side, c.conn));
      if (d.what == verdict::refuse)
        closed.insert(c.conn);
      if (d.what == verdict::replace) {
        ASSERT_TRUE(d.retired.has_value()) << name;
        closed.insert(d.retired->conn);
      }
    }
    EXPECT_EQ(closed, std::set<conn_id>{conn_y}) << name;
    expect_survivor_is_x(tables[0], tables[1], name);
    // The closes now reach both ends: the loser was not active anywhere.
    for (auto conn : closed) {
      EXPECT_FALSE(tables[0].remove(conn).has_value()) << name;
      EXPECT_FALSE(tables[1].remove(conn).has_value()) << name;
    }
    expect_survivor_is_x(tables[0], tables[1], name);
  } while (std::next_permutation(order.begin(), order.end()));
  EXPECT_EQ(orders, 24);
}

TEST(LinkTableMutualDial, ClosesDeliveredAtOnceStillConverge) {
  // As above, but a duplicate closed by one side is closed on the other side
  // right away: its remove() runs, and its handshake, if still pending there,
  // never completes.
  std::array<int, 4> order = {0, 1, 2, 3};
  do {
    auto name = order_name(order);
    std::array<link_table, 2> tables = {link_table(id_a), link_table(id_b)};
    std::set<conn_id> closed;
    auto close = [&](int by_side, conn_id conn) {
      closed.insert(conn);
      tables[static_cast<std::size_t>(1 - by_side)].remove(conn);
      tables[static_cast<std::size_t>(by_side)].remove(conn);
    };
    for (int i : order) {
      auto& c = all_completions[static_cast<std::size_t>(i)];
      if (closed.count(c.conn))
        continue; // the link died before this side finished its handshake
      auto peer = c.side == 0 ? id_b : id_a;
      auto d = tables[static_cast<std::size_t>(c.side)].offer(c.conn, peer,
                                                              dir_of(c.side, c.conn));
      if (d.what == verdict::refuse)
        close(c.side, c.conn);
      if (d.what == verdict::replace)
        close(c.side, d.retired->conn);
    }
    EXPECT_EQ(closed.count(conn_x), 0u) << name;
    expect_survivor_is_x(tables[0], tables[1], name);
  } while (std::next_permutation(order.begin(), order.end()));
}

TEST(LinkTableMutualDial, SameRuleWhenIdsAreSwapped) {
  // If the node with the larger id is "self", the rule is computed alike: the
  // link dialed by the other (smaller) node wins.
  link_table b(id_b);
  EXPECT_EQ(b.offer(conn_y, id_a, direction::out).what, verdict::accept);
  auto d = b.offer(conn_x, id_a, direction::in);
  EXPECT_EQ(d.what, verdict::replace);
  ASSERT_TRUE(d.retired.has_value());
  EXPECT_EQ(d.retired->conn, conn_y);
  EXPECT_EQ(b.find(id_a)->conn, conn_x);

  link_table b2(id_b);
  EXPECT_EQ(b2.offer(conn_x, id_a, direction::in).what, verdict::accept);
  EXPECT_EQ(b2.offer(conn_y, id_a, direction::out).what, verdict::refuse);
  EXPECT_EQ(b2.find(id_a)->conn, conn_x);
}

TEST(LinkTable, DirectionNames) {
  EXPECT_STREQ(to_string(direction::in), "in");
  EXPECT_STREQ(to_string(direction::out), "out");
}

} // namespace
} // namespace lanmesh
