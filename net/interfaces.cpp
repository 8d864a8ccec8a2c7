#include "net/interfaces.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>

#include <memory>
#include <vector>

namespace lanmesh::net {

namespace {

struct iface {
  std::string name;
  std::string address;
  unsigned flags = 0;
};

std::vector<iface> ipv4_interfaces() {
  std::vector<iface> out;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0)
    return out;
  std::unique_ptr<ifaddrs, void (*)(ifaddrs*)> guard(list, freeifaddrs);
  for (auto* i = list; i; i = i->ifa_next) {
    if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET)
      continue;
    char buf[INET_ADDRSTRLEN];
    auto* sin = reinterpret_cast<const sockaddr_in*>(i->ifa_addr);
    if (!inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof(buf)))
      continue;
    out.push_back({i->ifa_name, buf, i->ifa_flags});
  }
  return out;
}

bool is_loopback_address(const std::string& a) {
  return a.rfind("127.", 0) == 0;
}

} // namespace

std::optional<interface_choice> resolve_interface(const std::string& spec,
                                                  std::string& error) {
  auto all = ipv4_interfaces();
  in_addr parsed{};
  if (inet_pton(AF_INET, spec.c_str(), &parsed) == 1) {
    for (auto& i : all)
      if (i.address == spec)
        return interface_choice{spec, i.name, (i.flags & IFF_LOOPBACK) != 0};
    return interface_choice{spec, "", is_loopback_address(spec)};
  }
  if (spec == "auto") {
    for (auto& i : all)
      if ((i.flags & IFF_UP) && !(i.flags & IFF_LOOPBACK) && (i.flags & IFF_MULTICAST))
        return interface_choice{i.address, i.name, false};
    error = "no interface is up, non-loopback, multicast-capable and has an IPv4 address";
    return std::nullopt;
  }
  bool exists = if_nametoindex(spec.c_str()) != 0;
  for (auto& i : all) {
    if (i.name != spec)
      continue;
    if (!(i.flags & IFF_UP)) {
      error = "interface " + spec + " is down";
      return std::nullopt;
    }
    return interface_choice{i.address, i.name, (i.flags & IFF_LOOPBACK) != 0};
  }
  error = exists ? "interface " + spec + " has no IPv4 address"
                 : "no interface named " + spec;
  return std::nullopt;
}

} // namespace lanmesh::net
