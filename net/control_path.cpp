#include "net/control_path.hpp"

#include <unistd.h>

#include <cstdlib>

namespace lanmesh::net {

std::string default_control_dir() {
  const char* xdg = std::getenv("XDG_RUNTIME_DIR");
  std::string base = xdg && *xdg ? xdg : "/tmp";
  return base + "/lanmesh-" + std::to_string(getuid());
}

std::string default_control_path(unsigned port) {
  return default_control_dir() + "/" + std::to_string(port) + ".sock";
}

} // namespace lanmesh::net
