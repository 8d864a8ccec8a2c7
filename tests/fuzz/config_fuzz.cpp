// Fuzz target `config`: the config file parser and validator (main/config,
// with main/caf_config judging CAF's groups through CAF's option table), as
// `lanmesh` loads a file: load_config(--config-file=PATH) over the input,
// written to an in-memory file (memfd: no disk, no sockets). A last
// command-line override empties security.key-file, so the fuzzer cannot
// make the loader read some file of the machine.
//
//  - a config taken holds only valid values (each key's rule, and the rules
//    across keys: redial-min <= redial-max, ...);
//  - apply_ini() without CAF's validator takes a text only if it has no
//    foreign key, and then the same as with it;
//  - applying a taken text twice gives the same config (settings are pure).

#include <sys/mman.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "fuzz_common.hpp"
#include "main/caf_config.hpp"
#include "main/config.hpp"

using namespace lanmesh;

namespace {

int memfd() {
  static const int fd = [] {
    int f = memfd_create("lanmesh-fuzz-config", 0);
    if (f < 0)
      std::abort();
    return f;
  }();
  return fd;
}

bool ipv4(const std::string& s) {
  in_addr a{};
  return inet_pton(AF_INET, s.c_str(), &a) == 1;
}

// Every field lanmesh keeps (caf_settings, config_file apart).
bool same(const node_config& a, const node_config& b) {
  return a.cluster == b.cluster && a.id == b.id && a.listen == b.listen &&
         a.port == b.port && a.port_first == b.port_first && a.port_last == b.port_last &&
         a.peers == b.peers && a.max_payload == b.max_payload &&
         a.handshake_timeout_ms == b.handshake_timeout_ms &&
         a.redial_min_ms == b.redial_min_ms && a.redial_max_ms == b.redial_max_ms &&
         a.max_pending == b.max_pending && a.seen_max_entries == b.seen_max_entries &&
         a.seen_max_age_s == b.seen_max_age_s && a.broadcast_mode == b.broadcast_mode &&
         a.history_age_s == b.history_age_s && a.history_bytes == b.history_bytes &&
         a.target_degree == b.target_degree && a.max_degree == b.max_degree &&
         a.heartbeat_ms == b.heartbeat_ms && a.overlay_manage == b.overlay_manage &&
         a.dead_after_ms == b.dead_after_ms && a.max_members == b.max_members &&
         a.sync_interval_ms == b.sync_interval_ms &&
         a.reconnect_for_ms == b.reconnect_for_ms &&
         a.discovery_enabled == b.discovery_enabled &&
         a.discovery_group == b.discovery_group && a.discovery_port == b.discovery_port &&
         a.discovery_interface == b.discovery_interface &&
         a.discovery_ttl == b.discovery_ttl &&
         a.discovery_query_window_ms == b.discovery_query_window_ms &&
         a.discovery_announce_min_ms == b.discovery_announce_min_ms &&
         a.discovery_announce_max_ms == b.discovery_announce_max_ms && a.keys == b.keys &&
         a.key_file == b.key_file && a.console_output == b.console_output &&
         a.log_level == b.log_level && a.log_file == b.log_file &&
         a.control_socket == b.control_socket && a.metrics_listen == b.metrics_listen;
}

// What validation promises of a config it took.
void check_valid(const node_config& c) {
  FUZZ_CHECK(!c.cluster.empty() && c.cluster.size() <= 64);
  FUZZ_CHECK(!c.id || *c.id != 0);
  FUZZ_CHECK(ipv4(c.listen));
  FUZZ_CHECK(c.port_first >= 1 && c.port_first <= c.port_last);
  for (auto& p : c.peers)
    FUZZ_CHECK(ipv4(p.host) && p.port >= 1);
  FUZZ_CHECK(c.max_payload >= 1 && c.max_payload <= (16u << 20));
  FUZZ_CHECK(c.redial_min_ms <= c.redial_max_ms);
  FUZZ_CHECK(c.target_degree >= 1 && c.target_degree <= c.max_degree &&
             c.max_degree <= 256);
  FUZZ_CHECK(c.dead_after_ms > c.heartbeat_ms + c.heartbeat_ms / 6);
  FUZZ_CHECK(c.max_members >= c.max_degree);
  FUZZ_CHECK(c.discovery_announce_min_ms <= c.discovery_announce_max_ms);
  FUZZ_CHECK(c.discovery_ttl >= 1 && c.discovery_port >= 1);
  in_addr g{};
  FUZZ_CHECK(inet_pton(AF_INET, c.discovery_group.c_str(), &g) == 1 &&
             (ntohl(g.s_addr) >> 28) == 0xe);
  FUZZ_CHECK(c.broadcast_mode == "tree" || c.broadcast_mode == "flood");
  FUZZ_CHECK(c.console_output == "text" || c.console_output == "jsonl");
  FUZZ_CHECK(c.control_socket.size() <= 107);
  FUZZ_CHECK(c.key_file.empty());
  for (auto& k : c.keys)
    FUZZ_CHECK(k.size() == 44);
  for (auto& [key, raw] : c.caf_settings) {
    FUZZ_CHECK(!is_lanmesh_group(key.substr(0, key.find('.'))));
    FUZZ_CHECK(!check_caf_setting(key, raw)); // what was taken is still valid
  }
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  lanmesh::fuzz::forbid_sockets();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);

  // As the node loads its file.
  int fd = memfd();
  if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != static_cast<ssize_t>(size))
    std::abort();
  std::vector<std::string> args{"--config-file=/proc/self/fd/" + std::to_string(fd),
                                "--security.key-file="};
  auto loaded = load_config(args, {}, check_caf_setting);
  FUZZ_CHECK(!std::holds_alternative<help_requested>(loaded));
  if (auto* e = std::get_if<config_error>(&loaded)) {
    FUZZ_CHECK(e->message.rfind("config: ", 0) == 0);
    FUZZ_CHECK(e->message.find('\n') == std::string::npos); // one line
  } else {
    check_valid(std::get<node_config>(loaded));
  }

  // The parser alone, with and without CAF's validator.
  node_config with, without;
  auto e_with = apply_ini(with, text, "fuzz", check_caf_setting);
  auto e_without = apply_ini(without, text, "fuzz");
  if (!e_without) {
    FUZZ_CHECK(!e_with);
    FUZZ_CHECK(without.caf_settings.empty());
    FUZZ_CHECK(same(with, without));
  }
  if (!e_with) {
    auto twice = with;
    FUZZ_CHECK(!apply_ini(twice, text, "fuzz", check_caf_setting));
    FUZZ_CHECK(same(with, twice));
    FUZZ_CHECK(twice.caf_settings.size() == 2 * with.caf_settings.size());
  }
  return 0;
}
