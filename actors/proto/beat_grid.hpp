#pragma once
// A node's timers on one grid: every periodic timer of a node (each link's
// heartbeat, the overlay's maintenance) fires at now = phase + k * period, so
// that an idle node wakes once per beat for all of them instead of once per
// timer. The phase comes from the node's id: nodes do not beat in step with
// each other (their heartbeats reach a peer spread over the period).

#include <chrono>
#include <cstdint>

namespace lanmesh {

/// The first grid point strictly after `now`: phase + k * period.
template <class Clock>
typename Clock::time_point next_beat(typename Clock::time_point now,
                                     std::chrono::milliseconds period,
                                     std::uint64_t phase_seed) {
  using namespace std::chrono;
  auto p = duration_cast<typename Clock::duration>(period);
  if (p.count() <= 0)
    return now;
  auto phase = typename Clock::duration(static_cast<typename Clock::rep>(
      phase_seed % static_cast<std::uint64_t>(p.count())));
  auto since = now.time_since_epoch() - phase;
  auto k = since.count() >= 0 ? since / p + 1 : since / p;
  return typename Clock::time_point(phase + k * p);
}

} // namespace lanmesh
