// Probes of a suspect link (actors/proto/probe_tracker.hpp): direct UDP
// probes and requests to other neighbours, answers matched by nonce, probes
// run for others, and the bounds.

#include "actors/proto/probe_tracker.hpp"

#include <gtest/gtest.h>

namespace lanmesh {
namespace {

using namespace std::chrono_literals;
using clock_type = probe_tracker::clock;
const clock_type::time_point t0 = clock_type::time_point{} + 1000h;
constexpr std::uint32_t lo = 0x7f000001;

template <class T> std::vector<T> all(const probe_tracker::commands& cmds) {
  std::vector<T> out;
  for (auto& c : cmds)
    if (auto* x = std::get_if<T>(&c))
      out.push_back(*x);
  return out;
}

TEST(probe_tracker, a_suspect_is_probed_directly_and_through_two_other_neighbours) {
  probe_tracker p({});
  auto cmds = p.suspect(7, lo, 4007, {7, 2, 3, 4}, t0);
  auto direct = all<probe_tracker::udp_probe>(cmds);
  ASSERT_EQ(direct.size(), 1u);
  EXPECT_EQ(direct[0].to, 7u);
  EXPECT_EQ(direct[0].port, 4007);
  auto asks = all<probe_tracker::ask>(cmds);
  ASSERT_EQ(asks.size(), 2u);
  for (auto& a : asks) {
    EXPECT_NE(a.via, 7u); // never through the suspect itself
    EXPECT_EQ(a.req.target, 7u);
    EXPECT_EQ(a.req.probe_port, 4007);
  }
  EXPECT_NE(asks[0].via, asks[1].via);
  // Again every interval, until cleared.
  EXPECT_EQ(p.next_wakeup(), t0 + 200ms);
  auto via = [](node_id) { return std::vector<node_id>{2, 3}; };
  EXPECT_TRUE(p.tick(via, t0 + 100ms).empty());
  EXPECT_EQ(all<probe_tracker::udp_probe>(p.tick(via, t0 + 200ms)).size(), 1u);
  p.clear(7);
  EXPECT_TRUE(p.tick(via, t0 + 400ms).empty());
  EXPECT_EQ(p.next_wakeup(), clock_type::time_point::max());
}

TEST(probe_tracker, only_an_answer_naming_our_nonce_and_the_suspect_counts) {
  probe_tracker p({});
  auto cmds = p.suspect(7, lo, 4007, {2, 3}, t0);
  auto nonce = all<probe_tracker::udp_probe>(cmds)[0].nonce;
  auto ask = all<probe_tracker::ask>(cmds)[0];
  EXPECT_FALSE(p.heard(7, t0).has_value());
  p.udp_answer(8, nonce, t0 + 1ms);     // another node with our nonce
  p.udp_answer(7, nonce + 1, t0 + 1ms); // a nonce we never sent
  EXPECT_FALSE(p.heard(7, t0 + 2ms).has_value());
  EXPECT_EQ(p.stats().unmatched, 2u);
  p.udp_answer(7, nonce, t0 + 3ms);
  ASSERT_TRUE(p.heard(7, t0 + 10ms).has_value());
  EXPECT_EQ(*p.heard(7, t0 + 10ms), 7ms);
  // A neighbour's report of the other probe counts too; a replay does not.
  p.neighbour_answer(ask.via, {ask.req.nonce, 7}, t0 + 50ms);
  EXPECT_EQ(*p.heard(7, t0 + 50ms), 0ms);
  p.neighbour_answer(ask.via, {ask.req.nonce, 7}, t0 + 60ms);
  EXPECT_EQ(p.stats().answers, 2u);
  // Late answers are ignored.
  auto later = p.tick([](node_id) { return std::vector<node_id>{}; }, t0 + 200ms);
  auto n2 = all<probe_tracker::udp_probe>(later)[0].nonce;
  p.udp_answer(7, n2, t0 + 200ms + 1001ms);
  EXPECT_EQ(p.stats().answers, 2u);
  // Clearing forgets the evidence: a new silence needs new answers.
  p.clear(7);
  EXPECT_FALSE(p.heard(7, t0 + 2s).has_value());
}

TEST(probe_tracker, probes_asked_of_us_are_run_and_answered_back) {
  probe_tracker p({});
  auto cmds = p.request(2, {555, 9, lo, 4009}, true, t0);
  auto probe = all<probe_tracker::udp_probe>(cmds);
  ASSERT_EQ(probe.size(), 1u);
  EXPECT_EQ(probe[0].to, 9u);
  auto back = p.udp_answer(9, probe[0].nonce, t0 + 1ms);
  auto ans = all<probe_tracker::answer>(back);
  ASSERT_EQ(ans.size(), 1u);
  EXPECT_EQ(ans[0].to, 2u);
  EXPECT_EQ(ans[0].ack.nonce, 555u); // the requester's nonce
  EXPECT_EQ(ans[0].ack.target, 9u);
  // Bad addresses are not probed, nor loopback for a neighbour not on it.
  EXPECT_TRUE(p.request(2, {1, 9, 0, 4009}, true, t0).empty());
  EXPECT_TRUE(p.request(2, {1, 9, 0xe0000001, 4009}, true, t0).empty());
  EXPECT_TRUE(p.request(2, {1, 9, lo, 0}, true, t0).empty());
  EXPECT_TRUE(p.request(2, {1, 9, lo, 4009}, false, t0).empty());
  EXPECT_EQ(p.stats().relay_refused, 4u);
}

TEST(probe_tracker, bounded_suspects_requests_and_time) {
  probe_params params;
  params.max_suspects = 2;
  params.max_relayed = 3;
  params.give_up = 1s;
  probe_tracker p(params);
  EXPECT_FALSE(p.suspect(1, lo, 1, {}, t0).empty());
  EXPECT_FALSE(p.suspect(2, lo, 2, {}, t0).empty());
  EXPECT_TRUE(p.suspect(3, lo, 3, {}, t0).empty());
  for (int i = 0; i < 3; ++i)
    EXPECT_FALSE(p.request(9, {std::uint64_t(i), 5, lo, 5}, true, t0).empty());
  EXPECT_TRUE(p.request(9, {7, 5, lo, 5}, true, t0).empty());
  // Past give_up nothing is probed any more.
  auto via = [](node_id) { return std::vector<node_id>{}; };
  EXPECT_TRUE(p.tick(via, t0 + 1s).empty());
  EXPECT_FALSE(p.suspecting(1));
  // Expired requests free their places.
  EXPECT_FALSE(p.request(9, {8, 5, lo, 5}, true, t0 + 2s).empty());
}

} // namespace
} // namespace lanmesh
