#pragma once
// Node configuration: defaults, then the INI file (CAF 0.17's syntax:
// `[group]`, `key=value`, strings in quotes, lists `["a","b"]`, `;` comments),
// then `--group.key=value` from the command line. Every value is validated here,
// because CAF 0.17 silently drops out-of-range numbers, ignores unknown keys and
// rejects `--flag=false`. Plain C++, no CAF: tests drive it directly.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "actors/proto/node_id.hpp"

namespace lanmesh {

struct host_port {
  std::string host; // numeric IPv4 address
  std::uint16_t port = 0;
  std::string to_string() const { return host + ":" + std::to_string(port); }
  bool operator==(const host_port& o) const { return host == o.host && port == o.port; }
};

struct node_config {
  // [node]
  std::string cluster = "lanmesh";
  std::optional<node_id> id;
  std::string listen = "0.0.0.0";
  std::uint16_t port = 0;
  std::uint16_t port_first = 49152;
  std::uint16_t port_last = 65535;
  std::vector<host_port> peers;
  std::size_t max_payload = 65536;
  std::uint32_t handshake_timeout_ms = 3000;
  std::uint32_t redial_min_ms = 100;
  std::uint32_t redial_max_ms = 5000;
  std::uint32_t max_pending = 64; // inbound links still in their handshake
  std::size_t seen_max_entries = 200000;
  std::uint32_t seen_max_age_s = 300;
  // [broadcast]
  std::string broadcast_mode = "tree";
  std::uint32_t history_age_s = 60;
  std::size_t history_bytes = 64u << 20;
  // [overlay]
  std::uint16_t target_degree = 3;
  std::uint16_t max_degree = 8;
  std::uint32_t heartbeat_ms = 1200;
  bool overlay_manage = true;
  std::uint32_t dead_after_ms = 1800;
  std::uint32_t max_members = 1024;
  std::uint32_t sync_interval_ms = 30000;
  std::uint32_t reconnect_for_ms = 120000;
  // [discovery]
  bool discovery_enabled = true;
  std::string discovery_group = "239.255.77.77";
  std::uint16_t discovery_port = 49152;
  /// An IPv4 address, an interface name (eth0) or "auto"; resolved at start
  /// (net/interfaces.hpp).
  std::string discovery_interface = "127.0.0.1";
  std::uint8_t discovery_ttl = 1;
  std::uint32_t discovery_query_window_ms = 150;
  std::uint32_t discovery_announce_min_ms = 1000;
  std::uint32_t discovery_announce_max_ms = 30000;
  // [security]
  /// Cluster keys in base64, the primary first: security.keys, then the
  /// lines of security.key-file (read and checked by load_config).
  std::vector<std::string> keys;
  std::string key_file;
  // [console]
  std::string console_output = "text";
  // [log]
  std::string log_level = "info";
  std::string log_file; // empty: stderr
  // [control]
  /// Unix socket path; empty: ${XDG_RUNTIME_DIR:-/tmp}/lanmesh-UID/PORT.sock.
  std::string control_socket;
  // [metrics]
  /// "IPv4:PORT" of the Prometheus endpoint; empty: off. Port 0: any free one.
  std::string metrics_listen;
  /// Settings of CAF's own groups ([scheduler], [logger], ...), in the order
  /// given, each already accepted by the foreign-key validator.
  std::vector<std::pair<std::string, std::string>> caf_settings;
  // Where the settings came from (for the log).
  std::string config_file;
};

struct config_error {
  std::string message; // one line, names key and value
};

struct help_requested {};

using config_result = std::variant<config_error, node_config, help_requested>;

/// Judges a key outside lanmesh's own groups (node, overlay, discovery,
/// console, log, control, metrics): nullopt if it is valid, else why not
/// ("unknown key", "not a valid ..."). main/ passes one that knows CAF's
/// options (main/caf_config.hpp); without one every such key is unknown.
using foreign_validator = std::function<std::optional<std::string>(
    const std::string& key, const std::string& raw)>;

/// Parses INI text (as read from `origin`) into `cfg`, validating each key.
std::optional<config_error> apply_ini(node_config& cfg, const std::string& text,
                                      const std::string& origin,
                                      const foreign_validator& foreign = {});

/// Applies one `group.key` = raw value (as written in INI or on the CLI).
std::optional<config_error> apply_setting(node_config& cfg, const std::string& key,
                                          const std::string& raw,
                                          const foreign_validator& foreign = {});

/// Full load: defaults, then the config file (`--config-file=PATH`, else the
/// first of `default_paths` that exists), then command-line overrides.
config_result load_config(const std::vector<std::string>& args,
                          const std::vector<std::string>& default_paths,
                          const foreign_validator& foreign = {});

/// Whether `group` (the part of a key before the first dot) is lanmesh's.
bool is_lanmesh_group(const std::string& group);

/// `--help` text listing every key.
std::string config_help();

/// Strips the quotes of a config string value ("a\"b" -> a"b); nullopt if
/// malformed. A bare word is returned as it is.
std::optional<std::string> parse_config_string(const std::string& raw);

/// Reads a key file: one key per line, blank lines and `#` comments skipped;
/// refused if group or others may read it. Appends its keys to `keys`.
/// Errors name the file and line, never a key.
std::optional<config_error> read_key_file(const std::string& path,
                                          std::vector<std::string>& keys);

/// Parses "host:port" (numeric IPv4, or "localhost"); nullopt if malformed.
std::optional<host_port> parse_host_port(const std::string& text);

} // namespace lanmesh
