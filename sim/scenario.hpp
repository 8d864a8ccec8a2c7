#pragma once
// A lanmesh-sim scenario: a small JSON file (sim/scenarios/*.json, format in
// docs/simulator.md) giving the node count and how they join, the network
// (latency distribution, loss), the schedule of crashes, leaves, partitions,
// churn and broadcasts, the seed and the metrics interval.

#include <cstdint>
#include <string>
#include <vector>

#include "sim/network.hpp"

namespace lanmesh::sim {

struct action {
  double at_s = 0;
  std::string what; // join, crash, leave, partition, heal, broadcast, churn
  std::size_t count = 0;
  double fraction = 0;
  bool silent = false; // crash: the host goes silent (no RST) instead of the process
  double over_s = 0;   // join, broadcast: spread over this long
  std::string senders = "one"; // broadcast: "one", "all", or a number
  std::uint16_t groups = 2;    // partition
  double until_s = 0;          // churn
};

struct scenario {
  std::string name;
  std::uint64_t seed = 1;
  std::size_t nodes = 100;
  double join_over_s = 10; // the initial nodes start spread over this long
  double duration_s = 60;
  double metrics_s = 5;
  latency_model latency;
  double loss = 0;
  double rto_ms = 200;
  std::string mode = "tree"; // or "flood"
  std::size_t payload_bytes = 32;
  bool broadcast_lines = false; // one JSON line per broadcast
  bool link_lines = false;      // at the end, one JSON line per running node: its links
  /// A node is expected to deliver a broadcast if it started this long
  /// before it and still runs at the end.
  double settle_s = 2;
  /// reached_within_window counts deliveries this soon after the publish.
  double reach_window_s = 1;
  // Node settings that differ from the node's defaults (main/config.hpp).
  std::size_t max_members = 0; // 0: room for every node the scenario starts
  double history_age_s = 60;
  std::size_t target_degree = 3;
  std::size_t max_degree = 8;
  double sync_interval_s = 30;
  int partial_reach = -1; // -1: the node's default (membership_params)
  /// Members of the multicast group a group datagram reaches (0: all): a
  /// 10 000-node LAN's multicast costs N^2 deliveries, so large runs sample.
  std::size_t discovery_sample = 0;
  /// discovery_logic's candidate table (the node's default: 256). Each
  /// change of it is handed to the overlay policy as hints, a cost that
  /// grows with the table: large runs use a smaller one.
  std::size_t discovery_candidates = 256;
  std::vector<action> actions;
};

/// Reads a scenario; throws std::runtime_error naming the problem.
scenario load_scenario(const std::string& path);
/// The same from JSON text.
scenario parse_scenario(const std::string& text, const std::string& name);

} // namespace lanmesh::sim
