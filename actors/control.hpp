#pragma once
// The control actor: the commands a node takes from outside, in one place.
// The control socket (net/control_socket.hpp, `lanmesh members`, `send`, ...)
// and the stdin console (`/peers`, `/stats`, ...) both send it JSON request
// lines and get JSON replies, so a command means the same everywhere; the
// metrics endpoint asks it for the Prometheus page.
//
// Requests: {"cmd":NAME, ...arguments}. Replies: the command's event object
// (README "JSON-lines output") with "ok":true, or
// {"ok":false,"event":"error","message":...}. A command is one entry in the
// table built in control.cpp: adding one means adding a handler there.

#include <caf/all.hpp>
#include <functional>
#include <string>

#include "actors/messages.hpp"
#include "net/keyring.hpp"

namespace lanmesh {

struct control_settings {
  node_id self = 0;
  std::string cluster;
  std::string self_addr; // "ip:port" as others reach this node
  std::string version;
  std::size_t max_payload = 65536;
  /// `leave`: goodbye to every peer, then the node exits 0.
  std::function<void()> leave;
  /// Bytes of output dropped because stdout's reader fell too far behind.
  std::function<std::uint64_t()> output_dropped;
  /// Times accepting paused for want of file descriptors.
  std::function<std::uint64_t()> accept_backoffs;
  /// Hands an event line (JSON, no newline) to monitoring clients.
  std::function<void(const std::string&)> publish;
  /// The cluster keys (`keys list|install|use|remove`); null: keyless.
  std::shared_ptr<net::keyring_holder> keys;
};

control_actor::behavior_type control(control_actor::pointer self,
                                     control_settings settings);

} // namespace lanmesh
