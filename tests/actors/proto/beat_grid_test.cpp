// The beat grid: the next grid point is strictly later, on the node's phase,
// and two periods of which one divides the other meet on every long beat.

#include "actors/proto/beat_grid.hpp"

#include <gtest/gtest.h>

namespace lanmesh {
namespace {

using namespace std::chrono_literals;
using clock = std::chrono::steady_clock;

TEST(beat_grid, next_point_is_later_within_a_period_and_on_the_phase) {
  auto t0 = clock::time_point(1000h);
  for (std::uint64_t seed : {0ull, 1ull, 599ull, 0xdeadbeefcafeull}) {
    for (auto step = 0ms; step < 2500ms; step += 7ms) {
      auto now = t0 + step;
      auto next = next_beat<clock>(now, 1200ms, seed);
      EXPECT_GT(next, now);
      EXPECT_LE(next - now, 1200ms);
      // The phase: the seed modulo the period, in the clock's ticks.
      auto period = clock::duration(1200ms).count();
      auto phase = clock::duration(
          static_cast<clock::rep>(seed % static_cast<std::uint64_t>(period)));
      EXPECT_EQ((next.time_since_epoch() - phase) % 1200ms, clock::duration::zero());
    }
  }
}

TEST(beat_grid, a_dividing_period_meets_the_long_one_on_every_beat) {
  auto now = clock::time_point(5000h) + 123ms;
  auto hb = next_beat<clock>(now, 1200ms, 42);
  // Walk the 600 ms grid: it hits the heartbeat's point.
  auto t = now;
  bool met = false;
  for (int i = 0; i < 4 && !met; ++i) {
    t = next_beat<clock>(t, 600ms, 42);
    met = t == hb;
  }
  EXPECT_TRUE(met);
}

TEST(beat_grid, nodes_with_other_ids_beat_at_other_times) {
  auto now = clock::time_point(77h);
  EXPECT_NE(next_beat<clock>(now, 1200ms, 1), next_beat<clock>(now, 1200ms, 2));
}

} // namespace
} // namespace lanmesh
