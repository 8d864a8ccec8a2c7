#include "actors/proto/probe_tracker.hpp"

#include <algorithm>

#include "actors/proto/membership.hpp"

namespace lanmesh {

probe_tracker::probe_tracker(probe_params p) : p_(p), rng_(p.seed) {}

std::uint64_t probe_tracker::fresh_nonce(node_id target, time_point now,
                                         node_id requester,
                                         std::uint64_t requester_nonce) {
  std::uint64_t n = 0;
  while (n == 0 || nonces_.count(n))
    n = rng_();
  nonces_[n] = nonce_state{target, now + p_.nonce_ttl, requester, requester_nonce};
  if (requester != 0)
    ++relayed_in_flight_;
  return n;
}

void probe_tracker::expire_nonces(time_point now) {
  for (auto it = nonces_.begin(); it != nonces_.end();) {
    if (it->second.expires <= now) {
      if (it->second.requester != 0)
        --relayed_in_flight_;
      it = nonces_.erase(it);
    } else {
      ++it;
    }
  }
}

probe_tracker::commands probe_tracker::round(node_id target, suspect_state& s,
                                             const std::vector<node_id>& via,
                                             time_point now) {
  commands out;
  s.next = now + p_.interval;
  if (nonces_.size() + 1 + p_.indirect > p_.max_nonces)
    return out;
  if (s.port != 0 && possible_member_ip(s.ip)) {
    stats_.direct += 1;
    out.push_back(udp_probe{s.ip, s.port, target, fresh_nonce(target, now)});
  }
  // Other neighbours, in random order, a few per round.
  std::vector<node_id> others;
  for (auto v : via)
    if (v != target)
      others.push_back(v);
  std::shuffle(others.begin(), others.end(), rng_);
  for (std::size_t i = 0; i < others.size() && i < p_.indirect; ++i) {
    stats_.indirect += 1;
    out.push_back(ask{others[i], {fresh_nonce(target, now), target, s.ip, s.port}});
  }
  return out;
}

probe_tracker::commands probe_tracker::suspect(node_id target, std::uint32_t ip,
                                               std::uint16_t probe_port,
                                               const std::vector<node_id>& via,
                                               time_point now) {
  auto it = suspects_.find(target);
  if (it != suspects_.end())
    return {};
  if (suspects_.size() >= p_.max_suspects)
    return {};
  auto& s = suspects_[target];
  s.ip = ip;
  s.port = probe_port;
  s.since = now;
  expire_nonces(now);
  return round(target, s, via, now);
}

void probe_tracker::clear(node_id target) {
  suspects_.erase(target);
}

probe_tracker::time_point probe_tracker::next_wakeup() const {
  auto t = time_point::max();
  for (auto& [_, s] : suspects_)
    t = std::min(t, s.next);
  return t;
}

probe_tracker::commands probe_tracker::udp_answer(node_id from, std::uint64_t nonce,
                                                  time_point now) {
  commands out;
  auto it = nonces_.find(nonce);
  if (it == nonces_.end() || it->second.target != from || it->second.expires <= now) {
    stats_.unmatched += 1;
    return out;
  }
  auto n = it->second;
  nonces_.erase(it);
  if (n.requester != 0) {
    --relayed_in_flight_;
    out.push_back(answer{n.requester, {n.requester_nonce, from}});
    return out;
  }
  stats_.answers += 1;
  auto s = suspects_.find(from);
  if (s != suspects_.end())
    s->second.answered = now;
  return out;
}

void probe_tracker::neighbour_answer(node_id via, const wire::probe_ack& a,
                                     time_point now) {
  (void)via;
  auto it = nonces_.find(a.nonce);
  if (it == nonces_.end() || it->second.target != a.target || it->second.requester != 0 ||
      it->second.expires <= now) {
    stats_.unmatched += 1;
    return;
  }
  nonces_.erase(it);
  stats_.answers += 1;
  auto s = suspects_.find(a.target);
  if (s != suspects_.end())
    s->second.answered = now;
}

probe_tracker::commands probe_tracker::request(node_id from, const wire::probe_req& r,
                                               bool loopback_ok, time_point now) {
  expire_nonces(now);
  if (relayed_in_flight_ >= p_.max_relayed || nonces_.size() >= p_.max_nonces ||
      r.probe_port == 0 || !possible_member_ip(r.ip) || r.target == 0 ||
      (loopback_ip(r.ip) && !loopback_ok)) {
    stats_.relay_refused += 1;
    return {};
  }
  stats_.relayed += 1;
  return {
      udp_probe{r.ip, r.probe_port, r.target, fresh_nonce(r.target, now, from, r.nonce)}};
}

std::optional<probe_tracker::clock::duration> probe_tracker::heard(node_id target,
                                                                   time_point now) const {
  auto it = suspects_.find(target);
  if (it == suspects_.end() || !it->second.answered)
    return std::nullopt;
  return now - *it->second.answered;
}

} // namespace lanmesh
