// lanmesh: parse the configuration, then run the node.

#include <unistd.h>

#include <climits>
#include <cstdio>
#include <string>
#include <vector>

#include "main/config.hpp"
#include "main/node.hpp"

namespace {

std::vector<std::string> default_config_paths() {
  std::vector<std::string> paths{"config/caf-application.conf"};
  char exe[PATH_MAX];
  auto n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n > 0) {
    std::string dir(exe, static_cast<std::size_t>(n));
    dir = dir.substr(0, dir.rfind('/'));
    paths.push_back(dir + "/../config/caf-application.conf");
  }
  return paths;
}

} // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  auto result = lanmesh::load_config(args, default_config_paths());
  if (auto* err = std::get_if<lanmesh::config_error>(&result)) {
    std::fprintf(stderr, "lanmesh: %s\n", err->message.c_str());
    return 2;
  }
  if (std::holds_alternative<lanmesh::help_requested>(result)) {
    std::fputs(lanmesh::config_help().c_str(), stdout);
    return 0;
  }
  return lanmesh::run_node(std::get<lanmesh::node_config>(result));
}
