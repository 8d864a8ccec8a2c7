#pragma once
// Which local IPv4 interface discovery multicasts on: `discovery.interface`
// is an address, an interface name (eth0) or `auto` (the first interface that
// is up, not loopback, multicast-capable and has an IPv4 address, in the
// kernel's order). Plain C++ over getifaddrs(3); no sockets opened.

#include <optional>
#include <string>

namespace lanmesh::net {

struct interface_choice {
  std::string address; // IPv4, dotted
  std::string name;    // empty if no interface has `address` (the socket will say)
  bool loopback = false;
};

/// Resolves `spec`; nullopt with `error` set (one line, no key) if it names
/// no usable interface.
std::optional<interface_choice> resolve_interface(const std::string& spec,
                                                  std::string& error);

} // namespace lanmesh::net
