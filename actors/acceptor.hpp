#pragma once
// The acceptor: owns the listening socket for its lifetime and hands each
// accepted socket to the supervisor, which spawns its connection actor.

#include <caf/all.hpp>
#include <memory>

#include "actors/messages.hpp"
#include "net/tcp_listener.hpp"

namespace lanmesh {

caf::behavior acceptor(caf::event_based_actor* self,
                       std::shared_ptr<net::tcp_listener> listener,
                       caf::actor supervisor);

} // namespace lanmesh
