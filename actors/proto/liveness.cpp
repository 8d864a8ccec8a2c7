#include "actors/proto/liveness.hpp"

#include <algorithm>

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
  // An answer counts when it is recent (within dead_after) and came clearly
  // after the link fell silent: it answers a probe of this silence.
  if (f.probe_answered && *f.probe_answered >= duration::zero() &&
      *f.probe_answered < p_.dead_after &&
      *f.probe_answered < f.silent - p_.after_last_frame)
    return verdict::waiting;
  return verdict::dead;
}

} // namespace lanmesh
