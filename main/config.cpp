#include "main/config.hpp"

#include "net/keyring.hpp"

#include <arpa/inet.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fstream>
#include <functional>
#include <sstream>

namespace lanmesh {

namespace {

std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos)
    return {};
  auto e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

config_error bad(const std::string& key, const std::string& raw, const std::string& why) {
  return {"config: " + key + " = " + raw + ": " + why};
}

// A quoted string with \" and \\ escapes, or a bare word. nullopt if malformed.
std::optional<std::string> parse_string(const std::string& raw) {
  auto s = trim(raw);
  if (s.empty() || s.front() != '"')
    return s;
  std::string out;
  for (std::size_t i = 1; i < s.size(); ++i) {
    char c = s[i];
    if (c == '\\' && i + 1 < s.size()) {
      out.push_back(s[++i]);
    } else if (c == '"') {
      if (i + 1 != s.size())
        return std::nullopt; // text after the closing quote
      return out;
    } else {
      out.push_back(c);
    }
  }
  return std::nullopt; // no closing quote
}

// `["a","b"]`, `[a,b]` (the shell strips quotes on the CLI) or `a,b`.
std::optional<std::vector<std::string>> parse_list(const std::string& raw) {
  auto s = trim(raw);
  if (!s.empty() && s.front() == '[') {
    if (s.back() != ']')
      return std::nullopt;
    s = trim(s.substr(1, s.size() - 2));
  }
  std::vector<std::string> out;
  if (s.empty())
    return out;
  std::string item;
  bool quoted = false;
  for (std::size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || (s[i] == ',' && !quoted)) {
      auto v = parse_string(item);
      if (!v || v->empty())
        return std::nullopt;
      out.push_back(*v);
      item.clear();
      continue;
    }
    if (s[i] == '"')
      quoted = !quoted;
    item.push_back(s[i]);
  }
  if (quoted)
    return std::nullopt;
  return out;
}

std::optional<std::uint64_t> parse_uint(const std::string& raw) {
  auto s = trim(raw);
  if (s.empty() || s.size() > 19)
    return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9')
      return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return v;
}

bool is_ipv4(const std::string& s) {
  in_addr a{};
  return inet_pton(AF_INET, s.c_str(), &a) == 1;
}

// discovery.interface: an IPv4 address, "auto", or a Linux interface name
// (1-15 bytes, no '/', ':' or whitespace). Only digits and dots must be an
// address, so a mistyped address is not taken for a name.
std::optional<std::string> check_interface(const std::string& v) {
  if (v == "auto")
    return std::nullopt;
  if (v.find_first_not_of("0123456789.") == std::string::npos) {
    if (!is_ipv4(v))
      return std::string("not an IPv4 address");
    return std::nullopt;
  }
  if (v.empty() || v.size() > 15 || v == "." || v == ".." ||
      v.find_first_of("/: \t\n") != std::string::npos)
    return std::string("expected an IPv4 address, an interface name or auto");
  return std::nullopt;
}

using setter = std::function<std::optional<config_error>(
    node_config&, const std::string& key, const std::string& raw)>;

struct key_spec {
  const char* key;
  const char* help;
  setter set;
};

template <class T>
setter uint_in(T node_config::*field, std::uint64_t lo, std::uint64_t hi) {
  return [=](node_config& c, const std::string& k,
             const std::string& raw) -> std::optional<config_error> {
    auto v = parse_uint(raw);
    if (!v)
      return bad(k, raw, "not a whole number");
    if (*v < lo || *v > hi)
      return bad(k, raw, "out of range " + std::to_string(lo) + "-" + std::to_string(hi));
    c.*field = static_cast<T>(*v);
    return std::nullopt;
  };
}

setter string_field(std::string node_config::*field,
                    std::function<std::optional<std::string>(const std::string&)> check) {
  return [=](node_config& c, const std::string& k,
             const std::string& raw) -> std::optional<config_error> {
    auto v = parse_string(raw);
    if (!v)
      return bad(k, raw, "malformed string");
    if (auto why = check(*v))
      return bad(k, raw, *why);
    c.*field = *v;
    return std::nullopt;
  };
}

setter bool_field(bool node_config::*field) {
  return [=](node_config& c, const std::string& k,
             const std::string& raw) -> std::optional<config_error> {
    auto v = parse_string(raw);
    if (v && *v == "true")
      c.*field = true;
    else if (v && *v == "false")
      c.*field = false;
    else
      return bad(k, raw, "expected true or false");
    return std::nullopt;
  };
}

std::optional<std::string> one_of(const std::string& v,
                                  std::vector<std::string> allowed) {
  for (auto& a : allowed)
    if (v == a)
      return std::nullopt;
  std::string list;
  for (auto& a : allowed)
    list += (list.empty() ? "" : ", ") + a;
  return "expected one of " + list;
}

const std::vector<key_spec>& keys() {
  static const std::vector<key_spec> table = {
      {"node.cluster", "cluster name; nodes only link within one cluster (1-64 bytes)",
       string_field(&node_config::cluster,
                    [](const std::string& v) -> std::optional<std::string> {
                      if (v.empty() || v.size() > 64)
                        return std::string("must be 1 to 64 bytes");
                      return std::nullopt;
                    })},
      {"node.id", "fixed node id (1-16 hex digits, not zero); empty: random",
       [](node_config& c, const std::string& k,
          const std::string& raw) -> std::optional<config_error> {
         auto v = parse_string(raw);
         if (!v)
           return bad(k, raw, "malformed string");
         if (v->empty()) {
           c.id.reset();
           return std::nullopt;
         }
         auto id = parse_node_id(*v);
         if (!id)
           return bad(k, raw, "expected 1 to 16 hex digits, not zero");
         c.id = *id;
         return std::nullopt;
       }},
      {"node.listen", "IPv4 address to listen on for TCP links",
       string_field(&node_config::listen,
                    [](const std::string& v) -> std::optional<std::string> {
                      if (!is_ipv4(v))
                        return std::string("not an IPv4 address");
                      return std::nullopt;
                    })},
      {"node.port", "TCP listen port; 0: first free port in node.port-range",
       uint_in(&node_config::port, 0, 65535)},
      {"node.port-range", "ports tried when node.port is 0, as \"FIRST-LAST\"",
       [](node_config& c, const std::string& k,
          const std::string& raw) -> std::optional<config_error> {
         auto v = parse_string(raw);
         auto dash = v ? v->find('-') : std::string::npos;
         if (dash == std::string::npos)
           return bad(k, raw, "expected FIRST-LAST");
         auto lo = parse_uint(v->substr(0, dash));
         auto hi = parse_uint(v->substr(dash + 1));
         if (!lo || !hi || *lo < 1 || *hi > 65535 || *lo > *hi)
           return bad(k, raw, "expected FIRST-LAST with 1 <= FIRST <= LAST <= 65535");
         c.port_first = static_cast<std::uint16_t>(*lo);
         c.port_last = static_cast<std::uint16_t>(*hi);
         return std::nullopt;
       }},
      {"node.peers",
       "list of \"host:port\" to dial at start and re-dial while not linked",
       [](node_config& c, const std::string& k,
          const std::string& raw) -> std::optional<config_error> {
         auto items = parse_list(raw);
         if (!items)
           return bad(k, raw, "expected a list like [\"127.0.0.1:50001\"]");
         std::vector<host_port> peers;
         for (auto& item : *items) {
           auto hp = parse_host_port(item);
           if (!hp)
             return bad(k, raw,
                        "malformed peer address " + item + " (expected IPv4:PORT)");
           peers.push_back(*hp);
         }
         c.peers = std::move(peers);
         return std::nullopt;
       }},
      {"node.max-payload", "largest broadcast payload in bytes (1-16777216)",
       uint_in(&node_config::max_payload, 1, 16u << 20)},
      {"node.handshake-timeout", "ms a new link may take to complete its handshake",
       uint_in(&node_config::handshake_timeout_ms, 10, 600000)},
      {"node.redial-min", "first re-dial delay in ms (doubles per failure)",
       uint_in(&node_config::redial_min_ms, 1, 600000)},
      {"node.redial-max", "longest re-dial delay in ms",
       uint_in(&node_config::redial_max_ms, 1, 3600000)},
      {"node.max-pending",
       "inbound links that may be in their handshake at once; more are closed at once",
       uint_in(&node_config::max_pending, 1, 65535)},
      {"node.seen-max-entries", "bound of the duplicate filter, in messages",
       uint_in(&node_config::seen_max_entries, 16, 100000000)},
      {"node.seen-max-age", "bound of the duplicate filter, in seconds",
       uint_in(&node_config::seen_max_age_s, 1, 86400)},
      {"broadcast.mode",
       "tree: payloads along a tree per origin, ids lazily elsewhere, in order, with "
       "repair and catch-up; flood: every link carries every payload (no order, no "
       "catch-up); a node links only with nodes of its mode",
       string_field(&node_config::broadcast_mode,
                    [](const std::string& v) {
                      return one_of(v, {"tree", "flood"});
                    })},
      {"broadcast.history-age",
       "seconds every message is kept, for neighbours that missed it (tree mode)",
       uint_in(&node_config::history_age_s, 1, 86400)},
      {"broadcast.history-bytes",
       "most bytes of messages kept for neighbours that missed them (tree mode)",
       uint_in(&node_config::history_bytes, 1024, std::uint64_t{1} << 40)},
      {"overlay.target-degree", "links a node dials until it has them (1-64)",
       uint_in(&node_config::target_degree, 1, 64)},
      {"overlay.max-degree",
       "most links a node accepts; a full node refuses more (1-256)",
       uint_in(&node_config::max_degree, 1, 256)},
      {"overlay.manage",
       "let the overlay manager add, reverse and drop links (false: a static topology "
       "from node.peers, plus discovery's first dial)",
       bool_field(&node_config::overlay_manage)},
      {"overlay.heartbeat",
       "ms between heartbeats each side sends on a link; a link silent a sixth "
       "longer is suspect and its peer is probed",
       uint_in(&node_config::heartbeat_ms, 10, 60000)},
      {"overlay.max-members",
       "most members (gone ones' tombstones included) the member table holds "
       "(16-1000000)",
       uint_in(&node_config::max_members, 16, 1000000)},
      {"overlay.sync-interval",
       "ms between anti-entropy exchanges with one random neighbour (jittered 0.5-1.5x)",
       uint_in(&node_config::sync_interval_ms, 100, 3600000)},
      {"overlay.reconnect-for",
       "ms a member that went silent (unreachable: crashed host or partition) is "
       "re-dialed, once a second, by the nodes that saw it go",
       uint_in(&node_config::reconnect_for_ms, 0, 86400000)},
      {"overlay.dead-after", "ms of silence after which a link is declared dead",
       uint_in(&node_config::dead_after_ms, 20, 600000)},
      {"discovery.enabled", "find peers by UDP multicast",
       bool_field(&node_config::discovery_enabled)},
      {"discovery.group", "IPv4 multicast group",
       string_field(&node_config::discovery_group,
                    [](const std::string& v) -> std::optional<std::string> {
                      in_addr a{};
                      if (inet_pton(AF_INET, v.c_str(), &a) != 1 ||
                          (ntohl(a.s_addr) >> 28) != 0xe)
                        return std::string("not an IPv4 multicast address (224.0.0.0/4)");
                      return std::nullopt;
                    })},
      {"discovery.port", "UDP port of the multicast group",
       uint_in(&node_config::discovery_port, 1, 65535)},
      {"discovery.interface",
       "interface to multicast on: its IPv4 address, its name (eth0) or auto (the "
       "first up, non-loopback, multicast-capable IPv4 interface)",
       string_field(&node_config::discovery_interface, check_interface)},
      {"discovery.ttl", "multicast TTL (1: this LAN only)",
       uint_in(&node_config::discovery_ttl, 1, 255)},
      {"discovery.query-window", "ms a starting node listens for answers to its query",
       uint_in(&node_config::discovery_query_window_ms, 1, 60000)},
      {"discovery.announce-min", "first interval between announcements, in ms",
       uint_in(&node_config::discovery_announce_min_ms, 10, 3600000)},
      {"discovery.announce-max", "ceiling of the doubling announcement interval, in ms",
       uint_in(&node_config::discovery_announce_max_ms, 10, 3600000)},
      {"console.output", "stdout format: text or jsonl",
       string_field(&node_config::console_output,
                    [](const std::string& v) {
                      return one_of(v, {"text", "jsonl"});
                    })},
      {"log.level", "trace, debug, info, warn, error or off",
       string_field(
           &node_config::log_level,
           [](const std::string& v) {
             return one_of(v, {"trace", "debug", "info", "warn", "error", "off"});
           })},
      {"log.file", "log file path; empty: stderr (logs never go to stdout)",
       string_field(&node_config::log_file,
                    [](const std::string&) -> std::optional<std::string> {
                      return std::nullopt;
                    })},
      {"control.socket",
       "Unix socket of the control commands (lanmesh members, send, ...); empty: "
       "${XDG_RUNTIME_DIR:-/tmp}/lanmesh-UID/PORT.sock",
       string_field(&node_config::control_socket,
                    [](const std::string& v) -> std::optional<std::string> {
                      // sun_path holds 108 bytes with the terminating zero.
                      if (v.size() > 107)
                        return std::string("longer than 107 bytes");
                      return std::nullopt;
                    })},
      {"security.keys",
       "cluster keys, [\"KEY1\",\"KEY2\"] (lanmesh keygen makes one): the first "
       "authenticates and encrypts, all are accepted (rotation); empty: no key, any host "
       "on the network may join",
       [](node_config& c, const std::string& k,
          const std::string& raw) -> std::optional<config_error> {
         // Never echo the value: it holds keys.
         auto items = parse_list(raw);
         if (!items)
           return config_error{"config: " + k +
                               ": expected a list like [\"KEY1\",\"KEY2\"] (value "
                               "not shown: it may hold keys)"};
         for (std::size_t i = 0; i < items->size(); ++i)
           if (!net::parse_key((*items)[i]))
             return config_error{"config: " + k + ": key " + std::to_string(i + 1) +
                                 " of " + std::to_string(items->size()) +
                                 " is not a key (32 bytes in standard base64, 44 "
                                 "characters; lanmesh keygen makes one)"};
         c.keys = std::move(*items);
         return std::nullopt;
       }},
      {"security.key-file",
       "file with one key per line (# comments), readable by its owner only; its keys "
       "follow security.keys",
       string_field(&node_config::key_file,
                    [](const std::string&) { return std::optional<std::string>{}; })},
      {"metrics.listen",
       "IPv4:PORT serving GET /metrics (Prometheus text); empty: off; port 0: any",
       string_field(&node_config::metrics_listen,
                    [](const std::string& v) -> std::optional<std::string> {
                      if (v.empty())
                        return std::nullopt;
                      auto colon = v.rfind(':');
                      auto port = colon == std::string::npos
                                      ? std::nullopt
                                      : parse_uint(v.substr(colon + 1));
                      auto host = colon == std::string::npos ? v : v.substr(0, colon);
                      if (host == "localhost")
                        host = "127.0.0.1";
                      if (!port || *port > 65535 || !is_ipv4(host))
                        return std::string("expected IPv4:PORT, e.g. 127.0.0.1:9464");
                      return std::nullopt;
                    })},
  };
  return table;
}

const key_spec* find_key(const std::string& key) {
  for (auto& k : keys())
    if (key == k.key)
      return &k;
  return nullptr;
}

std::optional<config_error> check_combined(const node_config& c) {
  if (c.redial_min_ms > c.redial_max_ms)
    return config_error{"config: node.redial-min = " + std::to_string(c.redial_min_ms) +
                        ": larger than node.redial-max " +
                        std::to_string(c.redial_max_ms)};
  if (c.target_degree > c.max_degree)
    return config_error{
        "config: overlay.target-degree = " + std::to_string(c.target_degree) +
        ": larger than overlay.max-degree " + std::to_string(c.max_degree)};
  if (c.discovery_announce_min_ms > c.discovery_announce_max_ms)
    return config_error{"config: discovery.announce-min = " +
                        std::to_string(c.discovery_announce_min_ms) +
                        ": larger than discovery.announce-max " +
                        std::to_string(c.discovery_announce_max_ms)};
  if (c.dead_after_ms <= c.heartbeat_ms + c.heartbeat_ms / 6)
    return config_error{
        "config: overlay.dead-after = " + std::to_string(c.dead_after_ms) +
        ": must exceed overlay.heartbeat " + std::to_string(c.heartbeat_ms) +
        " by more than a sixth (a link is suspect, and probed, from there)"};
  if (c.max_members < c.max_degree)
    return config_error{"config: overlay.max-members = " + std::to_string(c.max_members) +
                        ": smaller than overlay.max-degree " +
                        std::to_string(c.max_degree)};
  return std::nullopt;
}

} // namespace

std::optional<config_error> read_key_file(const std::string& path,
                                          std::vector<std::string>& keys) {
  auto where = "config: security.key-file = " + path;
  struct stat sb {};
  if (::stat(path.c_str(), &sb) != 0)
    return config_error{where + ": cannot be read (" + std::strerror(errno) + ")"};
  if ((sb.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(sb.st_mode & 07777));
    return config_error{where + ": readable by group or others (mode " + mode +
                        "); make it the owner's only: chmod 600 " + path};
  }
  std::ifstream in(path);
  if (!in.good())
    return config_error{where + ": cannot be read"};
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    line = trim(line);
    if (line.empty() || line.front() == '#')
      continue;
    if (!net::parse_key(line))
      return config_error{where + ": line " + std::to_string(lineno) +
                          " is not a key (32 bytes in standard base64, 44 characters; "
                          "lanmesh keygen makes one)"};
    keys.push_back(line);
  }
  return std::nullopt;
}

std::optional<host_port> parse_host_port(const std::string& text) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0)
    return std::nullopt;
  auto host = text.substr(0, colon);
  if (host == "localhost")
    host = "127.0.0.1";
  auto port = parse_uint(text.substr(colon + 1));
  if (!is_ipv4(host) || !port || *port < 1 || *port > 65535)
    return std::nullopt;
  return host_port{host, static_cast<std::uint16_t>(*port)};
}

bool is_lanmesh_group(const std::string& group) {
  for (auto* g : {"node", "broadcast", "overlay", "discovery", "security", "console",
                  "log", "control", "metrics"})
    if (group == g)
      return true;
  return false;
}

std::optional<std::string> parse_config_string(const std::string& raw) {
  return parse_string(raw);
}

std::optional<config_error> apply_setting(node_config& cfg, const std::string& key,
                                          const std::string& raw,
                                          const foreign_validator& foreign) {
  if (auto* spec = find_key(key))
    return spec->set(cfg, key, raw);
  auto dot = key.find('.');
  auto group = dot == std::string::npos ? std::string{} : key.substr(0, dot);
  if (dot == std::string::npos || is_lanmesh_group(group) || !foreign)
    return config_error{"config: " + key + " = " + raw + ": unknown key"};
  if (auto why = foreign(key, raw))
    return config_error{"config: " + key + " = " + raw + ": " + *why};
  cfg.caf_settings.emplace_back(key, raw);
  return std::nullopt;
}

std::optional<config_error> apply_ini(node_config& cfg, const std::string& text,
                                      const std::string& origin,
                                      const foreign_validator& foreign) {
  std::istringstream in(text);
  std::string line, group;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    // Strip a `;` comment that is not inside quotes.
    bool quoted = false;
    for (std::size_t i = 0; i < line.size(); ++i) {
      if (quoted && line[i] == '\\') {
        ++i; // an escaped character, possibly a quote or a backslash
        continue;
      }
      if (line[i] == '"')
        quoted = !quoted;
      if (line[i] == ';' && !quoted) {
        line.resize(i);
        break;
      }
    }
    line = trim(line);
    if (line.empty())
      continue;
    if (line.front() == '[') {
      if (line.back() != ']' || line.size() < 3)
        return config_error{"config: " + origin + ":" + std::to_string(lineno) + ": " +
                            line + ": malformed group header"};
      group = trim(line.substr(1, line.size() - 2));
      continue;
    }
    auto eq = line.find('=');
    if (eq == std::string::npos || group.empty())
      return config_error{"config: " + origin + ":" + std::to_string(lineno) + ": " +
                          line + ": expected key=value inside a [group]"};
    auto key = group + "." + trim(line.substr(0, eq));
    if (auto e = apply_setting(cfg, key, trim(line.substr(eq + 1)), foreign))
      return config_error{e->message + " (" + origin + ":" + std::to_string(lineno) +
                          ")"};
  }
  return std::nullopt;
}

config_result load_config(const std::vector<std::string>& args,
                          const std::vector<std::string>& default_paths,
                          const foreign_validator& foreign) {
  node_config cfg;
  std::string path;
  bool explicit_path = false;
  std::vector<std::pair<std::string, std::string>> overrides;
  for (auto& a : args) {
    if (a == "--help" || a == "-h")
      return help_requested{};
    if (a.rfind("--", 0) != 0)
      return config_error{"config: argument " + a + ": expected --group.key=value"};
    auto eq = a.find('=');
    if (eq == std::string::npos)
      return config_error{"config: argument " + a + ": expected --group.key=value"};
    auto key = a.substr(2, eq - 2);
    auto value = a.substr(eq + 1);
    if (key == "config-file") {
      path = value;
      explicit_path = true;
    } else {
      overrides.emplace_back(key, value);
    }
  }
  if (!explicit_path) {
    for (auto& p : default_paths) {
      if (std::ifstream(p).good()) {
        path = p;
        break;
      }
    }
  }
  if (!path.empty()) {
    std::ifstream in(path);
    if (!in.good())
      return config_error{"config: config-file = " + path + ": cannot be read"};
    std::stringstream ss;
    ss << in.rdbuf();
    if (auto e = apply_ini(cfg, ss.str(), path, foreign))
      return *e;
    cfg.config_file = path;
  }
  for (auto& [key, value] : overrides)
    if (auto e = apply_setting(cfg, key, value, foreign))
      return *e;
  if (!cfg.key_file.empty())
    if (auto e = read_key_file(cfg.key_file, cfg.keys))
      return *e;
  if (auto e = check_combined(cfg))
    return *e;
  return cfg;
}

std::string config_help() {
  std::string out =
      "Node options: lanmesh [agent] [--config-file=PATH] [--group.key=value ...]\n\n"
      "Reads config/caf-application.conf (else /etc/lanmesh/caf-application.conf)\n"
      "unless --config-file is given; command-line values override the file.\n"
      "CAF's own groups ([scheduler], [work-stealing], [logger], ...) are passed to\n"
      "the actor system, e.g. --scheduler.max-threads=2. lanmesh's keys:\n";
  for (auto& k : keys())
    out += "  --" + std::string(k.key) + "=...\n      " + k.help + "\n";
  return out;
}

} // namespace lanmesh
