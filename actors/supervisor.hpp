#pragma once
// The supervisor: the shell around the overlay's and the membership's
// decisions (actors/proto: link_table, overlay_policy, membership,
// probe_tracker, topology_gather). It spawns and monitors one connection
// actor per TCP link, dials and re-dials, and carries out what those plain
// classes return: frames to send, nodes to dial, links to drop, ports to
// check, probes to send. It tells the router which links exist, discovery
// the node's load, and the console when peers and members come and go.

#include <boost/asio/io_context.hpp>
#include <caf/all.hpp>
#include <memory>
#include <vector>

#include "actors/connection.hpp"
#include "actors/messages.hpp"
#include "actors/proto/overlay_policy.hpp"
#include "main/config.hpp"
#include "net/udp_probe.hpp"

namespace lanmesh {

struct supervisor_settings {
  std::shared_ptr<const link_settings> link;
  std::vector<host_port> peers;
  std::size_t max_payload = 65536;
  /// Inbound links that may be in their handshake at once (node.max-pending):
  /// one beyond is closed as soon as it is accepted, so half-open clients
  /// cannot hold a session's buffers each for the handshake timeout.
  std::size_t max_pending = 64;
  std::chrono::milliseconds redial_min{100};
  std::chrono::milliseconds redial_max{5000};
  overlay_params overlay;
  membership_params membership;
  probe_params probes;
  /// Period of the overlay maintenance (the policy's decisions); they also
  /// run after every link change.
  std::chrono::milliseconds maintain_interval{500};
  /// false: no policy actions besides a first link for an isolated node.
  bool manage = true;
  /// This node's address as others reach it ("ip:port"), for snapshots.
  std::string self_addr;
  /// How long a topology snapshot waits for answers.
  std::chrono::milliseconds topology_timeout{2000};
  /// The liveness probe socket (UDP); may be null (then no direct probes).
  std::shared_ptr<net::udp_probe> probe_socket;
};

caf::behavior supervisor(caf::event_based_actor* self, supervisor_settings settings,
                         boost::asio::io_context* ioc, router_actor router,
                         console_actor console);

} // namespace lanmesh
