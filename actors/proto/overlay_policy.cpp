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

} // namespace

overlay_policy::overlay_policy(node_id self, overlay_params p)
    : self_(self), p_(p), rng_(p.seed) {}

void overlay_policy::heard(node_id id, const std::string& addr, std::uint16_t in,
                           std::uint16_t out, std::uint16_t capacity, bool via_overlay,
                           clock::time_point now) {
  if (id == self_ || id == 0)
    return;
  auto it = members_.find(id);
  if (it == members_.end()) {
    if (members_.size() >= p_.max_members) {
      // Full: the member heard of longest ago makes room; memory stays bounded.
      auto oldest =
          std::min_element(members_.begin(), members_.end(), [](auto& a, auto& b) {
            return a.second.heard_any < b.second.heard_any;
          });
      members_.erase(oldest);
    }
    it = members_.emplace(id, member_info{}).first;
    it->second.id = id;
  }
  auto& m = it->second;
  if (!addr.empty())
    m.addr = addr;
  m.links_in = in;
  m.links_out = out;
  m.capacity = capacity;
  m.heard_any = now;
  if (via_overlay)
    m.heard_overlay = now;
}

void overlay_policy::dial_failed(node_id id, clock::time_point now) {
  auto it = members_.find(id);
  if (it == members_.end())
    return;
  auto& m = it->second;
  m.backoff =
      m.backoff.count() == 0 ? p_.retry_min : std::min(m.backoff * 2, p_.retry_max);
  m.next_dial = now + m.backoff;
}

void overlay_policy::dial_succeeded(node_id id) {
  auto it = members_.find(id);
  if (it != members_.end()) {
    it->second.backoff = std::chrono::milliseconds(0);
    it->second.next_dial = {};
  }
}

const member_info* overlay_policy::find(node_id id) const {
  auto it = members_.find(id);
  return it == members_.end() ? nullptr : &it->second;
}

bool overlay_policy::in_reach(const member_info& m, clock::time_point now) const {
  return m.heard_overlay != clock::time_point{} &&
         now - m.heard_overlay <= p_.reach_timeout;
}

std::size_t overlay_policy::reachable(clock::time_point now) const {
  return static_cast<std::size_t>(
      std::count_if(members_.begin(), members_.end(),
                    [&](auto& kv) { return in_reach(kv.second, now); }));
}

std::size_t overlay_policy::wanted_degree(clock::time_point now) const {
  // Other nodes that seem alive: reachable over the overlay, or fresh news
  // from discovery or a handshake.
  std::size_t alive = 0;
  for (auto& [_, m] : members_)
    if (in_reach(m, now) || now - m.heard_any <= p_.reach_timeout)
      ++alive;
  return std::min(p_.target_degree, alive);
}

void overlay_policy::expire(clock::time_point now) {
  for (auto it = members_.begin(); it != members_.end();) {
    if (now - it->second.heard_any > p_.forget_after)
      it = members_.erase(it);
    else
      ++it;
  }
}

std::vector<overlay_policy::action>
overlay_policy::decide(const std::vector<link_view>& all_links,
                       const std::unordered_set<node_id>& pending,
                       clock::time_point now) {
  expire(now);
  // A peer that does not serve is never anyone's fallback: its link does not
  // count towards the degree.
  std::vector<link_view> links;
  for (auto& l : all_links) {
    auto* m = find(l.peer);
    if (!m || m->serves())
      links.push_back(l);
  }
  auto d = count(links);
  auto want = wanted_degree(now);
  auto dialable = [&](const member_info& m) {
    return m.serves() && m.capacity > 0 && !linked_to(links, m.id) &&
           !pending.count(m.id) && m.next_dial <= now;
  };
  auto shuffled = [&](auto pred) {
    std::vector<const member_info*> out;
    for (auto& [_, m] : members_)
      if (pred(m))
        out.push_back(&m);
    std::shuffle(out.begin(), out.end(), rng_);
    return out;
  };

  // 1. Partition repair: a node heard over the overlay before, silent now,
  //    is dialed again by one node of this side: the smallest reachable id.
  if (d.total() < p_.max_degree) {
    bool leader = true;
    for (auto& [id, m] : members_)
      if (in_reach(m, now) && id < self_ && m.capacity > 0)
        leader = false;
    if (leader) {
      auto lost = shuffled([&](const member_info& m) {
        return m.heard_overlay != clock::time_point{} && !in_reach(m, now) &&
               m.serves() && !linked_to(links, m.id) && !pending.count(m.id) &&
               m.next_dial <= now;
      });
      if (!lost.empty()) {
        auto silent = std::chrono::duration_cast<std::chrono::milliseconds>(
            now - lost.front()->heard_overlay);
        return {dial{lost.front()->id, lost.front()->addr,
                     "out of reach for " + std::to_string(silent.count()) + " ms"}};
      }
    }
  }

  // 2. Below the wanted degree and allowed to dial (out <= in): dial the node
  //    that most needs an inbound link, then the least loaded.
  if (d.total() < want && d.out <= d.in) {
    auto c = shuffled(dialable);
    std::stable_sort(c.begin(), c.end(), [](auto* a, auto* b) {
      // A node short of inbound links first (it cannot dial for itself), then
      // the least loaded.
      int da = std::max(0, int{a->links_out} - int{a->links_in});
      int db = std::max(0, int{b->links_out} - int{b->links_in});
      if (da != db)
        return da > db;
      return a->load() < b->load();
    });
    if (!c.empty()) {
      auto& m = *c.front();
      // Say where we know it from: discovery (never heard over the overlay
      // yet) or the overlay's own MEMBER floods.
      auto source = m.heard_overlay == clock::time_point{} ? "discovered " : "member ";
      return {dial{m.id, m.addr,
                   source + to_hex(m.id) + ", load " + std::to_string(m.load()) +
                       " (in " + std::to_string(m.links_in) + ", out " +
                       std::to_string(m.links_out) + ", capacity " +
                       std::to_string(m.capacity) + ")"}};
    }
  }

  // 3. Too many outbound links and more links than needed: drop the outbound
  //    link to the best-connected peer (it keeps its fallback). If none can
  //    go, step 4 asks for an inbound link instead.
  if (d.out > d.in + 1 && d.total() > want) {
    const member_info* best = nullptr;
    for (auto& l : links) {
      auto* m = l.dir == direction::out ? find(l.peer) : nullptr;
      if (m && m->load() > 2 && (!best || m->load() > best->load()))
        best = m;
    }
    if (best)
      return {drop{best->id, "rebalance"}};
  }
  // 4. Needs an inbound link: below the wanted degree but not allowed to dial,
  //    two links and none of them inbound, or more out than in + 1.
  bool need_in = (d.total() < want && d.out > d.in) || (d.total() >= 2 && d.in == 0) ||
                 d.out > d.in + 1;
  if (need_in && now >= next_ask_) {
    auto z = shuffled([&](const member_info& m) {
      return in_reach(m, now) && m.capacity > 0 && !linked_to(links, m.id) &&
             m.links_out <= m.links_in;
    });
    // The least loaded first (everyone asking the node with the most spare
    // inbound links would pile links onto it), then the most spare.
    std::stable_sort(z.begin(), z.end(), [](auto* a, auto* b) {
      if (a->load() != b->load())
        return a->load() < b->load();
      int sa = int{a->links_in} - int{a->links_out};
      int sb = int{b->links_in} - int{b->links_out};
      return sa > sb;
    });
    if (!z.empty()) {
      next_ask_ = now + p_.ask_interval;
      return {invite{z.front()->id}};
    }
    // Nobody unlinked can dial us: ask an outbound peer with inbound links to
    // spare to turn our link around.
    const member_info* best = nullptr;
    for (auto& l : links) {
      if (l.dir != direction::out)
        continue;
      auto* m = find(l.peer);
      if (m && m->links_out + 1 <= m->links_in &&
          (!best || m->links_in - m->links_out > best->links_in - best->links_out))
        best = m;
    }
    if (best) {
      next_ask_ = now + p_.ask_interval;
      return {reverse{best->id}};
    }
  }

  return {};
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

std::vector<member_info> overlay_policy::redirect_targets(node_id dialer,
                                                          std::size_t n) const {
  std::vector<member_info> out;
  for (auto& [id, m] : members_)
    if (id != dialer && m.serves() && m.capacity > 0)
      out.push_back(m);
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) {
    return a.load() < b.load() || (a.load() == b.load() && a.id < b.id);
  });
  if (out.size() > n)
    out.resize(n);
  return out;
}

} // namespace lanmesh
