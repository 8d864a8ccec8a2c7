#pragma once
// The simulated network of lanmesh-sim: a virtual clock, one event queue,
// per-frame latency drawn from a distribution, loss, and partitions. No
// sockets: a "TCP connection" is a pair of FIFO directions whose frames
// arrive in order after their latency (a lost segment costs a
// retransmission timeout and holds back what follows, as TCP does); a
// datagram is dropped with the loss probability. Deterministic: every
// random draw comes from one seeded generator, ties in time are broken by
// the order the events were scheduled.

#include <chrono>
#include <cstdint>
#include <memory>
#include <queue>
#include <random>
#include <string>
#include <vector>

#include "actors/proto/broadcast_plane.hpp"
#include "net/wire.hpp"

namespace lanmesh::sim {

using clock = std::chrono::steady_clock;
using time_point = clock::time_point;
using duration = clock::duration;

/// The one-way latency of a frame or datagram.
struct latency_model {
  enum kind_t { constant, uniform, lognormal } kind = uniform;
  double a_ms = 0.2; // constant: the value; uniform: min; lognormal: median
  double b_ms = 1.0; // uniform: max; lognormal: sigma (of the log)
  duration sample(std::mt19937_64& rng) const;
  double mean_ms() const;
};

/// What travels on a simulated TCP connection: one frame (or, for the
/// broadcast plane, one buffer of whole frames as the proto classes emit it).
enum class msg_kind : std::uint8_t {
  hello,    // the dialer's HELLO
  welcome,  // the acceptor's answer
  refuse,   // REFUSE(reason), after an optional REDIRECT
  goodbye,  // GOODBYE(reason)
  reset,    // the peer's process died: the kernel answered with RST
  members,  // MEMBERS
  sync,     // SYNC
  reverse,  // REVERSE
  redirect, // REDIRECT
  ping,     // a heartbeat carrying the sender's load
  plane,    // BROADCAST and the tree's frames
};

struct link_msg {
  msg_kind kind = msg_kind::ping;
  wire::hello hello;
  std::string reason;
  wire::members members;
  wire::sync sync;
  std::vector<wire::redirect_entry> redirect;
  std::uint16_t links_in = 0, links_out = 0, capacity = 0;
  broadcast_plane::frames_ptr bytes;
};
using msg_ptr = std::shared_ptr<const link_msg>;

enum class ev : std::uint8_t {
  timer,       // node: its proto classes' wake-up
  msg,         // node, conn: a frame arrives
  dial_failed, // node, conn: arg 0 refused, 1 timed out
  hs_timeout,  // node, conn: the handshake did not finish
  silence,     // node, conn: the link fell silent (liveness judges it)
  confirm,     // node: arg = subject index; extra = 0 open, 1 refused, 2 timeout
  datagram,    // node: discovery datagram from `peer`
  action,      // scenario action number arg
  metrics,     // metrics interval
};

struct event {
  time_point at;
  std::uint64_t seq = 0;
  ev type = ev::timer;
  std::uint32_t node = 0;
  std::uint32_t peer = 0;
  std::uint64_t conn = 0;
  std::uint64_t arg = 0;
  std::uint64_t extra = 0;
  msg_ptr msg;
  std::shared_ptr<const std::vector<std::uint8_t>> bytes; // datagrams
};

class network {
public:
  network(std::uint64_t seed, latency_model lat, double loss, duration rto);

  time_point now() const { return now_; }
  void schedule(event e);
  /// The next event; false when the queue is empty.
  bool next(event& e);
  std::size_t pending() const { return queue_.size(); }
  std::uint64_t processed() const { return processed_; }

  std::mt19937_64& rng() { return rng_; }
  duration latency() { return lat_.sample(rng_); }
  double mean_latency_ms() const { return lat_.mean_ms(); }
  /// A datagram is lost.
  bool lost();

  /// Partitions: nodes in different groups cannot reach each other.
  void set_group(std::uint32_t node, std::uint16_t g);
  std::uint16_t group(std::uint32_t node) const {
    return node < group_.size() ? group_[node] : 0;
  }
  bool blocked(std::uint32_t a, std::uint32_t b) const { return group(a) != group(b); }
  void heal() { std::fill(group_.begin(), group_.end(), 0); }

  /// A simulated TCP connection from `dialer` to `acceptor`.
  struct conn_state {
    std::uint32_t a = 0, b = 0; // dialer, acceptor
    time_point last_ab{}, last_ba{};
    bool a_open = true, b_open = true;
    bool live = false; // false: closed at both ends (or never opened)
  };
  std::uint64_t open_conn(std::uint32_t dialer, std::uint32_t acceptor);
  conn_state* conn(std::uint64_t id);
  /// `node` closed its end; the state goes once both ends have.
  void close_end(std::uint64_t id, std::uint32_t node);
  /// Sends `m` on connection `id` from `from`: arrives in order after the
  /// latency (plus a retransmission timeout when a segment is lost).
  void send(std::uint64_t id, std::uint32_t from, msg_ptr m, duration extra = {});

private:
  struct later {
    bool operator()(const event& x, const event& y) const {
      return x.at != y.at ? x.at > y.at : x.seq > y.seq;
    }
  };
  std::priority_queue<event, std::vector<event>, later> queue_;
  time_point now_{};
  std::uint64_t seq_ = 0, processed_ = 0;
  std::mt19937_64 rng_;
  latency_model lat_;
  double loss_;
  duration rto_;
  std::vector<std::uint16_t> group_;
  // Indexed by connection id (ids count up from 1): a lookup per frame in
  // a hash map of every connection was 8 % of a 10 000-node run.
  std::vector<conn_state> conns_;
  std::uint64_t next_conn_ = 1;
};

} // namespace lanmesh::sim
