#pragma once
// Liveness probes of a neighbour whose link has fallen silent, as a plain
// class (no sockets, no actors, time passed in). SWIM's idea, on top of the
// link's own heartbeats: while a link is suspect, this node asks the peer
// over UDP whether it runs (a datagram does not wait behind a TCP stream
// stalled by packet loss), and asks a few other neighbours to ask it too
// (their paths to the peer are not ours). An answer naming one of this
// node's nonces is evidence that the peer process runs; the link's
// liveness rule (actors/proto/liveness) then keeps the link for a while,
// and an unanswered suspect is unreachable.
//
// It also serves the other side: a neighbour's PROBE_REQ makes this node
// probe the named node and pass an answer back as PROBE_ACK.

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <unordered_map>
#include <variant>
#include <vector>

#include "actors/proto/node_id.hpp"
#include "net/wire.hpp"

namespace lanmesh {

struct probe_params {
  /// A suspect is probed again this often.
  std::chrono::milliseconds interval{200};
  /// Other neighbours asked per round.
  std::size_t indirect = 2;
  /// A suspect is probed at most this long (the link's longest wait).
  std::chrono::milliseconds give_up{8000};
  /// Bounds: suspects at once, probes asked of us at once, nonces in flight.
  std::size_t max_suspects = 16;
  std::size_t max_relayed = 64;
  std::size_t max_nonces = 256;
  /// An answer later than this is ignored.
  std::chrono::milliseconds nonce_ttl{1000};
  std::uint64_t seed = 1;
};

struct probe_stats {
  std::uint64_t direct = 0;        // UDP probes sent for our suspects
  std::uint64_t indirect = 0;      // PROBE_REQs sent to other neighbours
  std::uint64_t relayed = 0;       // UDP probes sent for a neighbour's PROBE_REQ
  std::uint64_t answers = 0;       // answers to our probes (direct or relayed)
  std::uint64_t relay_refused = 0; // PROBE_REQs dropped: bounds, bad address
  std::uint64_t unmatched = 0;     // answers naming no nonce of ours
};

class probe_tracker {
public:
  using clock = std::chrono::steady_clock;
  using time_point = clock::time_point;

  /// Send a UDP probe to `to` at ip:port.
  struct udp_probe {
    std::uint32_t ip;
    std::uint16_t port;
    node_id to;
    std::uint64_t nonce;
  };
  /// Ask neighbour `via` to probe (PROBE_REQ).
  struct ask {
    node_id via;
    wire::probe_req req;
  };
  /// Tell neighbour `to` its probe was answered (PROBE_ACK).
  struct answer {
    node_id to;
    wire::probe_ack ack;
  };
  using command = std::variant<udp_probe, ask, answer>;
  using commands = std::vector<command>;

  explicit probe_tracker(probe_params p);

  /// The link to `target` is suspect: probe it now and every interval
  /// until cleared or give_up. `via`: the other neighbours.
  commands suspect(node_id target, std::uint32_t ip, std::uint16_t probe_port,
                   const std::vector<node_id>& via, time_point now);
  /// The link spoke again, or is gone: stop probing and forget the evidence.
  void clear(node_id target);
  /// Probes due now; `via(target)` lists the neighbours to ask.
  template <class Via> commands tick(Via&& via, time_point now);
  time_point next_wakeup() const;

  /// A UDP answer from `from` naming `nonce`.
  commands udp_answer(node_id from, std::uint64_t nonce, time_point now);
  /// A neighbour's PROBE_ACK.
  void neighbour_answer(node_id via, const wire::probe_ack& a, time_point now);
  /// A neighbour asks this node to probe a third (PROBE_REQ). A loopback
  /// target is probed only for a neighbour on loopback (`loopback_ok`).
  commands request(node_id from, const wire::probe_req& r, bool loopback_ok,
                   time_point now);

  /// How long ago `target` last answered a probe of the current suspicion;
  /// nullopt: not since it became suspect.
  std::optional<clock::duration> heard(node_id target, time_point now) const;
  bool suspecting(node_id target) const { return suspects_.count(target) > 0; }
  const probe_stats& stats() const { return stats_; }

private:
  struct suspect_state {
    std::uint32_t ip = 0;
    std::uint16_t port = 0;
    time_point since{};
    time_point next{};
    std::optional<time_point> answered;
  };
  struct nonce_state {
    node_id target = 0;
    time_point expires{};
    node_id requester = 0; // 0: our own probe
    std::uint64_t requester_nonce = 0;
  };
  commands round(node_id target, suspect_state& s, const std::vector<node_id>& via,
                 time_point now);
  std::uint64_t fresh_nonce(node_id target, time_point now, node_id requester = 0,
                            std::uint64_t requester_nonce = 0);
  void expire_nonces(time_point now);

  probe_params p_;
  std::mt19937_64 rng_;
  std::unordered_map<node_id, suspect_state> suspects_;
  std::unordered_map<std::uint64_t, nonce_state> nonces_;
  std::size_t relayed_in_flight_ = 0;
  probe_stats stats_;
};

template <class Via>
probe_tracker::commands probe_tracker::tick(Via&& via, time_point now) {
  commands out;
  expire_nonces(now);
  for (auto it = suspects_.begin(); it != suspects_.end();) {
    if (now - it->second.since >= p_.give_up) {
      it = suspects_.erase(it);
      continue;
    }
    if (now >= it->second.next) {
      auto more = round(it->first, it->second, via(it->first), now);
      out.insert(out.end(), more.begin(), more.end());
    }
    ++it;
  }
  return out;
}

} // namespace lanmesh
