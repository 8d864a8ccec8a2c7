#pragma once
// The typed messages between lanmesh's actors, declared once.
//
//   io thread --(frame, bad input, closed)--> connection
//   acceptor --(inbound session)--> supervisor --spawns/monitors--> connection
//   connection --(register, link_closed, membership frames, suspect)--> supervisor
//   supervisor --(link up/replace/down)--> router
//   io thread: probe socket --(answers to our probes)--> supervisor
//   router --(link set, in order)--> relay (I/O thread, actors/proto/relay)
//   io thread: session --(broadcasts of one socket read)--> relay --(frames)--> sessions,
//              relay --(deliveries)--> stdout writer
//   (until a link's handshake is done, its broadcasts go via its connection
//   and the router to the relay)
//   console <--(events)-- supervisor;  console --(broadcast, queries)--> router,
//   supervisor;  console --(lines)--> stdout writer

#include <array>
#include <caf/all.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "actors/proto/broadcast_plane.hpp"
#include "actors/proto/discovery_logic.hpp"
#include "actors/proto/link_table.hpp"
#include "actors/proto/membership.hpp"
#include "actors/proto/node_id.hpp"
#include "actors/proto/probe_tracker.hpp"
#include "actors/proto/topology_gather.hpp"
#include "net/tcp_session.hpp"
#include "net/wire.hpp"

namespace lanmesh {

// Atoms (at most 10 characters each in CAF 0.17).
using bad_input_atom = caf::atom_constant<caf::atom("bad_input")>;
using closed_atom = caf::atom_constant<caf::atom("closed")>;
using auth_atom = caf::atom_constant<caf::atom("auth")>;
using send_atom = caf::atom_constant<caf::atom("send")>;
using retire_atom = caf::atom_constant<caf::atom("retire")>;
using standby_atom = caf::atom_constant<caf::atom("standby")>;
using tick_atom = caf::atom_constant<caf::atom("tick")>;
using hs_timeout_atom = caf::atom_constant<caf::atom("hs_timeout")>;
using register_atom = caf::atom_constant<caf::atom("register")>;
using link_up_atom = caf::atom_constant<caf::atom("link_up")>;
using link_down_atom = caf::atom_constant<caf::atom("link_down")>;
using replace_atom = caf::atom_constant<caf::atom("replace")>;
using inbound_atom = caf::atom_constant<caf::atom("inbound")>;
using dial_atom = caf::atom_constant<caf::atom("dial")>;
using dialed_atom = caf::atom_constant<caf::atom("dialed")>;
using broadcast_atom = caf::atom_constant<caf::atom("broadcast")>;
using stats_atom = caf::atom_constant<caf::atom("stats")>;
using peers_atom = caf::atom_constant<caf::atom("peers")>;
using line_atom = caf::atom_constant<caf::atom("line")>;
using shutdown_atom = caf::atom_constant<caf::atom("shutdown")>;
using final_atom = caf::atom_constant<caf::atom("final")>;
using wire_atom = caf::atom_constant<caf::atom("wire")>;
using datagram_atom = caf::atom_constant<caf::atom("datagram")>;
using load_atom = caf::atom_constant<caf::atom("load")>;
using candidates_atom = caf::atom_constant<caf::atom("candidates")>;
/// supervisor -> discovery: how many members are alive (announcements and
/// answers thin out in a big cluster).
using cluster_size_atom = caf::atom_constant<caf::atom("csize")>;
using forget_atom = caf::atom_constant<caf::atom("forget")>;
using members_atom = caf::atom_constant<caf::atom("members")>;
using sync_atom = caf::atom_constant<caf::atom("sync")>;
using suspect_atom = caf::atom_constant<caf::atom("suspect")>;
using probe_req_atom = caf::atom_constant<caf::atom("probe_req")>;
using probe_ack_atom = caf::atom_constant<caf::atom("probe_ack")>;
using udp_ack_atom = caf::atom_constant<caf::atom("udp_ack")>;
using peer_load_atom = caf::atom_constant<caf::atom("peer_load")>;
using confirm_atom = caf::atom_constant<caf::atom("confirm")>;
using wake_atom = caf::atom_constant<caf::atom("wake")>;
using reverse_atom = caf::atom_constant<caf::atom("reverse")>;
using redirect_atom = caf::atom_constant<caf::atom("redirect")>;
using rtt_atom = caf::atom_constant<caf::atom("rtt")>;
using maintain_atom = caf::atom_constant<caf::atom("maintain")>;
using alive_atom = caf::atom_constant<caf::atom("alive")>;
using topology_atom = caf::atom_constant<caf::atom("topology")>;
using probe_atom = caf::atom_constant<caf::atom("probe")>;
/// control socket / console -> control actor: one JSON request line.
using request_atom = caf::atom_constant<caf::atom("request")>;
/// metrics endpoint -> control actor: the Prometheus text, please.
using metrics_atom = caf::atom_constant<caf::atom("metrics")>;
/// connection -> supervisor: ms since the peer of a suspect link last
/// answered a probe (-1: not since it became suspect).
using heard_atom = caf::atom_constant<caf::atom("heard")>;

/// The session (socket) of one link. Handles are never serialized: lanmesh
/// actors only talk within one process.
using session_ptr = std::shared_ptr<net::tcp_session>;

/// How the router writes to a link: straight into its session's write queue
/// (tcp_session::send_data), without an actor hop per frame. Tests put their
/// own function here.
using link_writer = std::function<void(std::vector<net::shared_bytes>)>;

/// Counters of one connection.
struct link_counters {
  std::uint64_t frames_in = 0;
  std::uint64_t frames_out = 0;
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  link_counters& operator+=(const link_counters& o) {
    frames_in += o.frames_in;
    frames_out += o.frames_out;
    bytes_in += o.bytes_in;
    bytes_out += o.bytes_out;
    return *this;
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, link_counters& x) {
  return f(caf::meta::type_name("link_counters"), x.frames_in, x.frames_out, x.bytes_in,
           x.bytes_out);
}

/// A completed handshake, offered to the supervisor for its link table.
struct link_offer {
  conn_id conn = 0;
  node_id peer = 0;
  direction dir = direction::in;
  std::string addr; // the peer's listening address "ip:port" ("" if it does not serve)
  bool reverse = false;  // the HELLO carried the reverse flag
  bool callback = false; // the HELLO asks us to dial back instead
  bool loopback = false; // the link is on the loopback interface
  /// The peer's own membership record from its HELLO; ip as its link comes.
  wire::member_record record;
};

/// A link that stopped carrying traffic, and why.
struct link_closed {
  conn_id conn = 0;
  std::string reason;    // goodbye, reset, timeout, duplicate, bad frame, ...
  std::string bad_frame; // wire::error_code name if the peer broke a wire rule
  /// For a timeout: the peer answered probes while its link was silent.
  bool peer_alive = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, link_closed& x) {
  return f(caf::meta::type_name("link_closed"), x.conn, x.reason, x.bad_frame,
           x.peer_alive);
}

/// The supervisor's answer to a link_offer: empty `refusal` to accept,
/// "standby", "duplicate", "full" (then with a REDIRECT frame to send first),
/// "callback" (we dial the peer instead) or another reason to refuse.
struct register_reply {
  std::string refusal;
  net::shared_bytes redirect;
};

/// Broadcasts that arrived from a peer before its link was established, for
/// the router to hand to the relay. Still encoded: whole BROADCAST frames
/// one after the other (wire::for_each_broadcast reads them).
struct inbound_broadcasts {
  net::shared_bytes frames;
  std::size_t count = 0;
  node_id from = 0;
};

struct router_stats {
  std::uint64_t sent = 0;  // local broadcasts originated
  std::uint64_t links = 0; // links the router writes to
  plane_stats plane;       // the broadcast plane's (relay or tree)
  std::string mode;        // "tree" or "flood"
};

/// Heartbeat round trips of every link since start, as a Prometheus
/// histogram (lanmesh_link_rtt_seconds).
struct rtt_histogram {
  /// Upper bounds of the buckets in microseconds; a last one, +Inf, is implied.
  static constexpr std::array<std::int64_t, 14> bounds_us{
      50,    100,   250,   500,    1000,   2500,   5000,
      10000, 25000, 50000, 100000, 250000, 500000, 1000000};
  std::vector<std::uint64_t> counts = std::vector<std::uint64_t>(bounds_us.size() + 1);
  std::uint64_t count = 0;
  std::int64_t sum_us = 0;
  void observe(std::int64_t us) {
    std::size_t i = 0;
    while (i < bounds_us.size() && us > bounds_us[i])
      ++i;
    counts[i] += 1;
    count += 1;
    sum_us += us;
  }
};

struct supervisor_stats {
  link_counters traffic;
  std::uint64_t links_in = 0;
  std::uint64_t links_out = 0;
  std::uint64_t bad_frames = 0;
  std::uint64_t handshake_timeouts = 0;
  std::uint64_t auth_failures = 0;   // links that failed the cluster key (or broke it)
  std::uint64_t pending_refused = 0; // inbound links closed at once: node.max-pending
  std::uint64_t refused = 0; // handshakes refused (cluster, self, version, duplicate)
  std::uint64_t dials = 0;
  std::uint64_t dial_failures = 0;
  std::uint64_t redials = 0; // dials that replaced or repaired links (overlay manager)
  std::uint64_t members = 0; // alive members known besides this node
  std::uint64_t redirects_rejected = 0; // REDIRECTs on a link we did not dial, or late
  membership_stats membership;
  probe_stats probes;
  std::uint64_t udp_sent = 0, udp_answered = 0, udp_bad = 0, udp_foreign = 0;
  std::vector<std::pair<std::string, std::uint64_t>> bad_by_rule;
  std::vector<std::pair<node_id, std::int64_t>> rtt_us; // per link, -1 if unmeasured
  rtt_histogram rtt_hist;                               // every heartbeat round trip
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, candidate& x) {
  // `seen` is local bookkeeping of the discovery actor; it does not travel.
  return f(caf::meta::type_name("candidate"), x.id, x.ip, x.port, x.links_in, x.links_out,
           x.capacity);
}

struct discovery_stats {
  std::uint64_t sent = 0;
  std::uint64_t received = 0;
  std::uint64_t bad = 0;     // garbage, truncated, oversized, wrong version
  std::uint64_t foreign = 0; // another cluster on the same group and port
  std::uint64_t candidates = 0;
  std::uint64_t answers_limited = 0; // queries not answered (rate or bound)
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, discovery_stats& x) {
  return f(caf::meta::type_name("discovery_stats"), x.sent, x.received, x.bad, x.foreign,
           x.candidates, x.answers_limited);
}

struct peer_info {
  node_id peer = 0;
  std::string addr;
  direction dir = direction::in;
  std::int64_t age_ms = 0;
  std::int64_t rtt_us = -1;       // last heartbeat round trip, -1 if none yet
  std::int64_t heartbeat_ms = -1; // time since that heartbeat answer
  std::uint64_t queued_bytes = 0; // waiting in the link's write queue
  std::uint64_t frames_in = 0, frames_out = 0;
};

/// One line of /members.
struct member_info {
  node_id id = 0;
  std::string addr;
  wire::member_state state = wire::member_state::alive;
  std::uint64_t incarnation = 0;
  std::uint16_t links_in = 0, links_out = 0, capacity = 0;
  bool linked = false;
  std::int64_t changed_ms = 0; // since the last news of it
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, peer_info& x) {
  return f(caf::meta::type_name("peer_info"), x.peer, x.addr, x.dir, x.age_ms, x.rtt_us,
           x.heartbeat_ms, x.queued_bytes, x.frames_in, x.frames_out);
}

// Events for the console to print.
struct ev_ready {
  node_id node = 0;
  std::uint16_t port = 0;
  std::string cluster;
};
struct ev_peer_up {
  node_id peer = 0;
  std::string addr;
  direction dir = direction::in;
};
struct ev_peer_down {
  node_id peer = 0;
  std::string reason;
};
/// A member joined the alive set or left it (left, dead, unreachable).
struct ev_member {
  node_id node = 0;
  wire::member_state state = wire::member_state::alive;
  std::string addr;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ev_ready& x) {
  return f(caf::meta::type_name("ev_ready"), x.node, x.port, x.cluster);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ev_peer_up& x) {
  return f(caf::meta::type_name("ev_peer_up"), x.peer, x.addr, x.dir);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ev_peer_down& x) {
  return f(caf::meta::type_name("ev_peer_down"), x.peer, x.reason);
}

/// A message id as shown to users: origin, its stream's epoch and the
/// sequence number in that stream, in hex (16 digits each).
inline std::string msg_id_string(node_id origin, std::uint64_t epoch, std::uint64_t seq) {
  return to_hex(origin) + to_hex(epoch) + to_hex(seq);
}

/// The router's fixed interface.
using router_actor = caf::typed_actor<
    caf::reacts_to<link_up_atom, node_id, caf::actor, link_writer>,
    caf::reacts_to<replace_atom, node_id, caf::actor, link_writer, caf::actor, bool>,
    caf::reacts_to<link_down_atom, node_id, caf::actor>,
    caf::replies_to<broadcast_atom, std::vector<std::string>>::with<
        std::vector<std::string>, std::int64_t>,
    caf::reacts_to<rtt_atom, node_id, std::int64_t>, caf::reacts_to<inbound_broadcasts>,
    caf::reacts_to<wire_atom, caf::actor>,
    caf::reacts_to<retire_atom, node_id, caf::actor, std::string>,
    caf::reacts_to<topology_atom, wire::topo_query>,
    caf::reacts_to<topology_atom, wire::topo_query, node_id>,
    caf::reacts_to<topology_atom, wire::topo_reply, node_id>,
    caf::reacts_to<topology_atom, wire::topo_reply>,
    caf::replies_to<caf::get_atom, stats_atom>::with<router_stats>>;

/// What becomes of a control connection after a reply (actors/control.hpp).
enum class control_then : std::uint8_t { next, monitor, close };
/// How the control actor answers a request: one JSON line, then what.
using control_reply = std::function<void(std::string line, control_then)>;
/// How the control actor hands over the Prometheus text.
using metrics_reply = std::function<void(std::string text)>;

/// The control actor's interface (actors/control.hpp): JSON requests from the
/// control socket and the console, the metrics page. Wired after spawn with
/// (wire, router, supervisor, discovery).
using control_actor =
    caf::typed_actor<caf::reacts_to<wire_atom, router_actor, caf::actor, caf::actor>,
                     caf::reacts_to<request_atom, std::string, control_reply>,
                     caf::replies_to<request_atom, std::string>::with<std::string>,
                     caf::reacts_to<metrics_atom, metrics_reply>>;

/// The console's fixed interface: lines from stdin and events to print.
/// Wired after spawn with (wire, router, supervisor, discovery), since they
/// need it too. The discovery handle is invalid when discovery is off.
using console_actor =
    caf::typed_actor<caf::reacts_to<wire_atom, router_actor, caf::actor, caf::actor>,
                     caf::reacts_to<wire_atom, control_actor>,
                     caf::reacts_to<line_atom, std::vector<std::string>>,
                     caf::reacts_to<ev_ready>, caf::reacts_to<ev_peer_up>,
                     caf::reacts_to<ev_peer_down>, caf::reacts_to<ev_member>>;

} // namespace lanmesh

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(lanmesh::session_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(lanmesh::inbound_broadcasts)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(lanmesh::link_writer)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(lanmesh::control_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(lanmesh::metrics_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::chrono::steady_clock::time_point)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(lanmesh::net::shared_bytes)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(lanmesh::wire::frame)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(lanmesh::wire::decode_error)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(lanmesh::wire::members)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(lanmesh::wire::sync)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(lanmesh::wire::probe_req)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(lanmesh::wire::probe_ack)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(lanmesh::link_offer)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(lanmesh::router_stats)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(lanmesh::supervisor_stats)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(lanmesh::member_info)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<lanmesh::member_info>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(lanmesh::ev_member)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(lanmesh::register_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(lanmesh::wire::topo_query)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(lanmesh::wire::topo_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(lanmesh::topology_snapshot)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<lanmesh::wire::redirect_entry>)
