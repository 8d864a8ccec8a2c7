#pragma once
// The connection actor: one per TCP link. Runs the handshake, heartbeats and
// goodbye, counts frames, hands broadcasts to the router and sends what the
// router gives it. It dies when its link dies; the supervisor hears of it by a
// link_closed message (with the reason) and by its down message.

#include <caf/all.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "actors/messages.hpp"
#include "actors/proto/relay.hpp"

namespace lanmesh {

/// What every connection of a node needs to know; shared, never mutated.
struct link_settings {
  node_id self = 0;
  std::string cluster;
  std::uint16_t listen_port = 0;
  std::chrono::milliseconds handshake_timeout{3000};
  std::chrono::milliseconds heartbeat{500};
  std::chrono::milliseconds dead_after{1800};
  /// A silent link whose peer still floods over other links is kept up to
  /// this long (actors/proto/liveness.hpp).
  std::chrono::milliseconds dead_after_max{8000};
  std::chrono::milliseconds linger{500}; // graceful close waits this long for EOF
  /// Where an established link's broadcasts go, on the I/O thread.
  std::shared_ptr<relay> fast_path;
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

caf::behavior connection(caf::event_based_actor* self, connection_args args);

} // namespace lanmesh

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(lanmesh::connection_args)
