#include "actors/proto/liveness.hpp"

#include <algorithm>
#include <iterator>

namespace lanmesh {

const char* to_string(verdict v) {
  switch (v) {
  case verdict::alive:
    return "alive";
  case verdict::recovering:
    return "recovering";
  case verdict::suspect:
    return "suspect";
  case verdict::waiting:
    return "waiting";
  case verdict::dead:
    return "dead";
  }
  return "?";
}

liveness::liveness(liveness_params p) : p_(p) {
  p_.dead_after_max = std::max(p_.dead_after_max, p_.dead_after);
}

verdict liveness::assess(const link_facts& f) const {
  if (f.out_of_order_moved)
    return verdict::recovering;
  if (f.unread > 0 || f.silent < p_.dead_after)
    return verdict::alive;
  if (f.silent >= p_.dead_after_max)
    return verdict::dead;
  return verdict::suspect;
}

verdict liveness::judge(const link_facts& f) const {
  auto v = assess(f);
  if (v != verdict::suspect)
    return v;
  // Evidence counts when it is recent (heard within dead_after) and came
  // clearly after the link fell silent: a flood the peer sent just before it
  // stopped (SIGSTOP) arrives at most about a heartbeat after its last frame
  // on this link, and must not delay the verdict.
  if (f.heard_elsewhere && *f.heard_elsewhere >= duration::zero() &&
      *f.heard_elsewhere < p_.dead_after &&
      *f.heard_elsewhere < f.silent - p_.after_last_frame)
    return verdict::waiting;
  return verdict::dead;
}

void overlay_evidence::heard(node_id origin, std::uint16_t hops, clock::time_point now) {
  if (hops < 2) // the origin's own copy over its link to us: no other path
    return;
  auto& at = relayed_[origin];
  at = std::max(at, now);
}

std::optional<overlay_evidence::clock::duration>
overlay_evidence::since(node_id origin, clock::time_point now) const {
  auto it = relayed_.find(origin);
  if (it == relayed_.end())
    return std::nullopt;
  return now - it->second;
}

void overlay_evidence::expire(clock::time_point now, clock::duration max_age) {
  for (auto it = relayed_.begin(); it != relayed_.end();)
    it = now - it->second > max_age ? relayed_.erase(it) : std::next(it);
}

} // namespace lanmesh
