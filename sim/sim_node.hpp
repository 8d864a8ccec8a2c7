#pragma once
// One simulated lanmesh node: the node's own decision classes
// (actors/proto: link_table, overlay_policy, membership, liveness,
// discovery_logic, broadcast_tree or relay) wired as actors/supervisor.cpp,
// actors/connection.cpp, actors/discovery.cpp and actors/tree_host.cpp wire
// them: the same events in, the same commands carried out, but over the
// simulated network (sim/network.hpp) instead of sockets and actors.
// Nothing here decides anything the real node decides elsewhere: it only
// moves events and commands.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "actors/proto/broadcast_tree.hpp"
#include "actors/proto/discovery_logic.hpp"
#include "actors/proto/link_table.hpp"
#include "actors/proto/liveness.hpp"
#include "actors/proto/membership.hpp"
#include "actors/proto/overlay_policy.hpp"
#include "actors/proto/relay.hpp"
#include "sim/network.hpp"

namespace lanmesh::sim {

class world;

/// The node's settings, as main/config.hpp's defaults give them.
struct node_settings {
  overlay_params overlay;
  membership_params membership;
  liveness_params live;
  tree_params tree;
  bool flood = false; // broadcast.mode = "flood" (the relay), else the tree
  std::chrono::milliseconds heartbeat{1200};
  std::chrono::milliseconds handshake_timeout{3000};
  std::chrono::milliseconds maintain_interval{500};
  std::chrono::milliseconds confirm_timeout{500};
  std::chrono::milliseconds query_window{150};
  std::chrono::milliseconds announce_min{1000};
  std::chrono::milliseconds announce_max{30000};
  std::size_t seen_max_entries = 200000;
  std::chrono::seconds seen_max_age{300};
  bool discovery = true;
  std::size_t discovery_candidates = 256;
};

constexpr std::uint16_t tcp_port = 7000;
constexpr std::uint16_t probe_port = 7001;
constexpr std::uint16_t udp_port = 47601;

std::string ip_text(std::uint32_t ip);
std::uint32_t ip_of_index(std::uint32_t idx);

class sim_node {
public:
  sim_node(world& w, std::uint32_t idx, node_id id, const node_settings& s,
           time_point now);

  // --- events (from the world) -----------------------------------------------
  void start(time_point now);
  void on_msg(std::uint64_t conn, std::uint32_t from, const link_msg& m, time_point now);
  void on_dial_failed(std::uint64_t conn, bool timed_out, time_point now);
  void on_hs_timeout(std::uint64_t conn, time_point now);
  void on_silence(std::uint64_t conn, time_point now);
  void on_confirm(node_id subject, bool refused, bool timed_out, time_point now);
  void on_datagram(const std::vector<std::uint8_t>& bytes, std::uint32_t from_idx,
                   time_point now);
  void on_timer(time_point now);
  void publish(const std::string& payload, time_point now);
  /// Leaves: LEFT record and goodbye on every link.
  void leave(time_point now);

  // --- queries -----------------------------------------------------------------
  std::uint32_t idx() const { return idx_; }
  node_id id() const { return id_; }
  std::uint32_t ip() const { return ip_; }
  std::string addr() const { return ip_text(ip_) + ":" + std::to_string(tcp_port); }
  const link_table& links() const { return table_; }
  const membership& members() const { return members_; }
  std::vector<std::uint64_t> open_conns() const;
  time_point next_wakeup() const;
  plane_stats plane() const;
  std::uint64_t redirects_taken() const { return redirects_taken_; }

private:
  struct dial_info {
    node_id expected = 0;
    std::uint8_t flags = 0;
    std::string reason;
    bool callback() const { return (flags & wire::hello_callback) != 0; }
    bool reconnect = false; // membership's re-dial: not an overlay link (supervisor)
  };
  struct conn_rec {
    std::uint32_t peer_idx = 0;
    direction dir = direction::in;
    std::string dialed; // outbound: the address dialed
    dial_info info;
    bool up = false;          // registered at least once
    bool established = false; // hellos exchanged, link kept (or standby)
    node_id peer = 0;
    std::string addr; // the peer's listening address
  };

  std::uint16_t capacity() const;
  std::vector<link_view> link_views() const;
  std::unordered_set<node_id> pending() const;
  std::unordered_set<node_id> dropping_peers() const;
  wire::hello make_hello(std::uint8_t flags) const;
  void send(std::uint64_t conn, link_msg m);
  void send_control(node_id peer, link_msg m);
  void send_plane(node_id peer, broadcast_plane::frames_ptr frames);
  void run(const membership::commands& cmds, time_point now);
  void run(std::vector<discovery_logic::command> cmds);
  void carry_out(time_point now); // the tree's outbox
  void report_candidates(bool force, time_point now);
  void dial(const std::string& addr, dial_info info, time_point now,
            std::chrono::milliseconds timeout = std::chrono::milliseconds(0));
  void dial_ended(const std::string& addr, const std::string& why, bool failed,
                  time_point now);
  void update_load(time_point now);
  void maintain(time_point now);
  void handle_closed(std::uint64_t conn, const std::string& reason, bool peer_alive,
                     time_point now);
  /// Closes this end (after sending `m`, if any) and handles the close.
  void close(std::uint64_t conn, const link_msg* m, const std::string& reason,
             time_point now);
  void offer(std::uint64_t conn, const wire::hello& h, time_point now);
  void plane_up(node_id peer, time_point now);
  void plane_down(node_id peer, time_point now);
  void arm();

  world& w_;
  std::uint32_t idx_;
  node_id id_;
  std::uint32_t ip_;
  node_settings s_;
  link_table table_;
  overlay_policy policy_;
  membership members_;
  liveness live_;
  discovery_logic disc_;
  std::unique_ptr<broadcast_tree> tree_;
  std::unique_ptr<relay> flood_;
  broadcast_tree::outbox out_;
  std::map<std::uint64_t, conn_rec> conns_;
  std::map<std::string, dial_info> dialing_;
  std::set<std::uint64_t> dropping_;
  std::set<node_id> plane_links_;
  std::uint64_t own_seq_ = 0;
  bool window_reported_ = false;
  time_point window_end_ = time_point::max();
  time_point next_maintain_ = time_point::max();
  bool stopping_ = false;
  std::uint64_t redirects_taken_ = 0;
};

} // namespace lanmesh::sim
