// lanmesh-sim SCENARIO [--set key=value ...] [--quiet]
//
// Runs a scenario (sim/scenarios/*.json; docs/simulator.md) on simulated
// nodes built from the node's own decision classes (actors/proto) and
// prints JSON lines: one per metrics interval, one per broadcast if the
// scenario asks, and a summary. `--set` changes a top-level key of the
// scenario (the value is read as JSON, else as a string), e.g.
// `--set nodes=2000 --set mode=flood --set seed=7`. Progress goes to stderr.
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "sim/scenario.hpp"
#include "sim/world.hpp"

#include <unistd.h>

namespace {

// A large run is bound by memory latency: every event touches another
// node's tables, spread over gigabytes, and most of the cost was TLB
// misses. glibc backs malloc with transparent huge pages when its tunable
// says so, and tunables are read only at start: so the simulator starts
// itself again with it, once, unless GLIBC_TUNABLES is set already.
// 2 000 nodes, 1 000 broadcasts: 44 s -> 28 s here (THP "madvise").
// Without huge pages (THP "never") the setting does nothing.
void use_huge_pages(char** argv) {
  if (std::getenv("GLIBC_TUNABLES") != nullptr)
    return;
  setenv("GLIBC_TUNABLES", "glibc.malloc.hugetlb=1", 1);
  execv("/proc/self/exe", argv);
  // If that failed, go on as we are.
}

} // namespace

int main(int argc, char** argv) {
  using namespace lanmesh::sim;
  use_huge_pages(argv);
  std::string path;
  std::vector<std::string> sets;
  bool quiet = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--set" && i + 1 < argc)
      sets.push_back(argv[++i]);
    else if (a.rfind("--set=", 0) == 0)
      sets.push_back(a.substr(6));
    else if (a == "--quiet")
      quiet = true;
    else if (a == "-h" || a == "--help") {
      std::cout << "usage: lanmesh-sim SCENARIO.json [--set key=value ...] [--quiet]\n";
      return 0;
    } else if (path.empty())
      path = a;
    else {
      std::cerr << "lanmesh-sim: unexpected argument " << a << "\n";
      return 2;
    }
  }
  if (path.empty()) {
    std::cerr << "usage: lanmesh-sim SCENARIO.json [--set key=value ...] [--quiet]\n";
    return 2;
  }
  try {
    std::ifstream f(path);
    if (!f)
      throw std::runtime_error(path + ": cannot read");
    std::stringstream ss;
    ss << f.rdbuf();
    auto j = nlohmann::json::parse(ss.str(), nullptr, true, true);
    for (auto& s : sets) {
      auto eq = s.find('=');
      if (eq == std::string::npos)
        throw std::runtime_error("--set wants key=value, got " + s);
      auto key = s.substr(0, eq), raw = s.substr(eq + 1);
      auto v = nlohmann::json::parse(raw, nullptr, false);
      j[key] = v.is_discarded() ? nlohmann::json(raw) : v;
    }
    auto sc = parse_scenario(j.dump(), path);
    // Never destroyed: tearing down 10 000 nodes' tables took seconds and
    // the process ends here anyway (the OS takes the memory back).
    auto* w = new world(sc);
    std::ios::sync_with_stdio(false);
    w->run(std::cout, quiet ? nullptr : &std::cerr);
    std::cout.flush();
  } catch (const std::exception& e) {
    std::cerr << "lanmesh-sim: " << e.what() << "\n";
    return 2;
  }
  return 0;
}
