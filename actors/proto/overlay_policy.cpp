#include "actors/proto/overlay_policy.hpp"

#include <algorithm>

namespace lanmesh {

namespace {

struct degree {
  std::size_t in = 0, out = 0;
  std::size_t total() const { return in + out; }
};

degree count(const std::vector<link_view>& links) {
  degree d;
  for (auto& l : links)
    (l.dir == direction::in ? d.in : d.out) += 1;
  return d;
}

bool linked_to(const std::vector<link_view>& links, node_id peer) {
  return std::any_of(links.begin(), links.end(), [&](auto& l) { return l.peer == peer; });
}

dial_candidate from_member(const member& m) {
  return {m.rec.node, {}, m.rec.links_in, m.rec.links_out, m.rec.capacity, true};
}

} // namespace

overlay_policy::overlay_policy(node_id self, overlay_params p)
    : self_(self), p_(p), rng_(p.seed) {}

void overlay_policy::hint(node_id id, const std::string& addr, std::uint16_t in,
                          std::uint16_t out, std::uint16_t capacity,
                          clock::time_point now) {
  if (id == self_ || id == 0 || addr.empty())
    return;
  auto it = hints_.find(id);
  if (it == hints_.end()) {
    if (hints_.size() >= p_.max_hints) {
      // Full: drop the oldest eighth at once. One at a time scanned every
      // hint per new one (10 % of the simulator's CPU during a 5 000-node
      // join, where discovery names new nodes all the time).
      std::vector<clock::time_point> heard;
      heard.reserve(hints_.size());
      for (auto& [_, h] : hints_)
        heard.push_back(h.heard);
      auto k = std::max<std::size_t>(1, heard.size() / 8);
      std::nth_element(heard.begin(), heard.begin() + static_cast<long>(k), heard.end());
      auto cut = heard[k];
      for (auto h = hints_.begin(); h != hints_.end();)
        h = h->second.heard < cut ? hints_.erase(h) : std::next(h);
      if (hints_.size() >= p_.max_hints) // many heard at the same instant
        hints_.erase(std::min_element(hints_.begin(), hints_.end(), [](auto& a, auto& b) {
          return a.second.heard < b.second.heard;
        }));
    }
    it = hints_.emplace(id, hint_entry{}).first;
  }
  it->second.c = {id, addr, in, out, capacity, false};
  it->second.heard = now;
}

void overlay_policy::dial_failed(node_id id, clock::time_point now) {
  auto& b = backoff_[id];
  b.step = b.step.count() == 0 ? p_.retry_min : std::min(b.step * 2, p_.retry_max);
  b.next = now + b.step;
}

void overlay_policy::dial_succeeded(node_id id) {
  backoff_.erase(id);
}

bool overlay_policy::may_dial(node_id id, clock::time_point now) const {
  auto it = backoff_.find(id);
  return it == backoff_.end() || it->second.next <= now;
}

dial_candidate overlay_policy::with_addr(dial_candidate c, const members_t& members) {
  if (c.member) {
    auto it = members.find(c.id);
    c.addr = it == members.end() ? std::string{} : it->second.addr();
  }
  return c;
}

void overlay_policy::expire(const members_t& members, clock::time_point now) {
  // A sweep a second is enough: a gone member's hint is never a candidate
  // (candidates() skips hints of members), and a hint outliving hint_ttl by
  // under a second changes nothing. Sweeping at every round was 11 % of the
  // simulator's CPU at 2 000 nodes.
  if (now < next_sweep_)
    return;
  next_sweep_ = now + std::chrono::seconds(1);
  for (auto it = hints_.begin(); it != hints_.end();) {
    auto m = members.find(it->first);
    // A hint about a member the table says is gone is gone too.
    bool gone = m != members.end() && !m->second.alive();
    it =
        (gone || now - it->second.heard > p_.hint_ttl) ? hints_.erase(it) : std::next(it);
  }
  for (auto it = backoff_.begin(); it != backoff_.end();)
    it = (!members.count(it->first) && !hints_.count(it->first) &&
          it->second.next + p_.retry_max < now)
             ? backoff_.erase(it)
             : std::next(it);
  for (auto it = asked_reverse_.begin(); it != asked_reverse_.end();)
    it = it->second < now ? asked_reverse_.erase(it) : std::next(it);
}

std::vector<dial_candidate> overlay_policy::candidates(const members_t& members,
                                                       clock::time_point) const {
  std::vector<dial_candidate> out;
  for (auto& [id, m] : members)
    if (m.alive() && m.serves())
      out.push_back(from_member(m));
  for (auto& [id, h] : hints_)
    if (!members.count(id))
      out.push_back(h.c);
  return out;
}

std::size_t overlay_policy::wanted_degree(const members_t& members,
                                          clock::time_point now) const {
  // Counted only up to the target: this runs at every maintenance round and
  // link change, and a full count made it O(members) each time (28 % of the
  // simulator's CPU at 1 000 nodes).
  std::size_t alive = 0;
  for (auto& [_, m] : members)
    if (m.alive() && ++alive >= p_.target_degree)
      return p_.target_degree;
  for (auto& [id, h] : hints_)
    if (!members.count(id) && now - h.heard <= p_.hint_fresh &&
        ++alive >= p_.target_degree)
      return p_.target_degree;
  return alive;
}

std::vector<overlay_policy::action>
overlay_policy::decide(const std::vector<link_view>& all_links,
                       const std::unordered_set<node_id>& pending,
                       const std::unordered_set<node_id>& dropping,
                       const members_t& members, clock::time_point now) {
  expire(members, now);
  // A peer that does not serve is never anyone's fallback: its link does not
  // count towards the degree.
  std::vector<link_view> links;
  for (auto& l : all_links) {
    auto m = members.find(l.peer);
    if (m == members.end() || m->second.rec.port != 0)
      links.push_back(l);
  }
  auto d = count(links);
  auto want = wanted_degree(members, now);
  auto find = [&](node_id id) -> const member* {
    auto it = members.find(id);
    return it == members.end() ? nullptr : &it->second;
  };
  auto shuffled = [&](auto pred) {
    std::vector<dial_candidate> out;
    for (auto& c : candidates(members, now))
      if (pred(c))
        out.push_back(c);
    std::shuffle(out.begin(), out.end(), rng_);
    return out;
  };

  // 1. Below the wanted degree and allowed to dial (out <= in): dial the node
  //    that most needs an inbound link, then the least loaded.
  if (d.total() < want && d.out <= d.in) {
    auto c = shuffled([&](const dial_candidate& m) {
      return m.capacity > 0 && !linked_to(links, m.id) && !pending.count(m.id) &&
             may_dial(m.id, now);
    });
    std::stable_sort(c.begin(), c.end(), [](auto& a, auto& b) {
      // A node short of inbound links first (it cannot dial for itself), then
      // the least loaded.
      int da = std::max(0, int{a.links_out} - int{a.links_in});
      int db = std::max(0, int{b.links_out} - int{b.links_in});
      if (da != db)
        return da > db;
      return a.load() < b.load();
    });
    if (!c.empty()) {
      auto m = with_addr(c.front(), members);
      // Say where we know it from: discovery or a redirect (a hint) or the
      // member table.
      auto source = m.member ? "member " : "discovered ";
      return {dial{m.id, m.addr,
                   source + to_hex(m.id) + ", load " + std::to_string(m.load()) +
                       " (in " + std::to_string(m.links_in) + ", out " +
                       std::to_string(m.links_out) + ", capacity " +
                       std::to_string(m.capacity) + ")"}};
    }
  }

  // 2. Drops, justified by established links alone: neither dials in flight
  //    (they are not in `all_links`... but the caller may pass them) nor links
  //    already going count.
  std::vector<link_view> est;
  for (auto& l : links)
    if (!dropping.count(l.peer) && !pending.count(l.peer))
      est.push_back(l);
  auto e = count(est);
  auto best_outbound = [&](std::uint32_t min_load) {
    const member* best = nullptr;
    for (auto& l : est) {
      auto* m = l.dir == direction::out ? find(l.peer) : nullptr;
      if (m && m->load() > min_load && (!best || m->load() > best->load()))
        best = m;
    }
    return best;
  };
  //    a. Too many outbound links and more links than needed: drop the
  //       outbound link to the best-connected peer (it keeps its fallback).
  //       If none can go, step 3 asks for an inbound link instead.
  if (e.out > e.in + 1 && e.total() > want && e.total() > p_.target_degree) {
    if (auto* best = best_outbound(2))
      return {drop{best->rec.node, "rebalance"}};
  }
  //    b. Far more links than the target: drop an outbound link to a peer
  //       that stays above the target, keeping out <= in + 1 and in >= 1.
  if (e.total() > p_.target_degree + 2 && e.out > 0 && e.in >= 1) {
    if (auto* best = best_outbound(static_cast<std::uint32_t>(p_.target_degree)))
      return {drop{best->rec.node, "trim"}};
  }

  // 3. Needs an inbound link: below the wanted degree but not allowed to dial,
  //    two links and none of them inbound, or more out than in + 1.
  bool need_in = (d.total() < want && d.out > d.in) || (d.total() >= 2 && d.in == 0) ||
                 d.out > d.in + 1;
  if (need_in && now >= next_ask_) {
    auto z = shuffled([&](const dial_candidate& m) {
      return m.member && m.capacity > 0 && !linked_to(links, m.id) &&
             !pending.count(m.id) && m.links_out <= m.links_in && may_dial(m.id, now);
    });
    // The least loaded first (everyone asking the node with the most spare
    // inbound links would pile links onto it), then the most spare.
    std::stable_sort(z.begin(), z.end(), [](auto& a, auto& b) {
      if (a.load() != b.load())
        return a.load() < b.load();
      int sa = int{a.links_in} - int{a.links_out};
      int sb = int{b.links_in} - int{b.links_out};
      return sa > sb;
    });
    if (!z.empty()) {
      next_ask_ = now + p_.ask_interval;
      return {invite{z.front().id, with_addr(z.front(), members).addr}};
    }
    // Nobody unlinked can dial us: ask an outbound peer with inbound links to
    // spare to turn our link around.
    const member* best = nullptr;
    for (auto& l : links) {
      if (l.dir != direction::out)
        continue;
      auto* m = find(l.peer);
      if (m && m->rec.links_out + 1 <= m->rec.links_in &&
          (!best ||
           m->rec.links_in - m->rec.links_out > best->rec.links_in - best->rec.links_out))
        best = m;
    }
    if (best) {
      next_ask_ = now + p_.ask_interval;
      asked_reverse_[best->rec.node] = now + p_.reverse_ttl;
      return {reverse{best->rec.node}};
    }
  }

  return {};
}

overlay_policy::admission overlay_policy::admit(const link_request& r,
                                                const std::vector<link_view>& links,
                                                bool linked, const members_t& members,
                                                clock::time_point now) {
  admission a;
  if (!r.serves && !linked && r.peer_load > 0) {
    // A dialer that does not serve gets at most one link in the overlay.
    a.what = admission::refuse;
    a.reason = "non-serving peer linked elsewhere";
    return a;
  }
  if (!linked && links.size() >= p_.max_degree) {
    a.what = admission::refuse;
    a.reason = "full";
    a.redirect = redirect_targets(r.peer, 4, members, now);
    return a;
  }
  if (r.callback && r.dir == direction::in) {
    if (accept_invite(links, r.peer)) {
      a.what = admission::call_back;
      a.reason = "callback";
    } else {
      a.what = admission::refuse;
      a.reason = "callback declined";
    }
    return a;
  }
  if (r.reverse && r.dir == direction::out) {
    a.reverse = true; // our own dial, turning a link around as its peer asked
  } else if (r.reverse) {
    // Honoured only if this node asked that peer to turn the link around:
    // otherwise any dialer could push a neighbour's real link out.
    auto it = asked_reverse_.find(r.peer);
    a.reverse = it != asked_reverse_.end() && it->second >= now;
    if (a.reverse)
      asked_reverse_.erase(it);
  }
  return a;
}

bool overlay_policy::accept_invite(const std::vector<link_view>& links,
                                   node_id requester) const {
  auto d = count(links);
  return requester != self_ && !linked_to(links, requester) &&
         d.total() < p_.max_degree && d.out <= d.in;
}

bool overlay_policy::accept_reverse(const std::vector<link_view>& links,
                                    node_id peer) const {
  auto d = count(links);
  bool inbound_from_peer = std::any_of(links.begin(), links.end(), [&](auto& l) {
    return l.peer == peer && l.dir == direction::in;
  });
  return inbound_from_peer && d.out + 1 <= d.in;
}

std::vector<dial_candidate>
overlay_policy::redirect_targets(node_id dialer, std::size_t n, const members_t& members,
                                 clock::time_point now) const {
  std::vector<dial_candidate> out;
  for (auto& c : candidates(members, now))
    if (c.id != dialer && c.capacity > 0)
      out.push_back(c);
  auto first_n = out.begin() + static_cast<long>(std::min(n, out.size()));
  std::partial_sort(out.begin(), first_n, out.end(), [](auto& a, auto& b) {
    return a.load() < b.load() || (a.load() == b.load() && a.id < b.id);
  });
  out.erase(first_n, out.end());
  for (auto& c : out)
    c = with_addr(std::move(c), members);
  return out;
}

} // namespace lanmesh
