// Tests of the dead-peer decision (actors/proto/liveness.hpp): the link's own
// signs of life, probe answers for a silent link, and the hard cap. Time is
// passed in.
#include "actors/proto/liveness.hpp"

#include <gtest/gtest.h>

#include <chrono>

namespace lanmesh {
namespace {

using namespace std::chrono_literals;
liveness judge_2s_8s() {
  return liveness({2000ms, 8000ms});
}

link_facts silent_for(link_facts::duration d) {
  link_facts f;
  f.silent = d;
  return f;
}

link_facts answered(link_facts f, link_facts::duration ago) {
  f.probe_answered = ago;
  return f;
}

TEST(liveness, heard_within_dead_after_is_alive) {
  auto l = judge_2s_8s();
  EXPECT_EQ(l.judge(silent_for(0ms)), verdict::alive);
  EXPECT_EQ(l.judge(silent_for(1999ms)), verdict::alive);
  EXPECT_EQ(l.assess(silent_for(1999ms)), verdict::alive);
}

TEST(liveness, silent_for_dead_after_without_evidence_is_dead_at_dead_after) {
  auto l = judge_2s_8s();
  // What a SIGSTOPped or cut-off peer looks like: nothing on the link and no
  // flood of its own over other links. Dead exactly at dead_after.
  EXPECT_EQ(l.assess(silent_for(2000ms)), verdict::suspect);
  EXPECT_EQ(l.judge(silent_for(2000ms)), verdict::dead);
  EXPECT_EQ(l.judge(silent_for(5000ms)), verdict::dead);
}

TEST(liveness, unread_bytes_mean_alive_after_a_stall) {
  auto l = judge_2s_8s();
  auto f = silent_for(3000ms);
  f.unread = 1;
  EXPECT_EQ(l.assess(f), verdict::alive);
  EXPECT_EQ(l.judge(f), verdict::alive);
}

TEST(liveness, out_of_order_progress_means_recovering_even_past_the_cap) {
  auto l = judge_2s_8s();
  for (auto d : {0ms, 2500ms, 9000ms}) {
    auto f = silent_for(d);
    f.out_of_order_moved = true;
    EXPECT_EQ(l.assess(f), verdict::recovering) << d.count();
    EXPECT_EQ(l.judge(f), verdict::recovering) << d.count();
  }
}

TEST(liveness, probe_answered_during_the_silence_keeps_the_link_waiting) {
  auto l = judge_2s_8s();
  // Silent 3 s on this link, but the peer answered a probe 400 ms ago: the
  // process runs, this TCP path is stuck (loss, backoff).
  EXPECT_EQ(l.judge(answered(silent_for(3000ms), 400ms)), verdict::waiting);
  EXPECT_EQ(l.judge(answered(silent_for(2000ms), 0ms)), verdict::waiting);
  EXPECT_EQ(l.judge(answered(silent_for(7999ms), 1999ms)), verdict::waiting);
  EXPECT_EQ(l.judge(answered(silent_for(2000ms), 1399ms)), verdict::waiting);
}

TEST(liveness, answer_from_before_the_silence_does_not_vouch) {
  auto l = judge_2s_8s();
  // An answer to a probe of an earlier suspicion, at most ~a heartbeat after
  // the link's last frame: the peer may have stopped since.
  EXPECT_EQ(l.judge(answered(silent_for(2000ms), 1500ms)), verdict::dead);
  EXPECT_EQ(l.judge(answered(silent_for(2000ms), 1400ms)), verdict::dead);
  EXPECT_EQ(l.judge(answered(silent_for(2500ms), 1999ms)), verdict::dead);
}

TEST(liveness, evidence_must_be_fresh) {
  auto l = judge_2s_8s();
  // Answered dead_after ago or earlier: it may have stopped since: dead.
  EXPECT_EQ(l.judge(answered(silent_for(3000ms), 2000ms)), verdict::dead);
  EXPECT_EQ(l.judge(answered(silent_for(3000ms), 2800ms)), verdict::dead);
  // Heard before the link fell silent: older than the silence, so older than
  // dead_after too.
  EXPECT_EQ(l.judge(answered(silent_for(2500ms), 2600ms)), verdict::dead);
  // A nonsensical negative age is no evidence.
  EXPECT_EQ(l.judge(answered(silent_for(2500ms), -1ms)), verdict::dead);
}

TEST(liveness, evidence_does_not_matter_while_the_link_is_heard) {
  auto l = judge_2s_8s();
  EXPECT_EQ(l.judge(answered(silent_for(100ms), 5000ms)), verdict::alive);
}

TEST(liveness, hard_cap_drops_a_link_silent_one_way_whatever_the_probes_say) {
  auto l = judge_2s_8s();
  EXPECT_EQ(l.assess(silent_for(8000ms)), verdict::dead);
  EXPECT_EQ(l.judge(answered(silent_for(8000ms), 100ms)), verdict::dead);
  EXPECT_EQ(l.judge(answered(silent_for(60s), 0ms)), verdict::dead);
}

TEST(liveness, cap_below_dead_after_is_raised_to_dead_after) {
  liveness l({2000ms, 1000ms});
  EXPECT_EQ(l.params().dead_after_max, 2000ms);
  // No waiting at all: the old rule, dead at dead_after.
  EXPECT_EQ(l.judge(answered(silent_for(2000ms), 10ms)), verdict::dead);
  EXPECT_EQ(l.judge(silent_for(1999ms)), verdict::alive);
}

TEST(liveness, verdict_names) {
  EXPECT_STREQ(to_string(verdict::alive), "alive");
  EXPECT_STREQ(to_string(verdict::recovering), "recovering");
  EXPECT_STREQ(to_string(verdict::suspect), "suspect");
  EXPECT_STREQ(to_string(verdict::waiting), "waiting");
  EXPECT_STREQ(to_string(verdict::dead), "dead");
}

} // namespace
} // namespace lanmesh
