#pragma once
// The discovery actor: owns the multicast sockets, runs discovery_logic, and
// hands the candidate list (least loaded first) to the supervisor after the
// query window and whenever it changes. The supervisor tells it this node's
// load, which goes into every announcement. A clash (another node with this
// node's id) heard within the query window calls `on_clash` with the other
// node's address: this node is the newcomer and must stop; after the window
// it is logged (the newcomer was told and stops).
//
// With cluster keys every datagram it sends is sealed (net/datagram_seal.hpp)
// and every one it receives must be: unsealed, foreign-keyed, forged, stale
// and replayed ones (not newer than the last from that node id) are dropped
// before the logic sees them, and counted as bad.

#include <caf/all.hpp>
#include <functional>
#include <memory>
#include <string>

#include "actors/messages.hpp"
#include "actors/proto/discovery_logic.hpp"
#include "net/datagram_seal.hpp"
#include "net/keyring.hpp"
#include "net/udp_multicast.hpp"

namespace lanmesh {

caf::behavior discovery(caf::event_based_actor* self, discovery_params params,
                        std::shared_ptr<net::udp_multicast> socket, caf::actor supervisor,
                        std::function<void(const std::string& addr)> on_clash = {},
                        std::shared_ptr<net::keyring_holder> keys = {});

} // namespace lanmesh
