#pragma once
// The discovery actor: owns the multicast sockets, runs discovery_logic, and
// hands the candidate list (least loaded first) to the supervisor after the
// query window and whenever it changes. The supervisor tells it this node's
// load, which goes into every announcement.

#include <caf/all.hpp>
#include <memory>

#include "actors/messages.hpp"
#include "actors/proto/discovery_logic.hpp"
#include "net/udp_multicast.hpp"

namespace lanmesh {

caf::behavior discovery(caf::event_based_actor* self, discovery_params params,
                        std::shared_ptr<net::udp_multicast> socket,
                        caf::actor supervisor);

} // namespace lanmesh
