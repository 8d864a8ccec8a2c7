#pragma once
// The router: owns the link set (peer -> connection actor and writer, as
// told by the supervisor), numbers this node's broadcasts and hands them to
// the broadcast plane (the relay or the tree, on the I/O thread, whose link
// set the router keeps in step with its own), and floods topology
// questions (with their own seen-cache).

#include <caf/all.hpp>
#include <functional>
#include <memory>

#include "actors/messages.hpp"
#include "actors/proto/relay.hpp"

namespace lanmesh {

struct router_settings {
  node_id self = 0;
  std::uint64_t epoch = 0;   // this node's stream (its start time in us)
  std::string mode = "tree"; // broadcast.mode, for /stats
  std::size_t max_payload = 65536;
  std::size_t seen_max_entries = 200000;
  std::chrono::seconds seen_max_age{300};
};

/// The broadcast plane (relay or tree) and the one thread it lives on.
struct relay_host {
  std::shared_ptr<broadcast_plane> fast_path;
  /// Runs a task on the plane's thread; tasks run in the order given.
  std::function<void(std::function<void()>)> run;
};

router_actor::behavior_type router(router_actor::pointer self, router_settings settings,
                                   relay_host host);

} // namespace lanmesh
