#pragma once
// The overlay manager's decisions as a plain class: whom to dial, whom to ask
// for an inbound link, which link to reverse or drop, whether a finished
// handshake may stay (admission), where to redirect a dialer when full. No
// sockets, no actors, time passed in: the supervisor feeds it what it hears
// and carries out what it returns; tests and the simulator drive it directly.
// What it knows of other nodes is the member table (actors/proto/membership)
// plus short-lived hints from discovery and REDIRECTs, which never enter the
// member table.
//
// Rules it keeps (issue "self-healing overlay"):
// - degree >= min(target, cluster size - 1): a fallback link whenever the
//   cluster has three or more nodes; never above max (refused at handshake).
// - out <= in + 1, and in >= 1 once a node has two links: a node may dial only
//   while out <= in; a node that needs an inbound link asks a node with spare
//   inbound links to dial it (a CALLBACK hello), or asks one of its outbound
//   peers to re-dial the link the other way round (reverse), also whenever
//   out > in + 1; a node with out > in + 1 and more links than it needs drops
//   an outbound link to a peer that keeps a fallback; a node with more than
//   target + 2 links drops an outbound link to a peer above target (trim).
//   A drop must be justified by established links alone, never by dials in
//   flight or links already being dropped.

#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <variant>
#include <vector>

#include "actors/proto/link_table.hpp"
#include "actors/proto/membership.hpp"
#include "actors/proto/node_id.hpp"

namespace lanmesh {

struct overlay_params {
  std::size_t target_degree = 3;
  std::size_t max_degree = 8;
  /// A hint (a node discovery or a REDIRECT named) is kept this long ...
  std::chrono::milliseconds hint_ttl{30000};
  /// ... and counts as a live node (towards the wanted degree) this long.
  std::chrono::milliseconds hint_fresh{3000};
  std::size_t max_hints = 256;
  /// Per-node dial backoff after failures.
  std::chrono::milliseconds retry_min{250};
  std::chrono::milliseconds retry_max{10000};
  /// Least time between two asks for an inbound link (callback or reverse).
  std::chrono::milliseconds ask_interval{1000};
  /// A reversal this node asked for is honoured this long.
  std::chrono::milliseconds reverse_ttl{6000};
  std::uint64_t seed = 1;
};

/// A node this node could dial: a member or a hint.
struct dial_candidate {
  node_id id = 0;
  std::string addr; // "ip:port"
  std::uint16_t links_in = 0;
  std::uint16_t links_out = 0;
  std::uint16_t capacity = 0;
  bool member = false; // from the member table (else a hint)
  std::uint32_t load() const { return std::uint32_t{links_in} + links_out; }
};

struct link_view {
  node_id peer;
  direction dir;
};

/// A finished handshake, as admission sees it.
struct link_request {
  node_id peer = 0;
  direction dir = direction::in;
  bool serves = true;          // the peer listens (HELLO listen port != 0)
  std::uint32_t peer_load = 0; // its links, from its HELLO
  bool reverse = false;        // HELLO flag: replaces our link to it
  bool callback = false;       // HELLO flag: it asks us to dial it instead
};

class overlay_policy {
public:
  using clock = std::chrono::steady_clock;
  using members_t = std::unordered_map<node_id, member>;

  struct dial {
    node_id id;
    std::string addr;
    std::string reason;
  };
  struct invite { // dial `target` with the CALLBACK flag: it dials us back
    node_id target;
    std::string addr;
  };
  struct reverse { // ask outbound peer `peer` to re-dial us
    node_id peer;
  };
  struct drop {
    node_id peer;
    std::string reason;
  };
  using action = std::variant<dial, invite, reverse, drop>;

  struct admission {
    enum what_t { accept, refuse, call_back } what = accept;
    std::string reason;                   // refuse: "full", "non-serving ...", ...
    std::vector<dial_candidate> redirect; // refuse "full": nodes to try instead
    bool reverse = false;                 // accept: the reverse flag is honoured
  };

  overlay_policy(node_id self, overlay_params p);

  /// A node discovery or a REDIRECT named. Never enters the member table.
  void hint(node_id id, const std::string& addr, std::uint16_t in, std::uint16_t out,
            std::uint16_t capacity, clock::time_point now);
  void forget(node_id id) { hints_.erase(id); }

  void dial_failed(node_id id, clock::time_point now);
  void dial_succeeded(node_id id);

  /// What to do now, given this node's links, the peers being dialed, the
  /// links being dropped and the member table. Links to peers known not to
  /// serve do not count (nobody's fallback). At most one structural action
  /// per call; the caller calls it again later.
  std::vector<action> decide(const std::vector<link_view>& links,
                             const std::unordered_set<node_id>& pending,
                             const std::unordered_set<node_id>& dropping,
                             const members_t& members, clock::time_point now);

  /// Whether a finished handshake may stay: refused when full (with nodes to
  /// try instead), when a non-serving dialer is linked elsewhere already, or
  /// answered with a dial back (CALLBACK). A reverse flag counts only if
  /// this node asked that peer to reverse.
  admission admit(const link_request& r, const std::vector<link_view>& links, bool linked,
                  const members_t& members, clock::time_point now);

  /// Whether this node should honour `requester`'s callback (dial it).
  bool accept_invite(const std::vector<link_view>& links, node_id requester) const;

  /// Whether this node should re-dial `peer` (which dialed it) the other way.
  bool accept_reverse(const std::vector<link_view>& links, node_id peer) const;

  /// Up to `n` nodes a full node sends a dialer to: serving, with capacity,
  /// least loaded first, never the dialer itself.
  std::vector<dial_candidate> redirect_targets(node_id dialer, std::size_t n,
                                               const members_t& members,
                                               clock::time_point now) const;

  std::size_t hints() const { return hints_.size(); }

private:
  struct hint_entry {
    dial_candidate c;
    clock::time_point heard{};
  };
  struct backoff {
    clock::time_point next{};
    std::chrono::milliseconds step{0};
  };
  std::vector<dial_candidate> candidates(const members_t& members,
                                         clock::time_point now) const;
  std::size_t wanted_degree(const members_t& members, clock::time_point now) const;
  void expire(const members_t& members, clock::time_point now);
  /// `c` with its address: candidates() leaves a member's empty (building
  /// "ip:port" for every member at every round cost more than the choice).
  static dial_candidate with_addr(dial_candidate c, const members_t& members);
  bool may_dial(node_id id, clock::time_point now) const;

  node_id self_;
  overlay_params p_;
  std::mt19937_64 rng_;
  std::unordered_map<node_id, hint_entry> hints_;
  std::unordered_map<node_id, backoff> backoff_;
  std::unordered_map<node_id, clock::time_point> asked_reverse_;
  clock::time_point next_ask_{};
  clock::time_point next_sweep_{}; // expire() sweeps at most once a second
};

} // namespace lanmesh
