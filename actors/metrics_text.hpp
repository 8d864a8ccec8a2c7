#pragma once
// The Prometheus text exposition (format 0.0.4) of a node's counters, served
// as GET /metrics (net/metrics_http.hpp). Plain C++: the control actor fills
// a metrics_snapshot from the actors' stats, this writes the page.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace lanmesh {

struct metrics_snapshot {
  std::string node, cluster, version;
  std::uint64_t links_in = 0, links_out = 0, members = 0;
  std::uint64_t sent = 0, delivered = 0, duplicates = 0, forwarded = 0;
  std::uint64_t dials = 0, dial_failures = 0, redials = 0, refused = 0;
  std::uint64_t handshake_timeouts = 0, auth_failures = 0, pending_refused = 0;
  std::uint64_t frames_in = 0, frames_out = 0, bytes_in = 0, bytes_out = 0;
  std::uint64_t member_records_in = 0, member_records_out = 0;
  std::uint64_t discovery_sent = 0, discovery_received = 0, discovery_bad = 0,
                discovery_foreign = 0;
  std::uint64_t stdout_dropped_bytes = 0;
  std::vector<std::pair<std::string, std::uint64_t>> bad_by_rule;
  /// Histogram of link round trips: upper bounds in seconds (without +Inf),
  /// the count of each bucket (not cumulative; one more than bounds, +Inf
  /// last), the number and sum (seconds) of all observations.
  std::vector<double> rtt_bounds_s;
  std::vector<std::uint64_t> rtt_counts;
  std::uint64_t rtt_count = 0;
  double rtt_sum_s = 0;
};

/// Every wire rule a bad frame can break, so that each series exists at 0.
const std::vector<std::string>& bad_frame_rules();

std::string prometheus_text(const metrics_snapshot& m);

} // namespace lanmesh
