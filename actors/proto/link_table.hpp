#pragma once
// The links of one node, one per peer. Decides what to do when a second link to
// the same peer completes its handshake: the link dialed by the node with the
// smaller id wins. Both ends apply the same rule to the same facts, so when two
// nodes dial each other at the same instant exactly one link survives on both
// sides, whatever order the handshakes finish in. Plain class, no I/O.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <unordered_map>

#include "actors/proto/node_id.hpp"

namespace lanmesh {

enum class direction : std::uint8_t { in, out };

const char* to_string(direction d);

/// Identifies one TCP connection of this node (not a peer: a peer may briefly
/// have two).
using conn_id = std::uint64_t;

struct link_entry {
  conn_id conn;
  node_id peer;
  direction dir;
};

class link_table {
public:
  explicit link_table(node_id self) : self_(self) {}

  enum class verdict {
    accept,  // first link to this peer
    replace, // wins over `retired`, which must be closed as duplicate
    refuse,  // loses to the existing link: close this one as duplicate
  };
  struct decision {
    verdict what;
    std::optional<link_entry> retired;
  };

  /// A handshake on `conn` completed with `peer`. Applies the decision. A
  /// `reverse` link (its HELLO carried the reverse flag: the acceptor asked
  /// for the link to be turned around) replaces the existing one on both ends.
  decision offer(conn_id conn, node_id peer, direction dir, bool reverse = false);

  /// Forgets `conn`. Returns its entry if it was the active link of its peer.
  std::optional<link_entry> remove(conn_id conn);

  const link_entry* find(node_id peer) const;
  bool linked(node_id peer) const { return find(peer) != nullptr; }
  std::size_t size() const { return by_peer_.size(); }
  std::size_t count(direction d) const;

  const std::unordered_map<node_id, link_entry>& links() const { return by_peer_; }

private:
  node_id dialer(const link_entry& e) const {
    return e.dir == direction::out ? self_ : e.peer;
  }

  node_id self_;
  std::unordered_map<node_id, link_entry> by_peer_;
};

} // namespace lanmesh
