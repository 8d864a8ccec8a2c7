// Membership (actors/proto/membership.hpp): records from HELLOs and gossip,
// news passed on once, anti-entropy by digest, deaths confirmed and
// declared, refutation, the address and hostile-input rules, the table's
// bound; then a small network of membership instances exchanging what they
// return, to check that news reaches everyone at a cost per node that does
// not grow with the cluster, and that a quiet cluster sends nothing.

#include "actors/proto/membership.hpp"

#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <set>

namespace lanmesh {
namespace {

using namespace std::chrono_literals;
using clock_type = membership::clock;
using commands = membership::commands;

const clock_type::time_point t0 = clock_type::time_point{} + 1000h;
constexpr std::uint32_t lo = 0x7f000001;  // 127.0.0.1
constexpr std::uint32_t lan = 0x0a000001; // 10.0.0.1

member_record rec(node_id id, std::uint64_t inc = 100, std::uint32_t ip = lo,
                  member_state state = member_state::alive, std::uint32_t version = 0) {
  member_record r;
  r.node = id;
  r.incarnation = inc;
  r.version = version;
  r.state = state;
  r.ip = ip;
  r.port = static_cast<std::uint16_t>(50000 + id);
  r.probe_port = static_cast<std::uint16_t>(40000 + id);
  r.links_in = 1;
  r.links_out = 1;
  r.capacity = 6;
  return r;
}

membership make(node_id self, membership_params p = {}) {
  auto r = rec(self);
  r.ip = 0;
  return membership(r, p);
}

template <class T> std::vector<T> all(const commands& cmds) {
  std::vector<T> out;
  for (auto& c : cmds)
    if (auto* x = std::get_if<T>(&c))
      out.push_back(*x);
  return out;
}

// Records sent to `to` in these commands.
std::vector<member_record> sent_to(const commands& cmds, node_id to) {
  std::vector<member_record> out;
  for (auto& s : all<membership::send_records>(cmds))
    if (s.to == to)
      out.insert(out.end(), s.records.begin(), s.records.end());
  return out;
}

TEST(membership, a_neighbour_is_known_from_its_hello_with_the_address_its_link_shows) {
  auto m = make(1);
  auto hello = rec(2, 100, 0); // its own record carries no address
  hello.ip = lo;               // as the link comes
  auto cmds = m.link_up(hello, true, true, t0);
  auto* e = m.find(2);
  ASSERT_NE(e, nullptr);
  EXPECT_TRUE(e->alive());
  EXPECT_TRUE(e->linked);
  EXPECT_EQ(e->addr(), "127.0.0.1:50002");
  EXPECT_EQ(m.alive(), 1u);
  // The dialer starts the anti-entropy exchange.
  auto syncs = all<membership::send_sync>(cmds);
  ASSERT_EQ(syncs.size(), 1u);
  EXPECT_EQ(syncs[0].to, 2u);
  EXPECT_EQ(syncs[0].body.digest, m.digest());
  EXPECT_EQ(syncs[0].body.flags, wire::sync_answer);
  auto joined = all<membership::changed>(cmds);
  ASSERT_EQ(joined.size(), 1u);
  EXPECT_EQ(joined[0].state, member_state::alive);
  // The acceptor does not start one.
  auto m3 = make(3);
  EXPECT_TRUE(all<membership::send_sync>(m3.link_up(hello, true, false, t0)).empty());
}

TEST(membership, news_goes_to_every_other_neighbour_once_batched) {
  auto m = make(1);
  m.link_up(rec(2), true, false, t0);
  m.link_up(rec(3), true, false, t0);
  m.link_up(rec(4), true, false, t0);
  m.tick(t0 + 1s); // what the link-ups queued goes out
  auto cmds = m.received(2, {rec(9), rec(10)}, false, t0 + 2s);
  // Nothing until the rumour delay passed: then one frame per neighbour.
  EXPECT_TRUE(all<membership::send_records>(cmds).empty());
  EXPECT_LE(m.next_wakeup(), t0 + 2s + 5ms);
  auto out = m.tick(t0 + 2s + 5ms);
  EXPECT_TRUE(sent_to(out, 2).empty()); // not back to where it came from
  EXPECT_EQ(sent_to(out, 3).size(), 2u);
  EXPECT_EQ(sent_to(out, 4).size(), 2u);
  EXPECT_EQ(all<membership::send_records>(out).size(), 2u);
  // The same records again are no news: nothing goes out.
  m.received(3, {rec(9), rec(10)}, false, t0 + 3s);
  EXPECT_TRUE(all<membership::send_records>(m.tick(t0 + 4s)).empty());
  // A quiet node sends nothing at all until its anti-entropy round.
  auto quiet = m.tick(t0 + 5s);
  EXPECT_TRUE(quiet.empty());
}

TEST(membership, anti_entropy_pushes_only_when_digests_differ) {
  auto a = make(1);
  auto b = make(2);
  a.link_up(rec(2), true, true, t0);
  b.link_up(rec(1), true, false, t0);
  EXPECT_EQ(a.digest(), b.digest()); // {1, 2} on both sides
  // In step: a SYNC costs nothing more.
  auto same = b.sync_received(1, {a.digest(), 2, wire::sync_answer}, t0);
  EXPECT_TRUE(same.empty());
  // b learns of 7 and 8: digests differ; b pushes its table and answers.
  b.received(1, {rec(7), rec(8)}, false, t0); // (as if from a third node)
  auto push = b.sync_received(1, {a.digest(), 2, wire::sync_answer}, t0 + 1s);
  auto recs = sent_to(push, 1);
  EXPECT_EQ(recs.size(), 4u); // itself, 1, 7, 8
  auto pushes = all<membership::send_records>(push);
  ASSERT_FALSE(pushes.empty());
  EXPECT_TRUE(pushes[0].sync);
  auto answer = all<membership::send_sync>(push);
  ASSERT_EQ(answer.size(), 1u);
  EXPECT_EQ(answer[0].body.flags, 0);
  // a merges the push; the digests agree, and b's answer costs a nothing.
  a.received(2, recs, true, t0 + 1s);
  EXPECT_EQ(a.digest(), b.digest());
  EXPECT_TRUE(a.sync_received(2, answer[0].body, t0 + 1s).empty());
}

TEST(membership, anti_entropy_runs_with_one_neighbour_about_every_interval) {
  membership_params p;
  p.sync_interval = 10s;
  auto m = make(1, p);
  m.link_up(rec(2), true, false, t0);
  m.link_up(rec(3), true, false, t0);
  int syncs = 0;
  for (auto t = t0; t < t0 + 100s; t += 100ms)
    syncs += static_cast<int>(all<membership::send_sync>(m.tick(t)).size());
  EXPECT_GE(syncs, 7);
  EXPECT_LE(syncs, 20);
}

TEST(membership, a_reset_is_confirmed_and_a_refused_port_means_dead) {
  auto m = make(1);
  m.link_up(rec(2), true, false, t0);
  m.link_up(rec(3), true, false, t0);
  m.tick(t0 + 1s);
  auto cmds = m.link_down(2, link_end::reset, t0 + 2s);
  auto checks = all<membership::confirm>(cmds);
  ASSERT_EQ(checks.size(), 1u);
  EXPECT_EQ(checks[0].id, 2u);
  EXPECT_EQ(checks[0].port, 50002);
  EXPECT_TRUE(m.find(2)->alive()); // not yet
  auto dead = m.confirmed(2, true, false, t0 + 2s);
  EXPECT_EQ(m.find(2)->rec.state, member_state::dead);
  EXPECT_EQ(m.alive(), 1u);
  ASSERT_EQ(all<membership::changed>(dead).size(), 1u);
  auto out = m.tick(t0 + 2s + 5ms);
  auto told = sent_to(out, 3);
  ASSERT_EQ(told.size(), 1u);
  EXPECT_EQ(told[0].state, member_state::dead);
  // Stale gossip cannot bring it back; its tombstone goes after the ttl.
  m.received(3, {rec(2)}, false, t0 + 3s);
  EXPECT_EQ(m.find(2)->rec.state, member_state::dead);
  m.tick(t0 + 2s + 31s);
  EXPECT_EQ(m.find(2), nullptr);
  // A new incarnation (a restart) is welcome at any time.
  m.received(3, {rec(2, 200)}, false, t0 + 40s);
  EXPECT_TRUE(m.find(2)->alive());
}

TEST(membership, an_open_port_after_a_reset_is_no_death) {
  auto m = make(1);
  m.link_up(rec(2), true, false, t0);
  m.link_down(2, link_end::reset, t0 + 1s);
  EXPECT_TRUE(all<membership::changed>(m.confirmed(2, false, false, t0 + 1s)).empty());
  EXPECT_TRUE(m.find(2)->alive());
  // Goodbyes, and links dropped while probes were answered, conclude nothing.
  m.link_up(rec(3), true, false, t0);
  m.link_up(rec(4), true, false, t0);
  EXPECT_TRUE(m.link_down(3, link_end::goodbye, t0 + 2s).empty());
  EXPECT_TRUE(m.link_down(4, link_end::timeout_alive, t0 + 2s).empty());
  EXPECT_TRUE(m.find(3)->alive());
  EXPECT_TRUE(m.find(4)->alive());
}

TEST(membership, a_silent_neighbour_is_unreachable_and_redialed_for_a_while) {
  membership_params p;
  p.reconnect_for = 10s;
  p.reconnect_interval = 1s;
  auto m = make(1, p);
  m.link_up(rec(2), true, false, t0);
  m.link_up(rec(3), true, false, t0);
  m.link_down(2, link_end::timeout_unreachable, t0 + 1s);
  EXPECT_EQ(m.find(2)->rec.state, member_state::unreachable);
  EXPECT_EQ(m.reconnecting(), 1u);
  int dials = 0;
  for (auto t = t0 + 1s; t <= t0 + 15s; t += 100ms)
    for (auto& r : all<membership::reconnect>(m.tick(t))) {
      EXPECT_EQ(r.id, 2u);
      EXPECT_EQ(r.port, 50002);
      ++dials;
    }
  EXPECT_GE(dials, 8);
  EXPECT_LE(dials, 11);
  EXPECT_EQ(m.reconnecting(), 0u);
  // Forgotten with its duty.
  EXPECT_EQ(m.find(2), nullptr);
}

TEST(membership, reconnecting_stops_when_the_member_is_back) {
  auto m = make(1);
  m.link_up(rec(3), true, false, t0);
  m.link_up(rec(2), true, false, t0);
  m.link_down(2, link_end::timeout_unreachable, t0 + 1s);
  ASSERT_EQ(m.reconnecting(), 1u);
  // It refuted (it was only cut off) and the news came over another link.
  m.received(3, {rec(2, 101)}, false, t0 + 3s);
  EXPECT_TRUE(m.find(2)->alive());
  EXPECT_EQ(m.reconnecting(), 0u);
}

TEST(membership, a_node_said_to_be_gone_refutes_with_a_higher_incarnation) {
  auto m = make(1);
  m.link_up(rec(2), true, false, t0);
  m.link_up(rec(3), true, false, t0);
  m.tick(t0 + 1s);
  auto before = m.self().incarnation;
  auto claim = rec(1, before, 0, member_state::unreachable);
  m.received(2, {claim}, false, t0 + 2s);
  EXPECT_EQ(m.self().incarnation, before + 1);
  EXPECT_EQ(m.stats().refutations, 1u);
  auto out = m.tick(t0 + 3s);
  for (node_id n : {2, 3}) {
    auto told = sent_to(out, n);
    ASSERT_EQ(told.size(), 1u) << n;
    EXPECT_EQ(told[0].node, 1u);
    EXPECT_EQ(told[0].state, member_state::alive);
    EXPECT_EQ(told[0].incarnation, before + 1);
  }
  // An old claim does nothing.
  m.received(2, {rec(1, before - 5, 0, member_state::dead)}, false, t0 + 4s);
  EXPECT_EQ(m.self().incarnation, before + 1);
}

TEST(membership, claims_that_a_live_neighbour_is_gone_go_to_that_neighbour) {
  auto m = make(1);
  m.link_up(rec(2), true, false, t0);
  m.link_up(rec(3), true, false, t0);
  auto cmds = m.received(3, {rec(2, 100, lo, member_state::dead)}, false, t0 + 1s);
  EXPECT_TRUE(m.find(2)->alive()); // not believed: the link is up
  auto told = sent_to(cmds, 2);
  ASSERT_EQ(told.size(), 1u); // but passed to 2, which refutes
  EXPECT_EQ(told[0].state, member_state::dead);
  // Its own LEFT is believed.
  m.received(2, {rec(2, 100, 0, member_state::left)}, false, t0 + 2s);
  EXPECT_EQ(m.find(2)->rec.state, member_state::left);
}

TEST(membership, only_the_member_itself_or_its_next_incarnation_moves_its_address) {
  auto m = make(1);
  m.link_up(rec(3), true, false, t0);
  m.received(3, {rec(9, 100, lo)}, false, t0);
  auto moved = rec(9, 100, 0x7f000009, member_state::alive, 1);
  moved.port = 1234;
  m.received(3, {moved}, false, t0 + 1s);
  EXPECT_EQ(m.find(9)->addr(), "127.0.0.1:50009"); // address kept ...
  EXPECT_EQ(m.find(9)->rec.version, 1u);           // ... the rest taken
  EXPECT_EQ(m.stats().rejected_record, 1u);
  // Its own record over its own link does move it.
  auto own = rec(9, 100, 0x7f000009, member_state::alive, 2);
  own.port = 1234;
  m.link_up(own, true, false, t0 + 2s);
  EXPECT_EQ(m.find(9)->addr(), "127.0.0.9:1234");
  // A restart (higher incarnation) relayed by another node moves it too.
  auto restarted = rec(9, 200, 0x7f00000a);
  m.received(3, {restarted}, false, t0 + 3s);
  EXPECT_EQ(m.find(9)->addr(), "127.0.0.10:50009");
}

TEST(membership, impossible_and_misplaced_addresses_are_dropped_and_counted) {
  auto m = make(1);
  m.link_up(rec(2, 100, lan), false, false, t0); // a neighbour on the LAN
  m.received(2,
             {rec(10, 100, 0),          // 0.0.0.0 in a relayed alive record
              rec(11, 100, 0xe0000001), // multicast
              rec(12, 100, 0xffffffff), // broadcast
              rec(13, 100, lo),         // loopback, over a LAN link
              rec(14, 100, 0x0a000002)},
             false, t0);
  EXPECT_EQ(m.find(10), nullptr);
  EXPECT_EQ(m.find(11), nullptr);
  EXPECT_EQ(m.find(12), nullptr);
  EXPECT_EQ(m.find(13), nullptr);
  EXPECT_NE(m.find(14), nullptr);
  EXPECT_EQ(m.stats().rejected_address, 3u);
  EXPECT_EQ(m.stats().rejected_loopback, 1u);
  // Loopback addresses are not passed to a neighbour that is not on loopback.
  auto n = make(5);
  n.link_up(rec(6, 100, lo), true, false, t0);
  n.link_up(rec(7, 100, lan), false, false, t0);
  auto out = n.tick(t0 + 1s);
  for (auto& r : sent_to(out, 7))
    EXPECT_NE(r.ip >> 24, 127u) << r.node;
  auto push = n.sync_received(7, {12345, 1, 0}, t0 + 2s);
  for (auto& r : sent_to(push, 7))
    EXPECT_NE(r.ip >> 24, 127u) << r.node;
}

TEST(membership, the_table_is_bounded_and_never_evicts_a_neighbour) {
  membership_params p;
  p.max_members = 16;
  auto m = make(1, p);
  for (node_id id = 2; id <= 4; ++id)
    m.link_up(rec(id), true, false, t0);
  // A flood of fake members.
  std::vector<member_record> fakes;
  for (node_id id = 1000; id < 3000; ++id)
    fakes.push_back(rec(id));
  for (std::size_t i = 0; i < fakes.size(); i += 64)
    m.received(2,
               std::vector<member_record>(
                   fakes.begin() + static_cast<long>(i),
                   fakes.begin() + static_cast<long>(std::min(i + 64, fakes.size()))),
               false, t0 + std::chrono::milliseconds(i));
  EXPECT_EQ(m.members().size(), 16u);
  for (node_id id = 2; id <= 4; ++id) {
    ASSERT_NE(m.find(id), nullptr) << id;
    EXPECT_TRUE(m.find(id)->linked);
  }
  EXPECT_GE(m.stats().evicted, 1900u);
}

// A cluster larger than the table: records of evicted members come back in
// table pushes and as news going round; they must not be news again (each
// would evict another and be passed on, without end). A new incarnation of
// an evicted member still is.
TEST(membership, an_evicted_record_heard_again_is_not_news_again) {
  membership_params p;
  p.max_members = 64;
  auto m = make(1, p);
  m.link_up(rec(2), true, false, t0);
  m.link_up(rec(3), true, false, t0);
  std::vector<member_record> fakes;
  for (node_id id = 1000; id < 1640; ++id)
    fakes.push_back(rec(id));
  auto feed = [&](std::chrono::milliseconds at) {
    for (std::size_t i = 0; i < fakes.size(); i += 64)
      m.received(2,
                 std::vector<member_record>(
                     fakes.begin() + static_cast<long>(i),
                     fakes.begin() + static_cast<long>(std::min(i + 64, fakes.size()))),
                 true, t0 + at);
  };
  feed(1ms);
  m.tick(t0 + 1s);
  auto news = m.stats().news;
  EXPECT_GE(m.stats().evicted, 500u);
  // The same records again, twice, as pushes from a neighbour.
  feed(2s);
  feed(3s);
  auto out = m.tick(t0 + 4s);
  // Only what the table still held or had just made room for can be taken:
  // at most one eviction batch, never the 640 again.
  EXPECT_LE(m.stats().news - news, p.max_members / 16) << m.stats().news - news;
  EXPECT_GE(m.stats().forgotten_heard, 1000u);
  EXPECT_LE(sent_to(out, 3).size(), p.max_members / 16);
  EXPECT_LE(m.members().size(), 64u);
  // A restart of an evicted member (new incarnation) is news.
  news = m.stats().news;
  m.received(2, {rec(1000, 200)}, false, t0 + 5s);
  EXPECT_EQ(m.stats().news, news + 1);
  EXPECT_EQ(sent_to(m.tick(t0 + 6s), 3).size(), 1u);
}

// Two full tables of a larger cluster: a SYNC between them pushes nothing
// (their digests cannot match); a newcomer's small table still gets a push.
TEST(membership, full_tables_of_a_larger_cluster_do_not_push_on_sync) {
  membership_params p;
  p.max_members = 64;
  auto m = make(1, p);
  m.link_up(rec(2), true, false, t0);
  std::vector<member_record> fakes;
  for (node_id id = 1000; id < 1200; ++id)
    fakes.push_back(rec(id));
  for (std::size_t i = 0; i < fakes.size(); i += 64)
    m.received(2,
               std::vector<member_record>(
                   fakes.begin() + static_cast<long>(i),
                   fakes.begin() + static_cast<long>(std::min(i + 64, fakes.size()))),
               false, t0 + 1ms);
  m.tick(t0 + 1s);
  ASSERT_GT(m.stats().evicted, 0u);
  auto pushed = [](const commands& c) {
    std::size_t n = 0;
    for (auto& x : c)
      if (auto* r = std::get_if<membership::send_records>(&x))
        n += r->sync ? r->records.size() : 0;
    return n;
  };
  EXPECT_EQ(pushed(m.sync_received(2, {12345, 64, wire::sync_answer}, t0 + 2s)), 0u);
  EXPECT_EQ(m.stats().sync_skipped_partial, 1u);
  EXPECT_GE(pushed(m.sync_received(2, {12345, 3, wire::sync_answer}, t0 + 3s)), 60u);
}

// A table that holds part of the cluster takes newcomers, and load changes
// of members it holds, only from news passed on at most partial_reach
// times; otherwise every join is news to every node (n² to join n nodes).
// A new state of a member it holds is news from any distance, a table that
// holds the whole cluster takes news from any distance, and a table push
// is never counted as near news.
TEST(membership, a_partial_table_takes_joins_and_load_changes_only_from_near) {
  membership_params p;
  p.max_members = 64;
  auto far = [&](member_record r, int hops) {
    r.hops = static_cast<std::uint8_t>(hops);
    return r;
  };
  // The whole cluster fits: news from far away is news.
  auto whole = make(1, p);
  whole.link_up(rec(2), true, false, t0);
  whole.received(2, {far(rec(5000), p.partial_reach + 3)}, false, t0 + 1ms);
  EXPECT_NE(whole.find(5000), nullptr);
  EXPECT_EQ(whole.stats().beyond_reach, 0u);

  auto m = make(1, p);
  m.link_up(rec(2), true, false, t0);
  m.link_up(rec(3), true, false, t0);
  for (node_id id = 1000; id < 1200; id += 50) {
    std::vector<member_record> batch;
    for (node_id k = id; k < id + 50; ++k)
      batch.push_back(rec(k));
    m.received(2, batch, false, t0 + 1ms);
  }
  m.tick(t0 + 1s);
  ASSERT_GT(m.stats().evicted, 0u);

  m.received(2, {far(rec(6000), p.partial_reach + 1)}, false, t0 + 2s);
  EXPECT_EQ(m.find(6000), nullptr);
  EXPECT_EQ(m.stats().beyond_reach, 1u);
  m.received(2, {far(rec(6001), p.partial_reach)}, false, t0 + 2s);
  ASSERT_NE(m.find(6001), nullptr);
  // Passed on counting one more hop.
  auto told = sent_to(m.tick(t0 + 3s), 3);
  ASSERT_EQ(told.size(), 1u);
  EXPECT_EQ(told[0].node, 6001u);
  EXPECT_EQ(told[0].hops, p.partial_reach + 1);

  // A member it holds: a load change from far is not taken, a new state is.
  node_id held = 0;
  for (auto& [id, mem] : m.members())
    if (id >= 1000 && id < 1200 && !mem.linked)
      held = id;
  ASSERT_NE(held, 0u);
  auto load = rec(held, 100, lo, member_state::alive, 1);
  load.links_in = 3;
  m.received(2, {far(load, p.partial_reach + 1)}, false, t0 + 4s);
  EXPECT_EQ(m.find(held)->rec.version, 0u);
  EXPECT_EQ(m.stats().beyond_reach, 2u);
  m.received(2, {far(load, p.partial_reach)}, false, t0 + 4s);
  EXPECT_EQ(m.find(held)->rec.version, 1u);
  m.received(2, {far(rec(held, 100, lo, member_state::left, 2), 200)}, false, t0 + 5s);
  EXPECT_EQ(m.find(held)->rec.state, member_state::left);

  // A table pushed to a newcomer is not near news to it.
  auto pushed = m.sync_received(3, {12345, 3, wire::sync_answer}, t0 + 6s);
  auto recs = sent_to(pushed, 3);
  ASSERT_GT(recs.size(), 10u);
  for (auto& r : recs) {
    if (r.node != 1) {
      EXPECT_GT(r.hops, p.partial_reach) << r.node;
    }
  }
}

TEST(membership, load_changes_are_news_only_when_they_matter) {
  auto m = make(1);
  m.link_up(rec(2), true, false, t0);
  m.set_load(1, 1, 6, t0); // the starting load
  m.tick(t0 + 1s);
  auto v = m.self().version;
  m.set_load(2, 1, 5, t0 + 2s); // one more link: no news
  EXPECT_TRUE(m.tick(t0 + 3s).empty());
  EXPECT_EQ(m.self().version, v);
  m.set_load(2, 2, 4, t0 + 4s); // two more than told: news
  EXPECT_EQ(sent_to(m.tick(t0 + 5s), 2).size(), 1u);
  EXPECT_EQ(m.self().version, v + 1);
  m.set_load(2, 3, 3, t0 + 6s); // now more out than in: news
  EXPECT_EQ(sent_to(m.tick(t0 + 7s), 2).size(), 1u);
  m.set_load(4, 4, 0, t0 + 8s); // full: news
  auto told = sent_to(m.tick(t0 + 9s), 2);
  ASSERT_EQ(told.size(), 1u);
  EXPECT_EQ(told[0].capacity, 0);
}

TEST(membership, leaving_tells_every_neighbour_at_once) {
  auto m = make(1);
  m.link_up(rec(2), true, false, t0);
  m.link_up(rec(3), true, false, t0);
  auto cmds = m.leave(t0 + 1s);
  for (node_id n : {2, 3}) {
    auto told = sent_to(cmds, n);
    ASSERT_EQ(told.size(), 1u);
    EXPECT_EQ(told[0].node, 1u);
    EXPECT_EQ(told[0].state, member_state::left);
  }
}

// ---------------------------------------------------------------------------
// A network of membership instances: links are given, frames delivered at
// once, in order. Counts what every node sends.

class net_sim {
public:
  explicit net_sim(std::size_t n, std::size_t degree = 3, std::uint64_t seed = 1) {
    std::mt19937_64 rng(seed);
    for (node_id id = 1; id <= n; ++id) {
      membership_params p;
      p.seed = seed * 7919 + id;
      nodes_.emplace(id, make(id, p));
    }
    // A ring for connectivity, plus random chords up to the degree.
    for (node_id id = 1; id <= n && n > 1; ++id)
      link(id, id % n + 1);
    std::uniform_int_distribution<node_id> any(1, n);
    for (std::size_t i = 0; n > 3 && i < n * (degree - 2) / 2; ++i) {
      auto a = any(rng), b = any(rng);
      if (a != b)
        link(a, b);
    }
    run_for(2s);
  }

  void link(node_id a, node_id b) {
    if (edges_.count({std::min(a, b), std::max(a, b)}))
      return;
    edges_.insert({std::min(a, b), std::max(a, b)});
    deliver(a, nodes_.at(a).link_up(hello(b), true, true, now_));
    deliver(b, nodes_.at(b).link_up(hello(a), true, false, now_));
  }

  void crash(node_id x) {
    for (auto it = edges_.begin(); it != edges_.end();) {
      if (it->first == x || it->second == x) {
        auto other = it->first == x ? it->second : it->first;
        auto cmds = nodes_.at(other).link_down(x, link_end::reset, now_);
        deliver(other, cmds);
        // Its port refuses: the confirm says so.
        for (auto& c : all<membership::confirm>(cmds))
          deliver(other, nodes_.at(other).confirmed(c.id, true, false, now_));
        it = edges_.erase(it);
      } else {
        ++it;
      }
    }
    nodes_.erase(x);
  }

  void run_for(std::chrono::milliseconds d) {
    auto end = now_ + d;
    while (now_ < end) {
      now_ += 5ms;
      for (auto& [id, m] : nodes_)
        deliver(id, m.tick(now_));
    }
  }

  membership& at(node_id id) { return nodes_.at(id); }
  std::size_t size() const { return nodes_.size(); }
  std::uint64_t frames_sent() const { return frames_; }
  std::uint64_t records_sent() const { return records_; }

private:
  member_record hello(node_id id) {
    auto r = nodes_.at(id).self();
    r.ip = lo;
    return r;
  }

  void deliver(node_id from, const commands& cmds) {
    std::deque<std::pair<node_id, membership::command>> queue;
    for (auto& c : cmds)
      queue.emplace_back(from, c);
    while (!queue.empty()) {
      auto [src, c] = queue.front();
      queue.pop_front();
      commands more;
      node_id at = 0;
      if (auto* r = std::get_if<membership::send_records>(&c)) {
        ++frames_;
        records_ += r->records.size();
        if (!nodes_.count(r->to))
          continue;
        at = r->to;
        more = nodes_.at(at).received(src, r->records, r->sync, now_);
      } else if (auto* y = std::get_if<membership::send_sync>(&c)) {
        ++frames_;
        if (!nodes_.count(y->to))
          continue;
        at = y->to;
        more = nodes_.at(at).sync_received(src, y->body, now_);
      }
      for (auto& m : more)
        queue.emplace_back(at, m);
    }
  }

  std::map<node_id, membership> nodes_;
  std::set<std::pair<node_id, node_id>> edges_;
  clock_type::time_point now_ = t0;
  std::uint64_t frames_ = 0, records_ = 0;
};

TEST(membership_net, everyone_learns_everyone_from_a_few_links) {
  net_sim s(30);
  for (node_id id = 1; id <= 30; ++id) {
    EXPECT_EQ(s.at(id).alive(), 29u) << id;
    EXPECT_EQ(s.at(id).digest(), s.at(1).digest()) << id;
  }
}

TEST(membership_net, a_quiet_cluster_sends_only_its_rare_anti_entropy) {
  for (std::size_t n : {10, 40}) {
    net_sim s(n);
    auto before = s.frames_sent();
    s.run_for(60s);
    // About two SYNCs a node a minute (one sent, about one answered, all in
    // step so nothing more), whatever the size.
    double per_node_per_minute = double(s.frames_sent() - before) / double(n);
    EXPECT_LE(per_node_per_minute, 4.5) << n;
    EXPECT_GE(per_node_per_minute, 0.5) << n;
  }
}

TEST(membership_net, a_crash_is_known_everywhere_at_a_cost_per_node_of_about_a_degree) {
  for (std::size_t n : {10, 40}) {
    net_sim s(n);
    auto before = s.records_sent();
    s.crash(5);
    s.run_for(1s);
    for (node_id id = 1; id <= n; ++id) {
      if (id == 5)
        continue;
      auto* m = s.at(id).find(5);
      ASSERT_NE(m, nullptr) << id;
      EXPECT_EQ(m->rec.state, member_state::dead) << id;
      EXPECT_EQ(s.at(id).alive(), n - 2) << id;
    }
    // Each node passes the news once to each other neighbour (degree ~3).
    double per_node = double(s.records_sent() - before) / double(n - 1);
    EXPECT_LE(per_node, 4.0) << n;
  }
}

TEST(membership_net, a_node_that_restarts_with_its_id_is_taken_back) {
  net_sim s(10);
  s.crash(5);
  s.run_for(1s);
  // (Restarting it in this small sim means a new instance with a higher
  // incarnation; the membership's own tests cover that rule above.)
  EXPECT_EQ(s.at(1).alive(), 8u);
}

} // namespace
} // namespace lanmesh
