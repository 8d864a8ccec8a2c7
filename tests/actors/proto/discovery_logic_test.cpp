// The discovery state machine, driven with explicit time: query window,
// answers with jitter, announcement backoff, silence when full, candidate
// table bounds and the least-loaded order.

#include "actors/proto/discovery_logic.hpp"

#include <gtest/gtest.h>

namespace lanmesh {
namespace {

using namespace std::chrono_literals;
using clock = discovery_logic::clock;

discovery_params params(node_id self = 1) {
  discovery_params p;
  p.self = self;
  p.cluster = "c";
  p.tcp_port = 50000;
  p.query_window = 100ms;
  p.answer_jitter = 20ms;
  p.announce_min = 1000ms;
  p.announce_max = 8000ms;
  p.candidate_max_age = 30000ms;
  p.max_candidates = 4;
  return p;
}

std::vector<std::uint8_t> datagram(wire::announce_kind kind, node_id node,
                                   std::uint16_t in, std::uint16_t out, std::uint16_t cap,
                                   std::string cluster = "c") {
  wire::announcement a;
  a.kind = kind;
  a.cluster = std::move(cluster);
  a.node = node;
  a.port = static_cast<std::uint16_t>(50000 + node);
  a.links_in = in;
  a.links_out = out;
  a.capacity = cap;
  return wire::encode_announcement(a);
}

discovery_logic::verdict feed(discovery_logic& d, const std::vector<std::uint8_t>& b,
                              clock::time_point now, std::uint16_t udp_port = 40000) {
  return d.on_datagram(b.data(), b.size(), "127.0.0.1", udp_port, now);
}

std::size_t count_kind(const std::vector<discovery_logic::command>& cmds,
                       wire::announce_kind kind) {
  std::size_t n = 0;
  for (auto& c : cmds) {
    if (auto* g = std::get_if<discovery_logic::send_group>(&c); g && g->kind == kind)
      ++n;
  }
  return n;
}

TEST(discovery_logic, start_sends_one_query_and_opens_the_window) {
  discovery_logic d(params());
  auto t0 = clock::now();
  auto cmds = d.start(t0);
  ASSERT_EQ(cmds.size(), 1u);
  EXPECT_EQ(count_kind(cmds, wire::announce_kind::query), 1u);
  EXPECT_TRUE(d.querying(t0 + 99ms));
  EXPECT_FALSE(d.querying(t0 + 100ms));
}

TEST(discovery_logic, strangers_and_self_and_garbage_are_not_candidates) {
  discovery_logic d(params(1));
  auto t0 = clock::now();
  d.start(t0);
  EXPECT_EQ(feed(d, datagram(wire::announce_kind::announce, 2, 0, 0, 8, "other"), t0),
            discovery_logic::verdict::foreign);
  EXPECT_EQ(feed(d, datagram(wire::announce_kind::announce, 1, 0, 0, 8), t0),
            discovery_logic::verdict::own);
  std::vector<std::uint8_t> junk{1, 2, 3};
  EXPECT_EQ(feed(d, junk, t0), discovery_logic::verdict::bad);
  EXPECT_EQ(d.table_size(), 0u);
  EXPECT_TRUE(d.candidates(t0).empty());
}

TEST(discovery_logic, query_is_answered_after_jitter_to_the_querier_only) {
  discovery_logic d(params(1));
  auto t0 = clock::now();
  d.start(t0);
  d.set_load({1, 1, 6}, t0);
  feed(d, datagram(wire::announce_kind::query, 7, 0, 0, 8), t0 + 200ms, 41234);
  EXPECT_LE(d.next_wakeup(), t0 + 220ms);
  auto cmds = d.on_timer(t0 + 220ms);
  std::size_t answers = 0;
  for (auto& c : cmds) {
    if (auto* to = std::get_if<discovery_logic::send_to>(&c)) {
      ++answers;
      EXPECT_EQ(to->port, 41234);
      auto r = wire::decode_announcement(to->bytes.data(), to->bytes.size());
      ASSERT_TRUE(std::holds_alternative<wire::announcement>(r));
      EXPECT_EQ(std::get<wire::announcement>(r).kind, wire::announce_kind::answer);
      EXPECT_EQ(std::get<wire::announcement>(r).capacity, 6);
    }
  }
  EXPECT_EQ(answers, 1u);
  // The querier is a candidate too.
  EXPECT_EQ(d.table_size(), 1u);
}

std::size_t count_answers(const std::vector<discovery_logic::command>& cmds) {
  std::size_t n = 0;
  for (auto& c : cmds)
    n += std::holds_alternative<discovery_logic::send_to>(c) ? 1 : 0;
  return n;
}

TEST(discovery_logic, a_flood_of_queries_gets_a_bounded_number_of_answers) {
  auto p = params(1);
  p.max_candidates = 4096;
  p.max_answers_per_second = 10;
  p.max_pending_answers = 6;
  discovery_logic d(p);
  auto t0 = clock::now();
  d.start(t0);
  d.set_load({1, 1, 6}, t0);
  // 1000 forged queries in one second from 1000 source ports: answers wait
  // at most max_pending at a time and go out at most max_per_second.
  std::size_t answers = 0;
  for (int i = 0; i < 1000; ++i) {
    auto t = t0 + 200ms + std::chrono::microseconds(i * 700);
    feed(d, datagram(wire::announce_kind::query, static_cast<node_id>(100 + i), 0, 0, 8),
         t, static_cast<std::uint16_t>(20000 + i));
    answers += count_answers(d.on_timer(t + 25ms));
  }
  EXPECT_LE(answers, 10u);
  EXPECT_GE(answers, 6u);
  EXPECT_GE(d.answers_limited(), 990u);
  // A second later the next querier is answered again.
  feed(d, datagram(wire::announce_kind::query, 9, 0, 0, 8), t0 + 2s, 41234);
  EXPECT_EQ(count_answers(d.on_timer(t0 + 2s + 25ms)), 1u);
}

TEST(discovery_logic, one_querier_repeating_itself_waits_for_one_answer) {
  discovery_logic d(params(1));
  auto t0 = clock::now();
  d.start(t0);
  d.set_load({1, 1, 6}, t0);
  for (int i = 0; i < 5; ++i)
    feed(d, datagram(wire::announce_kind::query, 7, 0, 0, 8), t0 + 200ms, 41234);
  EXPECT_EQ(count_answers(d.on_timer(t0 + 250ms)), 1u);
}

TEST(discovery_logic, full_node_is_silent) {
  discovery_logic d(params(1));
  auto t0 = clock::now();
  d.start(t0);
  d.set_load({4, 4, 0}, t0);
  feed(d, datagram(wire::announce_kind::query, 7, 0, 0, 8), t0 + 200ms);
  EXPECT_EQ(d.next_wakeup(), clock::time_point::max());
  for (auto t = t0; t < t0 + 60s; t += 500ms)
    EXPECT_TRUE(d.on_timer(t).empty());
}

TEST(discovery_logic, announcements_back_off_to_the_ceiling_and_restart_on_query) {
  discovery_logic d(params(1));
  auto t0 = clock::now();
  d.start(t0);
  d.set_load({0, 0, 8}, t0);
  std::vector<clock::time_point> sent;
  for (auto t = t0; t < t0 + 40s; t += 10ms) {
    if (count_kind(d.on_timer(t), wire::announce_kind::announce) > 0)
      sent.push_back(t);
  }
  // First at the end of the window, then 1, 2, 4, 8, 8, 8 ... seconds apart.
  ASSERT_GE(sent.size(), 6u);
  EXPECT_EQ(sent[0], t0 + 100ms);
  std::vector<std::chrono::milliseconds> gaps;
  for (std::size_t i = 1; i < sent.size(); ++i)
    gaps.push_back(
        std::chrono::duration_cast<std::chrono::milliseconds>(sent[i] - sent[i - 1]));
  EXPECT_EQ(gaps[0], 1000ms);
  EXPECT_EQ(gaps[1], 2000ms);
  EXPECT_EQ(gaps[2], 4000ms);
  EXPECT_EQ(gaps[3], 8000ms);
  EXPECT_EQ(gaps[4], 8000ms);
  // A newcomer's query brings the interval back to the minimum.
  auto tq = sent.back() + 100ms;
  feed(d, datagram(wire::announce_kind::query, 9, 0, 0, 8), tq);
  EXPECT_LE(d.next_wakeup(), tq + 1000ms);
  EXPECT_EQ(d.announce_interval(), 1000ms);
}

// In a cluster bigger than `announcers` the ceiling stretches with the
// cluster, so the group hears about `announcers` announcements per
// announce_max whatever its size.
TEST(discovery_logic, the_ceiling_grows_with_the_cluster) {
  auto p = params(1);
  p.announcers = 16;
  discovery_logic d(p);
  auto t0 = clock::now();
  d.start(t0);
  d.set_load({0, 0, 8}, t0);
  d.set_cluster_size(16, t0);
  EXPECT_EQ(d.announce_ceiling(), 8000ms);
  d.set_cluster_size(160, t0);
  EXPECT_EQ(d.announce_ceiling(), 80000ms);
  std::vector<clock::time_point> sent;
  for (auto t = t0; t < t0 + 400s; t += 100ms) {
    if (count_kind(d.on_timer(t), wire::announce_kind::announce) > 0)
      sent.push_back(t);
  }
  ASSERT_GE(sent.size(), 6u);
  auto last_gap = sent.back() - sent[sent.size() - 2];
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::milliseconds>(last_gap), 80000ms);
  // The cluster shrinks back: the next announcement is no later than the
  // small cluster's ceiling.
  auto ts = sent.back() + 1s;
  d.set_cluster_size(10, ts);
  EXPECT_EQ(d.announce_ceiling(), 8000ms);
  EXPECT_LE(d.next_wakeup(), ts + 8000ms);
}

// A candidate lives as many ceilings as in a small cluster: in a big one the
// announcements that refresh it come less often.
TEST(discovery_logic, candidates_live_longer_in_a_big_cluster) {
  auto p = params(1);
  p.announcers = 16;
  discovery_logic d(p);
  auto t0 = clock::now();
  d.start(t0);
  d.set_cluster_size(160, t0); // ceiling 80 s, 10x: candidates live 300 s
  feed(d, datagram(wire::announce_kind::announce, 2, 0, 1, 7), t0);
  EXPECT_EQ(d.candidates(t0 + 200s).size(), 1u);
  EXPECT_EQ(d.candidates(t0 + 301s).size(), 0u);
}

// A query in a cluster of n > announcers members is answered by about
// announcers / n of the nodes that hear it; in a small one by all.
TEST(discovery_logic, a_big_cluster_answers_a_query_with_about_announcers_nodes) {
  auto t0 = clock::now();
  auto answers_of = [&](std::size_t cluster_size, std::size_t nodes) {
    std::size_t answered = 0;
    for (std::size_t i = 0; i < nodes; ++i) {
      auto p = params(static_cast<node_id>(1000 + i));
      p.announcers = 16;
      p.seed = 7 + i;
      discovery_logic d(p);
      d.start(t0);
      d.set_load({1, 1, 6}, t0);
      d.set_cluster_size(cluster_size, t0);
      feed(d, datagram(wire::announce_kind::query, 9, 0, 0, 8), t0 + 1s, 41234);
      for (auto& c : d.on_timer(t0 + 2s))
        answered += std::holds_alternative<discovery_logic::send_to>(c) ? 1 : 0;
    }
    return answered;
  };
  EXPECT_EQ(answers_of(16, 16), 16u);
  auto big = answers_of(1000, 1000); // expected 16, binomial(1000, 0.016)
  EXPECT_GE(big, 4u);
  EXPECT_LE(big, 36u);
}

TEST(discovery_logic, freed_capacity_restarts_announcing) {
  discovery_logic d(params(1));
  auto t0 = clock::now();
  d.start(t0);
  d.set_load({4, 4, 0}, t0);
  EXPECT_TRUE(d.on_timer(t0 + 5s).empty());
  d.set_load({4, 3, 1}, t0 + 5s);
  EXPECT_EQ(count_kind(d.on_timer(t0 + 5s), wire::announce_kind::announce), 1u);
}

TEST(discovery_logic, candidates_least_loaded_first_and_never_full) {
  discovery_logic d(params(1));
  auto t0 = clock::now();
  d.start(t0);
  feed(d, datagram(wire::announce_kind::answer, 2, 3, 2, 3), t0);
  feed(d, datagram(wire::announce_kind::answer, 3, 0, 1, 7), t0);
  feed(d, datagram(wire::announce_kind::answer, 4, 4, 4, 0), t0);
  feed(d, datagram(wire::announce_kind::answer, 5, 1, 1, 6), t0);
  auto c = d.candidates(t0);
  ASSERT_EQ(c.size(), 3u); // node 4 has no capacity
  EXPECT_EQ(c[0].id, 3u);
  EXPECT_EQ(c[1].id, 5u);
  EXPECT_EQ(c[2].id, 2u);
  EXPECT_EQ(c[0].addr(), "127.0.0.1:50003"); // address from the datagram's source
}

TEST(discovery_logic, table_is_bounded_and_entries_expire) {
  discovery_logic d(params(1));
  auto t0 = clock::now();
  d.start(t0);
  for (node_id n = 2; n < 20; ++n)
    feed(d, datagram(wire::announce_kind::announce, n, 0, 0, 8),
         t0 + std::chrono::milliseconds(n));
  EXPECT_EQ(d.table_size(), 4u);
  // The newest four remain.
  auto ids = d.candidates(t0 + 20ms);
  for (auto& c : ids)
    EXPECT_GE(c.id, 16u);
  EXPECT_TRUE(d.candidates(t0 + 31s).empty());
  EXPECT_EQ(d.table_size(), 0u);
}

TEST(discovery_logic, forget_drops_a_candidate_and_marks_a_change) {
  discovery_logic d(params(1));
  auto t0 = clock::now();
  d.start(t0);
  feed(d, datagram(wire::announce_kind::answer, 2, 0, 0, 8), t0);
  EXPECT_TRUE(d.take_changed());
  EXPECT_FALSE(d.take_changed());
  d.forget(2);
  EXPECT_TRUE(d.take_changed());
  EXPECT_TRUE(d.candidates(t0).empty());
}

} // namespace
} // namespace lanmesh

namespace lanmesh {
namespace {

// Issue 15: two nodes with one id. Node 1's send socket is 127.0.0.1:40000
// and its TCP port 50001 (as `datagram` encodes it).
discovery_params clash_params() {
  auto p = params(1);
  p.tcp_port = 50001;
  p.own_ip = "127.0.0.1";
  p.own_udp_port = 40000;
  return p;
}

TEST(discovery_logic, own_looped_back_datagrams_are_not_a_clash) {
  discovery_logic d(clash_params());
  auto t0 = clock::now();
  d.start(t0);
  for (auto kind : {wire::announce_kind::query, wire::announce_kind::announce})
    EXPECT_EQ(feed(d, datagram(kind, 1, 0, 0, 8), t0, 40000),
              discovery_logic::verdict::own);
}

TEST(discovery_logic, the_same_id_from_another_socket_is_a_clash) {
  discovery_logic d(clash_params());
  auto t0 = clock::now();
  d.start(t0);
  EXPECT_EQ(feed(d, datagram(wire::announce_kind::answer, 1, 0, 0, 8), t0, 40001),
            discovery_logic::verdict::clash);
  EXPECT_EQ(d.last_clash().addr, "127.0.0.1:50001");
  EXPECT_EQ(d.table_size(), 0u); // never a candidate
}

TEST(discovery_logic, the_same_id_with_another_tcp_port_is_a_clash) {
  auto p = clash_params();
  p.tcp_port = 50002; // the datagram says 50001: not ours
  discovery_logic d(p);
  auto t0 = clock::now();
  d.start(t0);
  EXPECT_EQ(feed(d, datagram(wire::announce_kind::announce, 1, 0, 0, 8), t0, 40000),
            discovery_logic::verdict::clash);
}

TEST(discovery_logic, a_running_node_answers_a_clashing_query_at_once_even_when_full) {
  discovery_logic d(clash_params());
  auto t0 = clock::now();
  d.start(t0);
  d.set_load({4, 4, 0}, t0); // full: normally silent
  auto later = t0 + 500ms;   // past its own query window
  EXPECT_EQ(feed(d, datagram(wire::announce_kind::query, 1, 0, 0, 8), later, 45000),
            discovery_logic::verdict::clash);
  EXPECT_LE(d.next_wakeup(), later);
  auto cmds = d.on_timer(later);
  ASSERT_EQ(cmds.size(), 1u);
  auto* to = std::get_if<discovery_logic::send_to>(&cmds[0]);
  ASSERT_NE(to, nullptr);
  EXPECT_EQ(to->port, 45000);
}

TEST(discovery_logic, without_its_own_socket_known_every_own_id_is_its_own) {
  discovery_logic d(params(1)); // own_udp_port 0
  auto t0 = clock::now();
  d.start(t0);
  EXPECT_EQ(feed(d, datagram(wire::announce_kind::answer, 1, 0, 0, 8), t0, 40123),
            discovery_logic::verdict::own);
}

} // namespace
} // namespace lanmesh
