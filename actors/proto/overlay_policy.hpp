#pragma once
// The overlay manager's decisions as a plain class: whom to dial, whom to ask
// for an inbound link, which link to reverse or drop, where to redirect a
// dialer when full, and when a known node has fallen out of reach (partition)
// so that it is dialed again. No sockets, no actors, time passed in: the
// supervisor feeds it what it hears and carries out what it returns; tests and
// the simulator in tests/actors/proto drive it directly.
//
// Rules it keeps (issue "self-healing overlay"):
// - degree >= min(target, cluster size - 1): a fallback link whenever the
//   cluster has three or more nodes; never above max (refused at handshake).
// - out <= in + 1, and in >= 1 once a node has two links: a node may dial only
//   while out <= in; a node that needs an inbound link asks a node with spare
//   inbound links to dial it (invite), or asks one of its outbound peers to
//   re-dial the link the other way round (reverse), also whenever out > in + 1;
//   a node with out > in + 1 and more links than it needs drops an outbound
//   link to a peer that keeps a fallback.
// - partitions: a node heard before over the overlay but not for a while is
//   dialed again, by one node per side (the smallest reachable id), until it
//   answers or is forgotten.

#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <variant>
#include <vector>

#include "actors/proto/link_table.hpp"
#include "actors/proto/node_id.hpp"

namespace lanmesh {

struct overlay_params {
  std::size_t target_degree = 3;
  std::size_t max_degree = 8;
  /// A member not heard over the overlay for this long is out of reach.
  std::chrono::milliseconds reach_timeout{3000};
  /// A member not heard at all for this long is forgotten.
  std::chrono::milliseconds forget_after{120000};
  /// Per-member dial backoff after failures.
  std::chrono::milliseconds retry_min{250};
  std::chrono::milliseconds retry_max{10000};
  /// Least time between two asks for an inbound link (invite or reverse).
  std::chrono::milliseconds ask_interval{1000};
  /// Bound of the member table.
  std::size_t max_members = 1024;
  std::uint64_t seed = 1;
};

/// What this node knows of another node.
struct member_info {
  node_id id = 0;
  std::string addr; // "ip:port" of its listener; empty if it does not serve
  std::uint16_t links_in = 0;
  std::uint16_t links_out = 0;
  std::uint16_t capacity = 0;
  using time_point = std::chrono::steady_clock::time_point;
  time_point heard_overlay{}; // last MEMBER flood from it (epoch: never)
  time_point heard_any{};     // last news of it from any source
  time_point next_dial{};     // earliest next dial after a failure
  std::chrono::milliseconds backoff{0};
  std::uint32_t load() const { return std::uint32_t{links_in} + links_out; }
  bool serves() const { return !addr.empty(); }
};

struct link_view {
  node_id peer;
  direction dir;
};

class overlay_policy {
public:
  using clock = std::chrono::steady_clock;

  struct dial {
    node_id id;
    std::string addr;
    std::string reason;
  };
  struct invite { // ask `target` to dial us
    node_id target;
  };
  struct reverse { // ask outbound peer `peer` to re-dial us
    node_id peer;
  };
  struct drop {
    node_id peer;
    std::string reason;
  };
  using action = std::variant<dial, invite, reverse, drop>;

  overlay_policy(node_id self, overlay_params p);

  /// News of a member: from its MEMBER flood (`via_overlay`), from discovery
  /// or a handshake. An empty `addr` keeps the address already known.
  void heard(node_id id, const std::string& addr, std::uint16_t in, std::uint16_t out,
             std::uint16_t capacity, bool via_overlay, clock::time_point now);

  void dial_failed(node_id id, clock::time_point now);
  void dial_succeeded(node_id id);
  void forget(node_id id) { members_.erase(id); }

  /// What to do now, given this node's links and the peers being dialed.
  /// Links to peers known not to serve do not count (nobody's fallback). At
  /// most one structural action per call; the caller calls it again later.
  std::vector<action> decide(const std::vector<link_view>& links,
                             const std::unordered_set<node_id>& pending,
                             clock::time_point now);

  /// Whether this node should honour `requester`'s invite (dial it).
  bool accept_invite(const std::vector<link_view>& links, node_id requester) const;

  /// Whether this node should re-dial `peer` (which dialed it) the other way.
  bool accept_reverse(const std::vector<link_view>& links, node_id peer) const;

  /// Up to `n` nodes a full node sends a dialer to: serving, with capacity,
  /// least loaded first, never the dialer itself.
  std::vector<member_info> redirect_targets(node_id dialer, std::size_t n) const;

  /// Members heard over the overlay within the reach timeout.
  std::size_t reachable(clock::time_point now) const;
  const std::unordered_map<node_id, member_info>& members() const { return members_; }
  const member_info* find(node_id id) const;

private:
  bool in_reach(const member_info& m, clock::time_point now) const;
  std::size_t wanted_degree(clock::time_point now) const;
  void expire(clock::time_point now);

  node_id self_;
  overlay_params p_;
  std::mt19937_64 rng_;
  std::unordered_map<node_id, member_info> members_;
  clock::time_point next_ask_{};
};

} // namespace lanmesh
