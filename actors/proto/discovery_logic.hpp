#pragma once
// What the discovery actor decides, as a plain state machine: events in
// (start, datagram, load change, timer), commands out (datagrams to send). No
// sockets, no actors, time passed in, so tests and simulators drive it directly.
//
// Behaviour:
// - At start a node sends QUERY to the group and listens for a query window.
//   Nodes with spare capacity ANSWER at once (after a small random jitter, so a
//   big cluster does not answer in one burst), to the querier's own socket.
// - A node hearing no one within the window is the first: it dials nobody.
// - While it has capacity a node ANNOUNCEs to the group, with an interval that
//   doubles up to a ceiling while nothing changes, and restarts short when
//   capacity frees or a query arrives. A full node is silent.
// - The cluster's cost stays flat per node as it grows: every datagram sent
//   to the group reaches every node, so in a cluster of n > announcers
//   members the ceiling is announce_max * n / announcers (about `announcers`
//   announcements per announce_max in the whole cluster, whatever n), and a
//   QUERY is answered (and restarts the short interval) by each node with
//   probability announcers / n: a newcomer still hears about `announcers`
//   answers at once. memberlist scales its gossip and probe intervals with
//   the cluster the same way.
// - Every announcement, query and answer of the same cluster refreshes a
//   bounded, expiring table of candidates with their load.
// - A datagram carrying this node's id that this node did not send (another
//   source address or port, or another TCP port) is a clash: two nodes claim
//   one id. A node that hears its id asked for in a QUERY answers at once,
//   even when full, so that the newcomer hears of the clash within its query
//   window; the node still in its query window is the one that gives way
//   (two started at the same moment both do; discovery.hpp). The own
//   datagrams that multicast loops back are told apart by their source
//   (own_ip/own_udp_port, the send socket's address).

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "actors/proto/node_id.hpp"
#include "net/announce.hpp"

namespace lanmesh {

struct discovery_params {
  node_id self = 0;
  std::string cluster;
  std::uint16_t tcp_port = 0;
  std::chrono::milliseconds query_window{150};
  std::chrono::milliseconds answer_jitter{20};
  std::chrono::milliseconds announce_min{1000};
  std::chrono::milliseconds announce_max{30000};
  std::chrono::milliseconds candidate_max_age{90000};
  std::size_t max_candidates = 256;
  /// About this many nodes announce per announce_max, and answer a query, in
  /// a cluster of any size (see set_cluster_size).
  std::size_t announcers = 16;
  /// Answers are bounded, so forged or reflected queries cannot make this
  /// node a traffic amplifier: at most this many a second, at most this many
  /// waiting, and one waiting answer per querier address.
  std::uint32_t max_answers_per_second = 50;
  std::size_t max_pending_answers = 32;
  std::uint64_t seed = 1;
  /// This node's send socket (source of everything it multicasts). Port 0:
  /// unknown, then every datagram with this node's id counts as its own.
  std::string own_ip;
  std::uint16_t own_udp_port = 0;
};

/// A node heard on the group, with the load it announced.
struct candidate {
  node_id id = 0;
  std::string ip;
  std::uint16_t port = 0; // TCP listen port
  std::uint16_t links_in = 0;
  std::uint16_t links_out = 0;
  std::uint16_t capacity = 0;
  std::chrono::steady_clock::time_point seen{};
  std::string addr() const { return ip + ":" + std::to_string(port); }
  std::uint32_t load() const { return std::uint32_t{links_in} + links_out; }
};

struct link_load {
  std::uint16_t links_in = 0;
  std::uint16_t links_out = 0;
  std::uint16_t capacity = 0;
  bool operator==(const link_load& o) const {
    return links_in == o.links_in && links_out == o.links_out && capacity == o.capacity;
  }
};

class discovery_logic {
public:
  using clock = std::chrono::steady_clock;

  struct send_group {
    std::vector<std::uint8_t> bytes;
    wire::announce_kind kind;
  };
  struct send_to {
    std::string ip;
    std::uint16_t port;
    std::vector<std::uint8_t> bytes;
  };
  using command = std::variant<send_group, send_to>;

  /// What became of a datagram: taken, or dropped and why.
  enum class verdict { taken, bad, foreign, own, clash };

  /// The other claimant of this node's id, as its last datagram gave it.
  struct clash_info {
    std::string addr; // its TCP listen address "ip:port"
    wire::announce_kind kind = wire::announce_kind::announce;
  };

  explicit discovery_logic(discovery_params p);

  /// Sends the first QUERY and opens the query window.
  std::vector<command> start(clock::time_point now);

  /// A datagram from `ip`:`udp_port`. Updates candidates; may schedule an answer.
  verdict on_datagram(const std::uint8_t* data, std::size_t size, const std::string& ip,
                      std::uint16_t udp_port, clock::time_point now);

  /// This node's links changed. Announces again soon if capacity freed up.
  void set_load(link_load load, clock::time_point now);

  /// How many members the cluster has (this node's membership's count of
  /// alive members, itself included). Stretches the announcement ceiling
  /// and thins the answers to a query once it exceeds `announcers`.
  void set_cluster_size(std::size_t n, clock::time_point now);

  /// The announcement interval's ceiling at the current cluster size.
  std::chrono::milliseconds announce_ceiling() const;

  /// Runs what is due at `now`: answers and announcements.
  std::vector<command> on_timer(clock::time_point now);

  /// When on_timer should run next.
  clock::time_point next_wakeup() const;

  /// True until the query window has passed.
  bool querying(clock::time_point now) const { return now < window_end_; }

  /// Candidates with capacity, least loaded first (ties in random order).
  std::vector<candidate> candidates(clock::time_point now);

  /// Drops a candidate (e.g. its dial failed).
  void forget(node_id id) { changed_ = table_.erase(id) > 0 || changed_; }

  /// True when the table changed since the last call (then resets the flag).
  bool take_changed() { return std::exchange(changed_, false); }

  std::size_t table_size() const { return table_.size(); }
  /// Queries not answered: over the answer rate or the waiting bound.
  std::uint64_t answers_limited() const { return answers_limited_; }
  const clash_info& last_clash() const { return clash_; }
  std::chrono::milliseconds announce_interval() const { return interval_; }

private:
  std::vector<std::uint8_t> encode(wire::announce_kind kind) const;
  void answer(const std::string& ip, std::uint16_t port, clock::time_point at,
              clock::time_point now);
  void expire(clock::time_point now);
  /// True for a node that should answer this query (all of them in a small
  /// cluster, about `announcers` of them in a big one).
  bool takes_query();

  discovery_params p_;
  std::mt19937_64 rng_;
  link_load load_;
  clock::time_point window_end_{};
  clock::time_point next_announce_{clock::time_point::max()};
  std::chrono::milliseconds interval_;
  std::size_t cluster_size_ = 1;
  std::unordered_map<node_id, candidate> table_;
  struct pending_answer {
    std::string ip;
    std::uint16_t port;
    clock::time_point at;
  };
  std::vector<pending_answer> answers_;
  clock::time_point answer_window_{};
  std::uint32_t answers_in_window_ = 0;
  std::uint64_t answers_limited_ = 0;
  bool changed_ = false;
  clash_info clash_;
};

} // namespace lanmesh
