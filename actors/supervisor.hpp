#pragma once
// The supervisor: owns the link table. Spawns and monitors one connection actor
// per TCP link, decides which link to a peer stays, dials the configured peers
// and re-dials them with backoff while they are not linked, dials discovered
// candidates (least loaded first) while below the target degree, refuses links
// beyond the maximum degree, tells the router which links exist, discovery the
// node's load, and the console when peers come and go.

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
};

caf::behavior supervisor(caf::event_based_actor* self, supervisor_settings settings,
                         boost::asio::io_context* ioc, router_actor router,
                         console_actor console);

} // namespace lanmesh
