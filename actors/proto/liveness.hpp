#pragma once
// Is the peer of a silent link dead? The decision as plain classes: no
// sockets, no actors, time passed in. The connection actor feeds `liveness`
// what its link and socket show; the supervisor keeps `overlay_evidence`, the
// times each peer's own MEMBER flood reached this node over other links.
//
// Rule (issue 5, netns scenario `loss`):
// - Any frame on the link, bytes waiting unread in our socket (a stalled
//   machine), or new out-of-order segments (TCP is retransmitting a lost
//   one: the peer sends) mean the peer is alive.
// - A link silent for `dead_after` with none of these is suspect. If the
//   peer's own MEMBER flood reached us over other links within the last
//   `dead_after`, and more than `after_last_frame` (a heartbeat and a bit)
//   after the link's last frame, the peer process is alive and only this TCP
//   path stalls
//   (under packet loss a stream's head segment can wait seconds for its
//   retransmission): the link is kept and judged again later. Otherwise (the
//   peer is stopped, cut off, or crashed without a reset) it is dead, at
//   `dead_after` exactly as without this rule.
// - A link silent for `dead_after_max` is dead whatever the overlay says: a
//   path that stays broken one way is dropped in bounded time.
//
// Relayed floods prove the peer process runs, not that this link works; that
// is why the wait is bounded. A SIGSTOPped or cut-off peer floods nothing, so
// its links are never kept past `dead_after` by this rule (except in the rare
// race where it stops after flooding to other links but before flooding to
// ours: then by at most the time until that flood is `dead_after` old).

#include <chrono>
#include <cstdint>
#include <optional>
#include <unordered_map>

#include "actors/proto/node_id.hpp"

namespace lanmesh {

struct liveness_params {
  /// A link silent this long is suspect; dead unless the overlay vouches.
  std::chrono::milliseconds dead_after{2000};
  /// A link silent this long is dead even if the overlay vouches (>= dead_after).
  std::chrono::milliseconds dead_after_max{8000};
  /// A relayed flood vouches only if it came this much later than the link's
  /// last frame. The peer heartbeats on the link, so a peer that stopped sent
  /// its last flood at most a heartbeat after its last frame to us: longer
  /// than the heartbeat interval, this keeps such a flood from vouching.
  std::chrono::milliseconds after_last_frame{600};
};

/// What one probe of a link found.
struct link_facts {
  using duration = std::chrono::steady_clock::duration;
  /// Since the last frame on the link (or the last out-of-order progress).
  duration silent{};
  /// Bytes received by our socket but not read yet.
  std::uint64_t unread = 0;
  /// TCP received segments beyond a hole since the previous probe.
  bool out_of_order_moved = false;
  /// Since the peer's own MEMBER flood last reached us over another link;
  /// nullopt: never, or not asked.
  std::optional<duration> heard_elsewhere;
};

enum class verdict {
  alive,      // heard within dead_after, or bytes wait unread: nothing to do
  recovering, // TCP is retransmitting toward us: alive, restart the silence
  suspect,    // silent for dead_after on the link alone: ask the overlay
  waiting,    // silent, but the peer's flood reached us over other links: keep
  dead,       // drop the link
};

const char* to_string(verdict v);

class liveness {
public:
  using duration = link_facts::duration;

  explicit liveness(liveness_params p);

  /// The verdict from the link alone (`heard_elsewhere` is ignored): alive,
  /// recovering, suspect (the overlay may still vouch) or dead (silent for
  /// dead_after_max).
  verdict assess(const link_facts& f) const;

  /// The full verdict, overlay evidence included: alive, recovering, waiting
  /// or dead. Never suspect.
  verdict judge(const link_facts& f) const;

  const liveness_params& params() const { return p_; }

private:
  liveness_params p_;
};

/// When each peer's own MEMBER flood last reached this node over a link that
/// is not the link to that peer (the flood was relayed: hop count >= 2 at
/// arrival). Bounded: entries older than `max_age` are dropped by expire().
class overlay_evidence {
public:
  using clock = std::chrono::steady_clock;

  /// A MEMBER flood of `origin` arrived (first copy) after `hops` hops.
  void heard(node_id origin, std::uint16_t hops, clock::time_point now);

  /// How long ago `origin`'s flood last arrived relayed; nullopt: never (or
  /// expired).
  std::optional<clock::duration> since(node_id origin, clock::time_point now) const;

  /// Drops entries older than `max_age` at `now`.
  void expire(clock::time_point now, clock::duration max_age);

  std::size_t size() const { return relayed_.size(); }

private:
  std::unordered_map<node_id, clock::time_point> relayed_;
};

} // namespace lanmesh
