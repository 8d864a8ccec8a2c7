#pragma once
// The router: assigns message ids, drops duplicates with a bounded seen-cache,
// forwards each new broadcast to every link but the one it came from, and hands
// it to the console. Knows links only as (peer -> connection actor), as told by
// the supervisor.

#include <caf/all.hpp>

#include "actors/messages.hpp"

namespace lanmesh {

struct router_settings {
  node_id self = 0;
  std::size_t max_payload = 65536;
  std::size_t seen_max_entries = 200000;
  std::chrono::seconds seen_max_age{300};
};

router_actor::behavior_type router(router_actor::pointer self, router_settings settings,
                                   console_actor console);

} // namespace lanmesh
