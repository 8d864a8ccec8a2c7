#pragma once
// Where control sockets live by default (plain C++; the node and the
// `lanmesh` client commands agree on it): ${XDG_RUNTIME_DIR:-/tmp}/lanmesh-UID/
// with one socket per node, named after its TCP port.

#include <string>

namespace lanmesh::net {

/// ${XDG_RUNTIME_DIR:-/tmp}/lanmesh-UID
std::string default_control_dir();
/// default_control_dir()/PORT.sock
std::string default_control_path(unsigned port);

} // namespace lanmesh::net
