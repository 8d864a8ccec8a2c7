#include "actors/metrics_text.hpp"

#include <cstdio>
#include <map>

namespace lanmesh {

namespace {

// A label value with \, " and newline escaped, as the format asks.
std::string label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"')
      out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

std::string number(double v) {
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%.9g", v);
  return buf;
}

class page {
public:
  void family(const char* name, const char* type, const char* help) {
    out_ += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type +
            "\n";
  }
  void sample(const std::string& name, const std::string& labels, const std::string& v) {
    out_ += name;
    if (!labels.empty())
      out_ += "{" + labels + "}";
    out_ += " " + v + "\n";
  }
  void sample(const std::string& name, const std::string& labels, std::uint64_t v) {
    sample(name, labels, std::to_string(v));
  }
  void single(const char* name, const char* type, const char* help, std::uint64_t v) {
    family(name, type, help);
    sample(name, "", v);
  }
  std::string done() { return std::move(out_); }

private:
  std::string out_;
};

} // namespace

const std::vector<std::string>& bad_frame_rules() {
  static const std::vector<std::string> rules = {
      "zero_length",      "length_over_limit", "unknown_type",    "truncated_body",
      "trailing_bytes",   "bad_magic",         "string_too_long", "count_over_limit",
      "unexpected_frame", "handshake_timeout"};
  return rules;
}

std::string prometheus_text(const metrics_snapshot& m) {
  page p;
  p.family("lanmesh_info", "gauge", "This node: id, cluster and version (always 1).");
  p.sample("lanmesh_info",
           "node=\"" + label(m.node) + "\",cluster=\"" + label(m.cluster) +
               "\",version=\"" + label(m.version) + "\"",
           1);
  p.family("lanmesh_links", "gauge", "Established links by direction.");
  p.sample("lanmesh_links", "dir=\"in\"", m.links_in);
  p.sample("lanmesh_links", "dir=\"out\"", m.links_out);
  p.single("lanmesh_members", "gauge", "Alive members known besides this node.",
           m.members);
  p.single("lanmesh_sent_total", "counter", "Broadcasts this node originated.", m.sent);
  p.single("lanmesh_delivered_total", "counter", "Broadcasts of other nodes delivered.",
           m.delivered);
  p.single("lanmesh_duplicates_total", "counter",
           "Broadcast copies dropped as already seen.", m.duplicates);
  p.single("lanmesh_forwarded_total", "counter", "Broadcast frames handed to links.",
           m.forwarded);
  p.family("lanmesh_bad_frames_total", "counter",
           "Frames that broke a wire rule, by rule (the link was closed).");
  std::map<std::string, std::uint64_t> rules;
  for (auto& r : bad_frame_rules())
    rules[r] = 0;
  for (auto& [r, n] : m.bad_by_rule)
    rules[r] = n;
  for (auto& [r, n] : rules)
    p.sample("lanmesh_bad_frames_total", "rule=\"" + label(r) + "\"", n);
  p.single("lanmesh_dials_total", "counter", "Outbound dials started.", m.dials);
  p.single("lanmesh_dial_failures_total", "counter", "Dials that found no node.",
           m.dial_failures);
  p.single("lanmesh_redials_total", "counter", "Dials that replaced or repaired a link.",
           m.redials);
  p.single("lanmesh_refused_total", "counter", "Handshakes refused.", m.refused);
  p.single("lanmesh_handshake_timeouts_total", "counter",
           "Links that did not finish their handshake in time.", m.handshake_timeouts);
  p.single("lanmesh_auth_failures_total", "counter",
           "Links that failed the cluster key: another key, none, a replayed handshake, "
           "a tampered record.",
           m.auth_failures);
  p.single("lanmesh_pending_refused_total", "counter",
           "Inbound links closed at once because node.max-pending were still in their "
           "handshake.",
           m.pending_refused);
  p.family("lanmesh_frames_total", "counter", "TCP frames by direction.");
  p.sample("lanmesh_frames_total", "dir=\"in\"", m.frames_in);
  p.sample("lanmesh_frames_total", "dir=\"out\"", m.frames_out);
  p.family("lanmesh_bytes_total", "counter", "TCP bytes by direction.");
  p.sample("lanmesh_bytes_total", "dir=\"in\"", m.bytes_in);
  p.sample("lanmesh_bytes_total", "dir=\"out\"", m.bytes_out);
  p.family("lanmesh_member_records_total", "counter",
           "Membership records received and sent.");
  p.sample("lanmesh_member_records_total", "dir=\"in\"", m.member_records_in);
  p.sample("lanmesh_member_records_total", "dir=\"out\"", m.member_records_out);
  p.family("lanmesh_discovery_datagrams_total", "counter",
           "Discovery datagrams: sent, received, bad, of another cluster.");
  p.sample("lanmesh_discovery_datagrams_total", "kind=\"sent\"", m.discovery_sent);
  p.sample("lanmesh_discovery_datagrams_total", "kind=\"received\"",
           m.discovery_received);
  p.sample("lanmesh_discovery_datagrams_total", "kind=\"bad\"", m.discovery_bad);
  p.sample("lanmesh_discovery_datagrams_total", "kind=\"foreign\"", m.discovery_foreign);
  p.single("lanmesh_stdout_dropped_bytes_total", "counter",
           "Output bytes dropped because stdout's reader fell too far behind.",
           m.stdout_dropped_bytes);
  p.family("lanmesh_link_rtt_seconds", "histogram",
           "Heartbeat round trips of every link.");
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < m.rtt_counts.size(); ++i) {
    cumulative += m.rtt_counts[i];
    auto le = i < m.rtt_bounds_s.size() ? number(m.rtt_bounds_s[i]) : std::string("+Inf");
    p.sample("lanmesh_link_rtt_seconds_bucket", "le=\"" + le + "\"", cumulative);
  }
  p.sample("lanmesh_link_rtt_seconds_sum", "", number(m.rtt_sum_s));
  p.sample("lanmesh_link_rtt_seconds_count", "", m.rtt_count);
  return p.done();
}

} // namespace lanmesh
