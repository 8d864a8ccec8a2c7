#include "actors/proto/topology_gather.hpp"

namespace lanmesh {

bool topology_gather::begin(std::uint64_t seq, node_id asker,
                            const std::string& asker_addr, wire::topo_reply own,
                            std::vector<std::pair<node_id, std::string>> known,
                            clock::time_point now) {
  auto& g = gathers_[seq];
  g.start = now;
  g.snap.asker = asker;
  g.snap.answers.push_back(std::move(own));
  g.snap.known.emplace_back(asker, asker_addr);
  for (auto& k : known) {
    if (k.first == asker || !g.waiting.insert(k.first).second)
      continue;
    g.snap.known.push_back(std::move(k));
  }
  return g.waiting.empty();
}

bool topology_gather::answer(wire::topo_reply r, const std::string& addr) {
  auto it = gathers_.find(r.query_seq);
  if (it == gathers_.end())
    return false; // late: the snapshot is out already
  auto& g = it->second;
  for (auto& a : g.snap.answers)
    if (a.node == r.node)
      return false;             // repeated
  if (!g.waiting.erase(r.node)) // a node we did not know of yet
    g.snap.known.emplace_back(r.node, addr);
  g.snap.answers.push_back(std::move(r));
  return g.waiting.empty();
}

std::optional<topology_snapshot> topology_gather::take(std::uint64_t seq,
                                                       clock::time_point now) {
  auto it = gathers_.find(seq);
  if (it == gathers_.end())
    return std::nullopt;
  auto snap = std::move(it->second.snap);
  snap.took_ms =
      std::chrono::duration<double, std::milli>(now - it->second.start).count();
  gathers_.erase(it);
  return snap;
}

} // namespace lanmesh
