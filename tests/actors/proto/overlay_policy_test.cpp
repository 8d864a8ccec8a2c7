// The overlay policy, first rule by rule, then in a small deterministic
// simulator: N policies, links applied instantly, each node's member table
// holding the live nodes it can reach (what membership gossip gives it),
// with their loads. The simulator checks that the rules of the self-healing
// overlay hold after start, crashes, partitions and churn, for several
// cluster sizes and seeds, and that once settled they keep holding with no
// link changing for many rounds (no oscillation).

#include "actors/proto/overlay_policy.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>

namespace lanmesh {
namespace {

using namespace std::chrono_literals;
using clock = overlay_policy::clock;
using members_t = overlay_policy::members_t;

overlay_params small_params(std::uint64_t seed = 1) {
  overlay_params p;
  p.target_degree = 3;
  p.max_degree = 8;
  p.ask_interval = 1000ms;
  p.seed = seed;
  return p;
}

std::uint16_t port_of(node_id id) {
  return static_cast<std::uint16_t>(50000 + id);
}

std::string addr_of(node_id id) {
  return "127.0.0.1:" + std::to_string(port_of(id));
}

member make_member(node_id id, std::uint16_t in, std::uint16_t out, std::uint16_t cap,
                   bool serves = true, member_state state = member_state::alive) {
  member m;
  m.rec.node = id;
  m.rec.incarnation = 1;
  m.rec.state = state;
  m.rec.ip = serves ? 0x7f000001 : 0;
  m.rec.port = serves ? port_of(id) : 0;
  m.rec.links_in = in;
  m.rec.links_out = out;
  m.rec.capacity = cap;
  return m;
}

void put(members_t& ms, node_id id, std::uint16_t in, std::uint16_t out,
         std::uint16_t cap, bool serves = true) {
  ms[id] = make_member(id, in, out, cap, serves);
}

std::vector<overlay_policy::action> decide(overlay_policy& p,
                                           const std::vector<link_view>& links,
                                           const members_t& ms, clock::time_point now) {
  return p.decide(links, {}, {}, ms, now);
}

TEST(overlay_policy, lone_node_does_nothing) {
  overlay_policy p(1, small_params());
  EXPECT_TRUE(decide(p, {}, {}, clock::now()).empty());
}

TEST(overlay_policy, newcomer_dials_least_loaded_and_never_a_full_node) {
  overlay_policy p(1, small_params());
  auto now = clock::now();
  members_t ms;
  put(ms, 2, 3, 3, 2);
  put(ms, 3, 1, 0, 7);
  put(ms, 4, 0, 0, 0); // full
  auto a = decide(p, {}, ms, now);
  ASSERT_EQ(a.size(), 1u);
  auto* d = std::get_if<overlay_policy::dial>(&a[0]);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->id, 3u);
  EXPECT_EQ(d->addr, addr_of(3));
}

TEST(overlay_policy, hints_from_discovery_are_dialed_and_gone_members_are_not) {
  overlay_policy p(1, small_params());
  auto now = clock::now();
  p.hint(5, addr_of(5), 0, 0, 8, now);
  members_t ms;
  ms[6] = make_member(6, 0, 0, 8, true, member_state::dead);
  p.hint(6, addr_of(6), 0, 0, 8, now); // discovery still lists it
  auto a = decide(p, {}, ms, now);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(std::get<overlay_policy::dial>(a[0]).id, 5u);
  EXPECT_EQ(p.hints(), 1u); // the dead member's hint is gone
  // A hint expires.
  EXPECT_TRUE(decide(p, {}, {}, now + 31s).empty());
  EXPECT_EQ(p.hints(), 0u);
}

TEST(overlay_policy, prefers_a_node_that_lacks_inbound_links) {
  overlay_policy p(1, small_params());
  members_t ms;
  put(ms, 2, 0, 0, 8);
  put(ms, 3, 0, 2, 6); // needs inbound links
  auto a = decide(p, {}, ms, clock::now());
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(std::get<overlay_policy::dial>(a[0]).id, 3u);
}

TEST(overlay_policy, a_node_with_more_out_than_in_does_not_dial_but_asks_for_a_callback) {
  overlay_policy p(1, small_params());
  auto now = clock::now();
  members_t ms;
  put(ms, 2, 1, 0, 7);
  put(ms, 3, 2, 0, 6); // spare inbound links: may dial
  put(ms, 4, 0, 2, 6); // may not dial
  std::vector<link_view> links{{2, direction::out}};
  auto a = decide(p, links, ms, now);
  ASSERT_EQ(a.size(), 1u);
  auto* inv = std::get_if<overlay_policy::invite>(&a[0]);
  ASSERT_NE(inv, nullptr);
  EXPECT_EQ(inv->target, 3u);
  EXPECT_EQ(inv->addr, addr_of(3));
  // Asked once per interval, not at every tick.
  EXPECT_TRUE(decide(p, links, ms, now + 10ms).empty());
}

TEST(overlay_policy, reverses_a_link_when_nobody_can_dial) {
  // B->A<-C: C has one outbound link and no one unlinked may dial it.
  overlay_policy c(3, small_params());
  auto now = clock::now();
  members_t ms;
  put(ms, 1, 2, 0, 6); // A: two inbound
  put(ms, 2, 0, 1, 7); // B: one outbound, may not dial
  std::vector<link_view> links{{1, direction::out}};
  auto a = decide(c, links, ms, now);
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

TEST(overlay_policy, reverse_flag_is_honoured_only_when_asked) {
  overlay_policy c(3, small_params());
  auto now = clock::now();
  members_t ms;
  put(ms, 1, 2, 0, 6);
  put(ms, 2, 0, 1, 7);
  std::vector<link_view> links{{1, direction::out}};
  link_request from1{1, direction::in, true, 2, true, false};
  link_request from2{2, direction::in, true, 1, true, false};
  // Nobody was asked yet: a reverse flag is a plain link.
  EXPECT_FALSE(c.admit(from1, links, true, ms, now).reverse);
  ASSERT_EQ(decide(c, links, ms, now).size(), 1u); // asks 1 to reverse
  // Another peer's flag is still not honoured; the one asked is, once.
  EXPECT_FALSE(c.admit(from2, links, false, ms, now).reverse);
  EXPECT_TRUE(c.admit(from1, links, true, ms, now).reverse);
  EXPECT_FALSE(c.admit(from1, links, true, ms, now).reverse);
  // Our own reversing dial always carries it.
  link_request ours{1, direction::out, true, 2, true, false};
  EXPECT_TRUE(c.admit(ours, links, true, ms, now).reverse);
}

TEST(overlay_policy, admission_refuses_full_redirects_and_answers_callbacks) {
  auto params = small_params();
  params.max_degree = 2;
  overlay_policy p(1, params);
  auto now = clock::now();
  members_t ms;
  put(ms, 4, 1, 0, 1);
  put(ms, 5, 0, 0, 2);
  std::vector<link_view> full{{2, direction::in}, {3, direction::in}};
  auto a = p.admit({9, direction::in, true, 0, false, false}, full, false, ms, now);
  EXPECT_EQ(a.what, overlay_policy::admission::refuse);
  EXPECT_EQ(a.reason, "full");
  ASSERT_EQ(a.redirect.size(), 2u);
  EXPECT_EQ(a.redirect[0].id, 5u); // least loaded first
  // A second link of a linked peer is not refused as full.
  EXPECT_EQ(p.admit({2, direction::out, true, 1, false, false}, full, true, ms, now).what,
            overlay_policy::admission::accept);
  // A callback is answered by a dial back when this node may dial.
  std::vector<link_view> one_in{{2, direction::in}};
  auto cb = p.admit({9, direction::in, true, 1, false, true}, one_in, false, ms, now);
  EXPECT_EQ(cb.what, overlay_policy::admission::call_back);
  std::vector<link_view> one_out{{2, direction::out}};
  auto no = p.admit({9, direction::in, true, 1, false, true}, one_out, false, ms, now);
  EXPECT_EQ(no.what, overlay_policy::admission::refuse);
  EXPECT_EQ(no.reason, "callback declined");
  // A dialer that does not serve and is linked elsewhere already.
  auto ns = p.admit({9, direction::in, false, 1, false, false}, one_in, false, ms, now);
  EXPECT_EQ(ns.what, overlay_policy::admission::refuse);
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
  members_t ms;
  for (node_id id = 2; id <= 6; ++id)
    put(ms, id, 2, 2, 4);
  put(ms, 5, 4, 2, 2); // best connected
  std::vector<link_view> links{{2, direction::out},
                               {3, direction::out},
                               {4, direction::out},
                               {5, direction::out},
                               {6, direction::in}};
  auto a = decide(p, links, ms, now + 2s);
  ASSERT_EQ(a.size(), 1u);
  auto* d = std::get_if<overlay_policy::drop>(&a[0]);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->peer, 5u);
  EXPECT_EQ(d->reason, "rebalance");
}

TEST(overlay_policy, a_drop_is_justified_by_established_links_alone) {
  // Out 3, in 1 with one of the outbound links a dial in flight and another
  // already being dropped: established links are out 1, in 1: no drop.
  overlay_policy p(1, small_params());
  auto now = clock::now();
  members_t ms;
  for (node_id id = 2; id <= 5; ++id)
    put(ms, id, 3, 3, 2);
  std::vector<link_view> links{
      {2, direction::out}, {3, direction::out}, {4, direction::out}, {5, direction::in}};
  for (auto& a : p.decide(links, {3}, {4}, ms, now))
    EXPECT_EQ(std::get_if<overlay_policy::drop>(&a), nullptr);
  // Without them, the same links call for a drop.
  auto a = p.decide(links, {}, {}, ms, now);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_NE(std::get_if<overlay_policy::drop>(&a[0]), nullptr);
}

TEST(overlay_policy, trims_far_more_links_than_the_target) {
  overlay_policy p(1, small_params());
  auto now = clock::now();
  members_t ms;
  for (node_id id = 2; id <= 7; ++id)
    put(ms, id, 2, 2, 4);
  put(ms, 4, 3, 2, 3); // the outbound peer with most links
  std::vector<link_view> links{{2, direction::in},  {3, direction::in},
                               {4, direction::out}, {5, direction::in},
                               {6, direction::out}, {7, direction::in}};
  auto a = decide(p, links, ms, now);
  ASSERT_EQ(a.size(), 1u);
  auto* d = std::get_if<overlay_policy::drop>(&a[0]);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->peer, 4u);
  EXPECT_EQ(d->reason, "trim");
  // Not when the outbound peers would fall to the target or below.
  put(ms, 4, 2, 1, 5);
  put(ms, 6, 2, 1, 5);
  EXPECT_TRUE(decide(p, links, ms, now).empty());
}

TEST(overlay_policy, out_over_in_plus_one_asks_for_inbound_even_when_no_link_can_go) {
  // in 1, out 4, and every outbound peer has only two links: none can be
  // dropped without taking a fallback away, so the node asks for inbound.
  overlay_policy p(1, small_params());
  auto now = clock::now();
  members_t ms;
  for (node_id id = 2; id <= 5; ++id)
    put(ms, id, 1, 1, 6);
  put(ms, 6, 0, 2, 6);
  put(ms, 7, 2, 0, 6); // unlinked, may dial
  std::vector<link_view> links{{2, direction::out},
                               {3, direction::out},
                               {4, direction::out},
                               {5, direction::out},
                               {6, direction::in}};
  auto a = decide(p, links, ms, now);
  ASSERT_EQ(a.size(), 1u);
  auto* inv = std::get_if<overlay_policy::invite>(&a[0]);
  ASSERT_NE(inv, nullptr);
  EXPECT_EQ(inv->target, 7u);
}

TEST(overlay_policy, a_peer_that_does_not_serve_is_nobodys_fallback) {
  overlay_policy p(1, small_params());
  auto now = clock::now();
  members_t ms;
  put(ms, 2, 0, 1, 7, false); // dialed us; listens nowhere
  put(ms, 3, 0, 0, 8);
  put(ms, 4, 0, 0, 8);
  // With the non-serving peer alone, the node still wants (and dials) real links.
  auto a = decide(p, {{2, direction::in}}, ms, now);
  ASSERT_EQ(a.size(), 1u);
  auto* d = std::get_if<overlay_policy::dial>(&a[0]);
  ASSERT_NE(d, nullptr);
  EXPECT_NE(d->id, 2u);
  // And it is never a dial or redirect target.
  for (auto& m : p.redirect_targets(9, 8, ms, now))
    EXPECT_NE(m.id, 2u);
}

TEST(overlay_policy, failed_dials_back_off) {
  overlay_policy p(1, small_params());
  auto now = clock::now();
  members_t ms;
  put(ms, 2, 0, 0, 8);
  ASSERT_EQ(decide(p, {}, ms, now).size(), 1u);
  p.dial_failed(2, now);
  EXPECT_TRUE(decide(p, {}, ms, now + 100ms).empty());
  EXPECT_EQ(decide(p, {}, ms, now + 300ms).size(), 1u);
  p.dial_failed(2, now + 300ms); // doubled: 500 ms
  EXPECT_TRUE(decide(p, {}, ms, now + 700ms).empty());
  EXPECT_EQ(decide(p, {}, ms, now + 800ms).size(), 1u);
  p.dial_succeeded(2);
  p.dial_failed(2, now + 1s); // back to the first step
  EXPECT_EQ(decide(p, {}, ms, now + 1250ms).size(), 1u);
}

TEST(overlay_policy, redirect_targets_least_loaded_serving_with_capacity) {
  overlay_policy p(1, small_params());
  auto now = clock::now();
  members_t ms;
  put(ms, 2, 4, 4, 0); // full
  put(ms, 3, 2, 1, 5);
  put(ms, 4, 1, 0, 7);
  put(ms, 5, 0, 1, 7, false); // does not serve
  put(ms, 6, 0, 0, 8);
  auto t = p.redirect_targets(6, 4, ms, now);
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0].id, 4u);
  EXPECT_EQ(t[1].id, 3u);
}

TEST(overlay_policy, hints_are_bounded) {
  auto params = small_params();
  params.max_hints = 5;
  overlay_policy p(1, params);
  auto now = clock::now();
  for (node_id id = 2; id < 20; ++id)
    p.hint(id, addr_of(id), 0, 0, 8, now + std::chrono::milliseconds(id));
  EXPECT_EQ(p.hints(), 5u);
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
    // Discovery: a newcomer hears of every live node.
    for (auto other : alive_)
      if (other != id)
        nodes_.at(id).hint(other, addr_of(other), 0, 0, 8, now_);
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
      if (a != b) {
        cut_.push_back(it->first); // its ends re-dial each other (reconnect)
        it = edges_.erase(it);
      } else {
        ++it;
      }
    }
  }
  /// Heals the partition: the ends of a cut link re-dial each other, as
  /// membership's reconnect does.
  void heal() {
    group_.clear();
    for (auto [a, b] : cut_)
      if (alive_.count(a) && alive_.count(b))
        connect(a, b);
    cut_.clear();
  }

  /// One round: every node decides once, in random order. Returns how many
  /// actions the nodes took.
  std::size_t round() {
    std::vector<node_id> order(alive_.begin(), alive_.end());
    std::shuffle(order.begin(), order.end(), rng_);
    std::size_t acted = 0;
    for (auto id : order)
      if (alive_.count(id))
        for (auto& a : nodes_.at(id).decide(links(id), {}, {}, table(id), now_)) {
          apply(id, a);
          ++acted;
        }
    now_ += 300ms;
    return acted;
  }

  /// Runs until the rules hold and a round passes with no node acting; then
  /// checks that they keep holding, with no link added or dropped, for
  /// `hold` more rounds (no oscillation).
  ::testing::AssertionResult settles(int within, int hold = 100) {
    int i = 0;
    for (; i < within; ++i) {
      auto acted = round();
      if (acted == 0 && violations().empty() && connected())
        break;
    }
    if (i == within)
      return ::testing::AssertionFailure()
             << "not settled in " << within << " rounds: " << dump() << " "
             << (violations().empty() ? "" : violations().front());
    auto settled = edges_;
    log_.clear();
    for (int j = 0; j < hold; ++j) {
      round();
      if (!violations().empty() || !connected())
        return ::testing::AssertionFailure()
               << "settled, then broke after " << j + 1 << " rounds: " << dump() << " "
               << (violations().empty() ? "disconnected" : violations().front());
    }
    if (edges_ != settled) {
      std::string acts;
      for (auto& l : log_)
        acts += l + "; ";
      return ::testing::AssertionFailure()
             << "links kept changing after settling: " << dump() << " actions: " << acts;
    }
    return ::testing::AssertionSuccess();
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
    return component(*alive_.begin()).size() == alive_.size();
  }

  double mean_degree() const {
    return alive_.empty() ? 0 : 2.0 * edges_.size() / alive_.size();
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

  std::set<node_id> component(node_id from) const {
    std::set<node_id> seen;
    std::vector<node_id> todo{from};
    while (!todo.empty()) {
      auto x = todo.back();
      todo.pop_back();
      if (!seen.insert(x).second)
        continue;
      for (auto& l : links(x))
        todo.push_back(l.peer);
    }
    return seen;
  }

  // What membership gives a node: the live nodes it can reach, with their
  // loads; across a partition nothing.
  members_t table(node_id id) const {
    members_t ms;
    for (auto other : alive_) {
      if (other == id || blocked(id, other))
        continue;
      std::uint16_t in = 0, out = 0;
      for (auto& l : links(other))
        (l.dir == direction::in ? in : out) += 1;
      auto cap = static_cast<std::uint16_t>(8 - std::min<std::size_t>(8, in + out));
      ms[other] = make_member(other, in, out, cap);
      ms[other].linked = edges_.count(key(id, other)) > 0;
    }
    return ms;
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
    if (log_.size() < 20) {
      auto who = std::to_string(self) + " ";
      if (auto* d = std::get_if<overlay_policy::dial>(&a))
        log_.push_back(who + "dial " + std::to_string(d->id));
      else if (auto* i = std::get_if<overlay_policy::invite>(&a))
        log_.push_back(who + "invite " + std::to_string(i->target));
      else if (auto* r = std::get_if<overlay_policy::reverse>(&a))
        log_.push_back(who + "reverse " + std::to_string(r->peer));
      else if (auto* d2 = std::get_if<overlay_policy::drop>(&a))
        log_.push_back(who + "drop " + std::to_string(d2->peer) + " " + d2->reason);
    }
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

  std::mt19937_64 rng_;
  clock::time_point now_ = clock::now();
  std::map<node_id, overlay_policy> nodes_;
  std::set<node_id> alive_;
  std::map<edge, node_id> edges_; // -> dialer
  std::set<node_id> group_;
  std::vector<edge> cut_;
  std::vector<std::string> log_; // actions applied while holding
};

class overlay_sim
    : public ::testing::TestWithParam<std::tuple<std::size_t, std::uint64_t>> {};

TEST_P(overlay_sim, start_together_then_crash_then_partition_then_churn) {
  auto [n, seed] = GetParam();
  sim s(n, seed);
  ASSERT_TRUE(s.settles(200)) << "start";

  s.kill(2);
  ASSERT_TRUE(s.settles(200)) << "after one crash";
  if (n >= 8) {
    s.kill(4);
    s.kill(5);
    s.kill(7);
    ASSERT_TRUE(s.settles(200)) << "after three crashes";
  }

  std::set<node_id> half;
  for (node_id id = 1; id <= n; id += 2)
    half.insert(id);
  s.split(half);
  for (int i = 0; i < 30; ++i)
    s.round(); // each side heals on its own
  s.heal();
  ASSERT_TRUE(s.settles(200)) << "after the partition";

  for (node_id id = 100; id < 104; ++id) {
    s.add(id, seed);
    ASSERT_TRUE(s.settles(200)) << "after join of " << id;
  }
  // The degree stays near the target: no node piles links up.
  EXPECT_LE(s.mean_degree(), 5.0) << s.dump();
}

INSTANTIATE_TEST_SUITE_P(sizes_and_seeds, overlay_sim,
                         ::testing::Combine(::testing::Values(3, 4, 5, 10, 20, 40),
                                            ::testing::Values(1, 2, 3, 4, 5)));

} // namespace
} // namespace lanmesh
