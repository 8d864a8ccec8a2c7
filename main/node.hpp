#pragma once
// Starts a node from a validated configuration and runs it until SIGINT,
// SIGTERM or `/quit`. Returns the process exit status.

#include "main/config.hpp"

namespace lanmesh {

int run_node(const node_config& cfg);

} // namespace lanmesh
