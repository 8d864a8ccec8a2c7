#pragma once
// The world of lanmesh-sim: the simulated nodes, the network between them,
// the scenario's schedule, and the metrics. Output is JSON lines on stdout
// (one per metrics interval, optional one per broadcast, one summary);
// nothing in it depends on the wall clock or on hash-table order.

#include <cstdint>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <unordered_map>
#include <vector>

#include "sim/network.hpp"
#include "sim/scenario.hpp"
#include "sim/sim_node.hpp"

namespace lanmesh::sim {

/// Frame kinds counted in the metrics.
enum class fk : std::uint8_t {
  hello,
  welcome,
  refuse,
  goodbye,
  members,
  member_records,
  sync,
  reverse,
  redirect,
  ping,
  broadcast,
  ihave,
  graft,
  prune,
  iwant,
  nothave,
  streams,
  query,
  announce,
  answer,
  multicast_rx, // group datagrams the whole group receives (sampled or not)
  count_
};
const char* to_string(fk k);

class world {
public:
  explicit world(const scenario& sc);
  /// Runs the scenario; writes JSON lines to `out`, progress to `progress`
  /// (may be null).
  void run(std::ostream& out, std::ostream* progress);

  // --- for the nodes -------------------------------------------------------------
  network& net() { return net_; }
  const node_settings& settings() const { return settings_; }
  /// Dials `addr` from node `from`: the HELLO goes once the connection is
  /// up; a refused or unanswered dial comes back as dial_failed.
  std::uint64_t dial(std::uint32_t from, const std::string& addr, link_msg hello,
                     std::chrono::milliseconds timeout);
  void send(std::uint64_t conn, std::uint32_t from, link_msg m);
  void close_end(std::uint64_t conn, std::uint32_t node) { net_.close_end(conn, node); }
  void check_port(std::uint32_t from, node_id subject, std::uint32_t ip,
                  std::uint16_t port);
  void group_send(std::uint32_t from, std::vector<std::uint8_t> bytes,
                  wire::announce_kind kind);
  void send_to(std::uint32_t from, const std::string& ip,
               std::vector<std::uint8_t> bytes);
  void delivered(std::uint32_t node, const broadcast_plane::frames_ptr& frames,
                 time_point now);
  void gap(std::uint32_t node, const wire::stream_range& r);
  void arm(std::uint32_t node, time_point at);
  void count(fk k, std::uint64_t n = 1) { counts_[static_cast<int>(k)] += n; }

private:
  struct slot {
    std::unique_ptr<sim_node> node; // null once gone
    node_id id = 0;
    bool up = false;  // joined and running
    bool host = true; // its host answers (a killed process: RST, refused)
    time_point joined = time_point::max();
    time_point gone = time_point::max();
    time_point armed = time_point::max();
    std::uint64_t delivered = 0;
  };
  struct bcast {
    std::uint32_t origin = 0;
    std::uint64_t seq = 0;
    time_point at{};
    std::vector<std::uint8_t> got; // per node: deliveries (0, 1, more: duplicate)
    std::uint32_t reached = 0, reached_fast = 0;
    std::uint16_t ldh = 0;
    double hop_sum = 0;
    time_point last{};
    std::uint64_t payload_in = 0;
  };

  std::uint32_t add_node(time_point now);
  void join(std::uint32_t idx, time_point now);
  void kill(std::uint32_t idx, bool silent, time_point now);
  void leave(std::uint32_t idx, time_point now);
  void partition(std::uint16_t groups, time_point now);
  void heal(time_point now);
  void do_action(std::size_t i, time_point now);
  void schedule_actions();
  void publish(std::uint32_t idx, time_point now);
  std::vector<std::uint32_t> up_nodes() const;
  std::uint32_t pick_up(std::mt19937_64& rng);
  std::size_t components(std::size_t* largest) const;
  void metrics(std::ostream& out, time_point now, bool last);
  void summary(std::ostream& out, time_point now);
  void count_plane(const broadcast_plane::frames_ptr& frames, std::uint32_t to);
  std::int64_t ms_since_start(time_point t) const;
  std::int64_t idx_of_addr(const std::string& addr) const;

  scenario sc_;
  node_settings settings_;
  network net_;
  std::mt19937_64 rng_;
  time_point start_;
  std::vector<slot> slots_;
  std::unordered_map<node_id, std::uint32_t> by_id_;
  std::vector<bcast> bcasts_;
  // origin index -> seq -> broadcast number
  std::unordered_map<std::uint32_t, std::vector<std::uint32_t>> by_origin_;
  std::uint64_t counts_[static_cast<int>(fk::count_)] = {};
  std::uint64_t last_counts_[static_cast<int>(fk::count_)] = {};
  double node_seconds_ = 0, last_node_seconds_ = 0;
  time_point last_tick_{};
  std::uint64_t gaps_ = 0, gap_messages_ = 0, duplicates_ = 0;
  std::uint64_t deliveries_ = 0, last_deliveries_ = 0, payload_in_ = 0,
                last_payload_in_ = 0;
  std::vector<std::string> actions_log_;
  std::ostream* out_ = nullptr;
};

} // namespace lanmesh::sim
