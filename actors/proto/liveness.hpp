#pragma once
// Is the peer of a silent link dead? The decision as a plain class: no
// sockets, no actors, time passed in. The connection actor feeds it what its
// link and socket show, and what the probes of a suspect link found
// (actors/proto/probe_tracker: UDP probes, direct and through other
// neighbours, as SWIM does).
//
// Rule (issue 5, netns scenarios `loss` and `oneway`; issue 12):
// - Any frame on the link, bytes waiting unread in our socket (a stalled
//   machine), or new out-of-order segments (TCP is retransmitting a lost
//   one: the peer sends) mean the peer is alive.
// - Both sides send a heartbeat every `overlay.heartbeat`; a link silent a
//   little longer is suspect and its peer is probed. A link silent for
//   `dead_after` with none of the signs above is dead, unless the peer
//   answered a probe within the last `dead_after`, more than
//   `after_last_frame` after the link's last frame (an answer to a probe of
//   this silence, not an old one): then the peer process runs and only this
//   TCP path stalls (under packet loss a stream's head segment can wait
//   seconds for its retransmission), and the link is kept and judged again.
//   A stopped, cut-off or crashed peer answers nothing, so it is dead at
//   `dead_after` exactly.
// - A link silent for `dead_after_max` is dead whatever the probes say: a
//   path that stays broken one way is dropped in bounded time.

#include <chrono>
#include <cstdint>
#include <optional>

#include "actors/proto/node_id.hpp"

namespace lanmesh {

struct liveness_params {
  /// A link silent this long is suspect; dead unless the overlay vouches.
  std::chrono::milliseconds dead_after{2000};
  /// A link silent this long is dead even if the overlay vouches (>= dead_after).
  std::chrono::milliseconds dead_after_max{8000};
  /// A probe answer vouches only if it came this much later than the link's
  /// last frame: probes start once the link is silent longer than a
  /// heartbeat, so an answer to an earlier suspicion cannot vouch.
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
  /// Since the peer last answered a probe of this silence; nullopt: never,
  /// or not asked.
  std::optional<duration> probe_answered;
};

enum class verdict {
  alive,      // heard within dead_after, or bytes wait unread: nothing to do
  recovering, // TCP is retransmitting toward us: alive, restart the silence
  suspect,    // silent for dead_after on the link alone: ask the overlay
  waiting,    // silent, but the peer answers probes: keep
  dead,       // drop the link
};

const char* to_string(verdict v);

class liveness {
public:
  using duration = link_facts::duration;

  explicit liveness(liveness_params p);

  /// The verdict from the link alone (`probe_answered` is ignored): alive,
  /// recovering, suspect (probes may still vouch) or dead (silent for
  /// dead_after_max).
  verdict assess(const link_facts& f) const;

  /// The full verdict, probe answers included: alive, recovering, waiting or
  /// dead. Never suspect.
  verdict judge(const link_facts& f) const;

  const liveness_params& params() const { return p_; }

private:
  liveness_params p_;
};

} // namespace lanmesh
