#pragma once
// Gathering a topology snapshot (/topology), as a plain class: which nodes
// are still to answer, and the snapshot once they have or time is up. The
// question travels over the overlay and the answers come back along its
// path (the router does that); this class only keeps the books.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "actors/proto/node_id.hpp"
#include "net/wire.hpp"

namespace lanmesh {

/// A cluster topology snapshot gathered by one node.
struct topology_snapshot {
  node_id asker = 0;
  double took_ms = 0;
  std::vector<wire::topo_reply> answers; // the asker's own record included
  /// Every node known to the asker with its address; those absent from
  /// `answers` did not answer in time.
  std::vector<std::pair<node_id, std::string>> known;
};

class topology_gather {
public:
  using clock = std::chrono::steady_clock;

  /// Starts gathering the answers to query `seq`. `own`: this node's answer;
  /// `known`: every other node this node knows of, with its address.
  /// Returns true if there is nobody to wait for (take() at once).
  bool begin(std::uint64_t seq, node_id asker, const std::string& asker_addr,
             wire::topo_reply own, std::vector<std::pair<node_id, std::string>> known,
             clock::time_point now);
  /// An answer arrived; `addr` is the asker's address for its node, if it
  /// knows one. Returns true once every known node has answered.
  bool answer(wire::topo_reply r, const std::string& addr);
  /// The snapshot of `seq`, done or timed out; nullopt if none is pending.
  std::optional<topology_snapshot> take(std::uint64_t seq, clock::time_point now);
  bool pending(std::uint64_t seq) const { return gathers_.count(seq) > 0; }

private:
  struct gather {
    topology_snapshot snap;
    std::unordered_set<node_id> waiting;
    clock::time_point start{};
  };
  std::map<std::uint64_t, gather> gathers_;
};

} // namespace lanmesh
