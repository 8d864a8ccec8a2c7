// The overlay policy, first rule by rule, then in a small deterministic
// simulator: N policies, links applied instantly, loads known through the
// overlay as MEMBER floods would carry them. The simulator checks that the
// rules of the self-healing overlay hold after start, crashes, partitions and
// churn, for several cluster sizes and seeds.

#include "actors/proto/overlay_policy.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>

namespace lanmesh {
namespace {

using namespace std::chrono_literals;
using clock = overlay_policy::clock;

overlay_params small_params(std::uint64_t seed = 1) {
  overlay_params p;
  p.target_degree = 3;
  p.max_degree = 8;
  p.reach_timeout = 3000ms;
  p.ask_interval = 1000ms;
  p.seed = seed;
  return p;
}

std::string addr_of(node_id id) {
  return "127.0.0.1:" + std::to_string(50000 + id);
}

TEST(overlay_policy, lone_node_does_nothing) {
  overlay_policy p(1, small_params());
  EXPECT_TRUE(p.decide({}, {}, clock::now()).empty());
}

TEST(overlay_policy, newcomer_dials_least_loaded_and_never_a_full_node) {
  overlay_policy p(1, small_params());
  auto now = clock::now();
  p.heard(2, addr_of(2), 3, 3, 2, false, now);
  p.heard(3, addr_of(3), 1, 0, 7, false, now);
  p.heard(4, addr_of(4), 0, 0, 0, false, now); // full
  auto a = p.decide({}, {}, now);
  ASSERT_EQ(a.size(), 1u);
  auto* d = std::get_if<overlay_policy::dial>(&a[0]);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->id, 3u);
  EXPECT_EQ(d->addr, addr_of(3));
}

TEST(overlay_policy, prefers_a_node_that_lacks_inbound_links) {
  overlay_policy p(1, small_params());
  auto now = clock::now();
  p.heard(2, addr_of(2), 0, 0, 8, false, now);
  p.heard(3, addr_of(3), 0, 2, 6, false, now); // needs inbound links
  auto a = p.decide({}, {}, now);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(std::get<overlay_policy::dial>(a[0]).id, 3u);
}

TEST(overlay_policy, a_node_with_more_out_than_in_does_not_dial_but_invites) {
  overlay_policy p(1, small_params());
  auto now = clock::now();
  p.heard(2, addr_of(2), 1, 0, 7, true, now);
  p.heard(3, addr_of(3), 2, 0, 6, true, now); // spare inbound links: may dial
  p.heard(4, addr_of(4), 0, 2, 6, true, now); // may not dial
  std::vector<link_view> links{{2, direction::out}};
  auto a = p.decide(links, {}, now);
  ASSERT_EQ(a.size(), 1u);
  auto* inv = std::get_if<overlay_policy::invite>(&a[0]);
  ASSERT_NE(inv, nullptr);
  EXPECT_EQ(inv->target, 3u);
  // Asked once per interval, not at every tick.
  EXPECT_TRUE(p.decide(links, {}, now + 10ms).empty());
}

TEST(overlay_policy, reverses_a_link_when_nobody_can_dial) {
  // B->A<-C: C has one outbound link and no one unlinked may dial it.
  overlay_policy c(3, small_params());
  auto now = clock::now();
  c.heard(1, addr_of(1), 2, 0, 6, true, now); // A: two inbound
  c.heard(2, addr_of(2), 0, 1, 7, true, now); // B: one outbound, may not dial
  std::vector<link_view> links{{1, direction::out}};
  auto a = c.decide(links, {}, now);
  ASSERT_EQ(a.size(), 1u);
  auto* r = std::get_if<overlay_policy::reverse>(&a[0]);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->peer, 1u);
  // A accepts when out <= in + 1 still holds afterwards: with two inbound
  // links (out 1, in 1 after), with one (out 1, in 0 after); not when it
  // already dials as much as it is dialed, nor for a link it dialed itself.
  overlay_policy pa(1, small_params());
  EXPECT_TRUE(pa.accept_reverse({{2, direction::in}, {3, direction::in}}, 3));
  EXPECT_TRUE(pa.accept_reverse({{3, direction::in}}, 3));
  EXPECT_FALSE(pa.accept_reverse({{2, direction::out}, {3, direction::in}}, 3));
  EXPECT_FALSE(pa.accept_reverse({{2, direction::in}, {3, direction::out}}, 3));
}

TEST(overlay_policy, invite_accepted_only_when_allowed_to_dial) {
  overlay_policy p(1, small_params());
  EXPECT_TRUE(p.accept_invite({{2, direction::in}}, 9));
  EXPECT_TRUE(p.accept_invite({{2, direction::in}, {3, direction::out}}, 9));
  EXPECT_FALSE(p.accept_invite({{2, direction::out}}, 9));
  EXPECT_FALSE(p.accept_invite({{9, direction::in}}, 9)); // linked already
}

TEST(overlay_policy, drops_an_outbound_link_when_out_exceeds_in_plus_one) {
  overlay_policy p(1, small_params());
  auto now = clock::now();
  for (node_id id = 2; id <= 6; ++id)
    p.heard(id, addr_of(id), 2, 2, 4, true, now);
  p.heard(5, addr_of(5), 4, 2, 2, true, now); // best connected
  std::vector<link_view> links{{2, direction::out},
                               {3, direction::out},
                               {4, direction::out},
                               {5, direction::out},
                               {6, direction::in}};
  // Also needs an inbound... it has one; out 4 > in 1 + 1 and 5 > 3 links.
  auto a = p.decide(links, {}, now + 2s);
  ASSERT_EQ(a.size(), 1u);
  auto* d = std::get_if<overlay_policy::drop>(&a[0]);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->peer, 5u);
}

TEST(overlay_policy, out_over_in_plus_one_asks_for_inbound_even_when_no_link_can_go) {
  // in 1, out 4, and every outbound peer has only two links: none can be
  // dropped without taking a fallback away, so the node asks for inbound.
  overlay_policy p(1, small_params());
  auto now = clock::now();
  for (node_id id = 2; id <= 5; ++id)
    p.heard(id, addr_of(id), 1, 1, 6, true, now);
  p.heard(6, addr_of(6), 0, 2, 6, true, now);
  p.heard(7, addr_of(7), 2, 0, 6, true, now); // unlinked, may dial
  std::vector<link_view> links{{2, direction::out}, {3, direction::out}, {4, direction::out},
                               {5, direction::out}, {6, direction::in}};
  auto a = p.decide(links, {}, now);
  ASSERT_EQ(a.size(), 1u);
  auto* inv = std::get_if<overlay_policy::invite>(&a[0]);
  ASSERT_NE(inv, nullptr);
  EXPECT_EQ(inv->target, 7u);
}

TEST(overlay_policy, lost_member_is_redialed_by_the_smallest_reachable_id_only) {
  auto now = clock::now();
  auto make = [&](node_id self) {
    overlay_policy p(self, small_params());
    p.heard(2, addr_of(2), 1, 1, 6, true, now);
    p.heard(3, addr_of(3), 1, 1, 6, true, now);
    p.heard(9, addr_of(9), 1, 1, 6, true, now - 10s); // on the other side
    p.heard(2, addr_of(2), 1, 1, 6, true, now);       // refresh after the split
    p.heard(3, addr_of(3), 1, 1, 6, true, now);
    return p;
  };
  auto p2 = make(2);
  p2.heard(3, addr_of(3), 1, 1, 6, true, now);
  std::vector<link_view> links{{3, direction::in}, {3, direction::out}};
  auto a = p2.decide({{3, direction::in}}, {}, now);
  ASSERT_FALSE(a.empty());
  auto* d = std::get_if<overlay_policy::dial>(&a[0]);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->id, 9u);
  // Node 3 sees node 2 in reach with a smaller id: it leaves the repair to 2.
  overlay_policy p3(3, small_params());
  p3.heard(2, addr_of(2), 1, 1, 6, true, now);
  p3.heard(9, addr_of(9), 1, 1, 6, true, now - 10s);
  for (auto& act : p3.decide({{2, direction::out}}, {}, now))
    if (auto* x = std::get_if<overlay_policy::dial>(&act)) {
      EXPECT_NE(x->id, 9u);
    }
}

TEST(overlay_policy, a_peer_that_does_not_serve_is_nobodys_fallback) {
  overlay_policy p(1, small_params());
  auto now = clock::now();
  p.heard(2, "", 0, 1, 7, true, now); // dialed us; listens nowhere
  p.heard(3, addr_of(3), 0, 0, 8, true, now);
  p.heard(4, addr_of(4), 0, 0, 8, true, now);
  // With the non-serving peer alone, the node still wants (and dials) real links.
  auto a = p.decide({{2, direction::in}}, {}, now);
  ASSERT_EQ(a.size(), 1u);
  auto* d = std::get_if<overlay_policy::dial>(&a[0]);
  ASSERT_NE(d, nullptr);
  EXPECT_NE(d->id, 2u);
  // And it is never a dial or redirect target.
  for (auto& m : p.redirect_targets(9, 8))
    EXPECT_NE(m.id, 2u);
}

TEST(overlay_policy, failed_dials_back_off) {
  overlay_policy p(1, small_params());
  auto now = clock::now();
  p.heard(2, addr_of(2), 0, 0, 8, false, now);
  ASSERT_EQ(p.decide({}, {}, now).size(), 1u);
  p.dial_failed(2, now);
  EXPECT_TRUE(p.decide({}, {}, now + 100ms).empty());
  p.heard(2, addr_of(2), 0, 0, 8, false, now + 300ms);
  EXPECT_EQ(p.decide({}, {}, now + 300ms).size(), 1u);
}

TEST(overlay_policy, redirect_targets_least_loaded_serving_with_capacity) {
  overlay_policy p(1, small_params());
  auto now = clock::now();
  p.heard(2, addr_of(2), 4, 4, 0, true, now); // full
  p.heard(3, addr_of(3), 2, 1, 5, true, now);
  p.heard(4, addr_of(4), 1, 0, 7, true, now);
  p.heard(5, "", 0, 1, 7, true, now); // does not serve
  p.heard(6, addr_of(6), 0, 0, 8, true, now);
  auto t = p.redirect_targets(6, 4);
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0].id, 4u);
  EXPECT_EQ(t[1].id, 3u);
}

TEST(overlay_policy, member_table_is_bounded_and_forgets) {
  auto params = small_params();
  params.max_members = 5;
  params.forget_after = 10s;
  overlay_policy p(1, params);
  auto now = clock::now();
  for (node_id id = 2; id < 20; ++id)
    p.heard(id, addr_of(id), 0, 0, 8, false, now + std::chrono::milliseconds(id));
  EXPECT_EQ(p.members().size(), 5u);
  EXPECT_NE(p.find(19), nullptr);
  p.decide({}, {}, now + 11s);
  EXPECT_TRUE(p.members().empty());
}

// ---------------------------------------------------------------------------
// Simulator

class sim {
public:
  sim(std::size_t n, std::uint64_t seed) : rng_(seed) {
    for (node_id id = 1; id <= n; ++id)
      add(id, seed);
  }

  void add(node_id id, std::uint64_t seed) {
    nodes_.emplace(id, overlay_policy(id, small_params(seed * 1000 + id)));
    alive_.insert(id);
    // Discovery: a newcomer hears every live node, and they hear it.
    for (auto other : alive_) {
      if (other == id)
        continue;
      hear(id, other, false);
      hear(other, id, false);
    }
  }

  void kill(node_id id) {
    alive_.erase(id);
    nodes_.erase(id);
    for (auto it = edges_.begin(); it != edges_.end();)
      it = (it->first.first == id || it->first.second == id) ? edges_.erase(it)
                                                             : std::next(it);
  }

  /// Cuts every link between the groups and blocks dials across.
  void split(const std::set<node_id>& group) {
    group_ = group;
    for (auto it = edges_.begin(); it != edges_.end();) {
      bool a = group.count(it->first.first), b = group.count(it->first.second);
      it = a != b ? edges_.erase(it) : std::next(it);
    }
  }
  void heal() { group_.clear(); }

  /// One round: every node decides once, in random order; then floods.
  void round() {
    std::vector<node_id> order(alive_.begin(), alive_.end());
    std::shuffle(order.begin(), order.end(), rng_);
    for (auto id : order)
      if (alive_.count(id))
        for (auto& a : nodes_.at(id).decide(links(id), {}, now_))
          apply(id, a);
    now_ += 300ms;
    flood();
  }

  bool stable_after(int rounds) {
    for (int i = 0; i < rounds; ++i) {
      round();
      if (violations().empty() && connected())
        return true;
    }
    return false;
  }

  std::vector<std::string> violations() const {
    std::vector<std::string> out;
    for (auto id : alive_) {
      std::size_t in = 0, outn = 0;
      for (auto& l : links(id))
        (l.dir == direction::in ? in : outn) += 1;
      auto d = in + outn;
      auto tag = "node " + std::to_string(id) + " in " + std::to_string(in) + " out " +
                 std::to_string(outn);
      if (alive_.size() >= 3 && d < 2)
        out.push_back(tag + ": no fallback link");
      if (d > 8)
        out.push_back(tag + ": over max degree");
      if (d >= 2 && in == 0)
        out.push_back(tag + ": no inbound link");
      if (d >= 2 && outn > in + 1)
        out.push_back(tag + ": out > in + 1");
    }
    return out;
  }

  bool connected() const {
    if (alive_.empty())
      return true;
    std::set<node_id> seen;
    std::vector<node_id> todo{*alive_.begin()};
    while (!todo.empty()) {
      auto x = todo.back();
      todo.pop_back();
      if (!seen.insert(x).second)
        continue;
      for (auto& l : links(x))
        todo.push_back(l.peer);
    }
    return seen.size() == alive_.size();
  }

  std::string dump() const {
    std::string s;
    for (auto& [e, dialer] : edges_)
      s += std::to_string(dialer) + "->" +
           std::to_string(dialer == e.first ? e.second : e.first) + " ";
    return s;
  }

private:
  using edge = std::pair<node_id, node_id>; // (min, max)
  static edge key(node_id a, node_id b) { return {std::min(a, b), std::max(a, b)}; }

  std::vector<link_view> links(node_id id) const {
    std::vector<link_view> out;
    for (auto& [e, dialer] : edges_) {
      if (e.first != id && e.second != id)
        continue;
      node_id peer = e.first == id ? e.second : e.first;
      out.push_back({peer, dialer == id ? direction::out : direction::in});
    }
    return out;
  }

  bool blocked(node_id a, node_id b) const {
    return !group_.empty() && group_.count(a) != group_.count(b);
  }

  bool connect(node_id dialer, node_id to) {
    if (!alive_.count(to) || blocked(dialer, to) || edges_.count(key(dialer, to)) ||
        links(to).size() >= 8 || links(dialer).size() >= 8)
      return false;
    edges_[key(dialer, to)] = dialer;
    return true;
  }

  void apply(node_id self, const overlay_policy::action& a) {
    auto& me = nodes_.at(self);
    if (auto* d = std::get_if<overlay_policy::dial>(&a)) {
      if (connect(self, d->id))
        me.dial_succeeded(d->id);
      else
        me.dial_failed(d->id, now_);
    } else if (auto* inv = std::get_if<overlay_policy::invite>(&a)) {
      if (alive_.count(inv->target) && !blocked(self, inv->target) &&
          nodes_.at(inv->target).accept_invite(links(inv->target), self))
        connect(inv->target, self);
    } else if (auto* r = std::get_if<overlay_policy::reverse>(&a)) {
      auto it = edges_.find(key(self, r->peer));
      if (it != edges_.end() && it->second == self &&
          nodes_.at(r->peer).accept_reverse(links(r->peer), self))
        it->second = r->peer;
    } else if (auto* dr = std::get_if<overlay_policy::drop>(&a)) {
      edges_.erase(key(self, dr->peer));
    }
  }

  void hear(node_id listener, node_id about, bool via_overlay) {
    std::size_t in = 0, out = 0;
    for (auto& l : links(about))
      (l.dir == direction::in ? in : out) += 1;
    auto cap = static_cast<std::uint16_t>(8 - std::min<std::size_t>(8, in + out));
    nodes_.at(listener).heard(about, addr_of(about), static_cast<std::uint16_t>(in),
                              static_cast<std::uint16_t>(out), cap, via_overlay, now_);
  }

  // MEMBER floods: every node hears every node of its connected component.
  void flood() {
    for (auto a : alive_) {
      std::set<node_id> seen;
      std::vector<node_id> todo{a};
      while (!todo.empty()) {
        auto x = todo.back();
        todo.pop_back();
        if (!seen.insert(x).second)
          continue;
        for (auto& l : links(x))
          todo.push_back(l.peer);
      }
      for (auto b : seen)
        if (b != a)
          hear(a, b, true);
    }
  }

  std::mt19937_64 rng_;
  clock::time_point now_ = clock::now();
  std::map<node_id, overlay_policy> nodes_;
  std::set<node_id> alive_;
  std::map<edge, node_id> edges_; // -> dialer
  std::set<node_id> group_;
};

class overlay_sim
    : public ::testing::TestWithParam<std::tuple<std::size_t, std::uint64_t>> {};

TEST_P(overlay_sim, start_together_then_crash_then_partition_then_churn) {
  auto [n, seed] = GetParam();
  sim s(n, seed);
  ASSERT_TRUE(s.stable_after(200))
      << "start: " << s.dump() << " " << s.violations().size();

  s.kill(2);
  ASSERT_TRUE(s.stable_after(200)) << "after one crash: " << s.dump();
  if (n >= 8) {
    s.kill(4);
    s.kill(5);
    s.kill(7);
    ASSERT_TRUE(s.stable_after(200)) << "after three crashes: " << s.dump();
  }

  std::set<node_id> half;
  for (node_id id = 1; id <= n; id += 2)
    half.insert(id);
  s.split(half);
  for (int i = 0; i < 30; ++i)
    s.round(); // each side heals on its own
  s.heal();
  ASSERT_TRUE(s.stable_after(200)) << "after the partition: " << s.dump();

  for (node_id id = 100; id < 104; ++id) {
    s.add(id, seed);
    ASSERT_TRUE(s.stable_after(200)) << "after join of " << id << ": " << s.dump();
  }
  ASSERT_TRUE(s.violations().empty());
}

INSTANTIATE_TEST_SUITE_P(sizes_and_seeds, overlay_sim,
                         ::testing::Combine(::testing::Values(3, 4, 5, 10, 20),
                                            ::testing::Values(1, 2, 3, 4, 5)));

} // namespace
} // namespace lanmesh
