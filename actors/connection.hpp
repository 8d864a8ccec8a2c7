#pragma once
// The connection actor: one per TCP link. Runs the handshake, heartbeats and
// goodbye, judges a silent link (actors/proto/liveness, with the probes the
// supervisor runs), hands membership and probe frames to the supervisor and
// broadcasts to the router (until the session routes them to the broadcast
// plane on the I/O thread). It
// dies when its link dies; the supervisor hears of it by a link_closed
// message (with the reason) and by its down message.

#include <atomic>
#include <caf/all.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "actors/messages.hpp"
#include "actors/proto/broadcast_plane.hpp"
#include "net/keyring.hpp"

namespace lanmesh {

/// What of this node's own membership record changes while it runs: written
/// by the supervisor, read by every connection for its HELLO and heartbeats.
struct live_record {
  std::atomic<std::uint64_t> incarnation{0};
  std::atomic<std::uint32_t> version{0};
  std::atomic<std::uint16_t> links_in{0}, links_out{0}, capacity{0};
};

/// What every connection of a node needs to know; shared, never mutated
/// (but for the live record it points to).
struct link_settings {
  node_id self = 0;
  std::string cluster;
  std::uint16_t listen_port = 0;
  std::uint16_t probe_port = 0;
  std::shared_ptr<live_record> record = std::make_shared<live_record>();
  std::chrono::milliseconds handshake_timeout{3000};
  std::chrono::milliseconds heartbeat{1200};
  /// A link silent this long is suspect: the supervisor probes its peer.
  std::chrono::milliseconds suspect_after{1400};
  std::chrono::milliseconds dead_after{1800};
  /// A silent link whose peer answers probes is kept up to this long
  /// (actors/proto/liveness.hpp).
  std::chrono::milliseconds dead_after_max{7200};
  std::chrono::milliseconds linger{500}; // graceful close waits this long for EOF
  /// Where an established link's broadcasts go, on the I/O thread.
  std::shared_ptr<broadcast_plane> fast_path;
  /// Broadcasts travel by the tree (HELLO flag; a node links only within its mode).
  bool tree = true;
  /// The cluster keys (security.keys); none: links are keyless, as before.
  /// Read when a link starts, so a change applies to new links.
  std::shared_ptr<net::keyring_holder> keys;
};

struct connection_args {
  std::shared_ptr<const link_settings> settings;
  session_ptr session;
  conn_id conn = 0;
  direction dir = direction::in;
  std::string dialed;           // for outbound links: the address dialed
  std::uint8_t hello_flags = 0; // for outbound links: e.g. wire::hello_reverse
  caf::actor supervisor;
  router_actor router;
};

/// The reason a node gives when a peer's hello carries its own id.
constexpr const char* refuse_self = "self: link to own node";

/// Why a handshake is refused, or empty if `h` may link with us.
std::string check_hello(const link_settings& s, const wire::hello& h);

/// This node's HELLO (or WELCOME) as the settings and live record say.
wire::hello make_hello(const link_settings& s, std::uint8_t flags);

caf::behavior connection(caf::event_based_actor* self, connection_args args);

} // namespace lanmesh

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(lanmesh::connection_args)
