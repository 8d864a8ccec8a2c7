#pragma once
// The supervisor, the overlay manager: owns the link table and the overlay
// policy. Spawns and monitors one connection actor per TCP link, decides which
// link to a peer stays, dials the configured peers and re-dials them with
// backoff while they are not linked, floods this node's MEMBER record, and
// carries out the policy's decisions (dial, invite, reverse, drop, redirect a
// dialer when full, re-dial nodes out of reach). Tells the router which links
// exist, discovery the node's load, and the console when peers come and go.

#include <boost/asio/io_context.hpp>
#include <caf/all.hpp>
#include <memory>
#include <vector>

#include "actors/connection.hpp"
#include "actors/messages.hpp"
#include "main/config.hpp"

namespace lanmesh {

struct supervisor_settings {
  std::shared_ptr<const link_settings> link;
  std::vector<host_port> peers;
  std::size_t max_payload = 65536;
  std::chrono::milliseconds redial_min{100};
  std::chrono::milliseconds redial_max{5000};
  std::size_t target_degree = 3;
  std::size_t max_degree = 8;
  /// Period of this node's MEMBER flood (alive + load) over the overlay.
  std::chrono::milliseconds alive_interval{1000};
  /// Period of the overlay maintenance (the policy's decisions).
  std::chrono::milliseconds maintain_interval{250};
  std::uint64_t seed = 1;
  /// false: no policy actions besides a first link for an isolated node.
  bool manage = true;
  /// This node's address as others reach it ("ip:port"), for snapshots.
  std::string self_addr;
  /// How long a topology snapshot waits for answers.
  std::chrono::milliseconds topology_timeout{2000};
};

caf::behavior supervisor(caf::event_based_actor* self, supervisor_settings settings,
                         boost::asio::io_context* ioc, router_actor router,
                         console_actor console);

} // namespace lanmesh
