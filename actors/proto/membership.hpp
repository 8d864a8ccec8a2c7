#pragma once
// Membership as a plain state machine: events in (links up and down, records
// and digests from neighbours, timers), commands out (records and digests to
// send, ports to check, nodes to re-dial). No sockets, no actors, time passed
// in, so the node's supervisor and a simulator drive the same code.
//
// Design (README "How it works", "Membership"): every node keeps a bounded
// table of the cluster's members (full membership up to
// `max_members`), and what travels is change, never a periodic flood:
// - A record is news when it is newer than what a node holds: a higher
//   incarnation, or for the same incarnation a later state (alive <
//   unreachable < dead < left), or for an alive record a higher version
//   (the node's load changed in a way that matters for choosing links).
//   News is applied and passed on to every other neighbour once, batched
//   (a few ms); anything else stops where it arrives. So a join, leave or
//   death costs each node about one record per link, and a quiet cluster
//   sends none (memberlist's gossip, carried on the overlay's links).
// - A node learns its neighbours' records from their HELLO, and a newcomer
//   the rest by anti-entropy: the dialer of a new link sends a SYNC digest
//   (XOR of a hash of every alive member's id and incarnation, itself
//   included); a receiver whose digest differs pushes its table, and asks
//   for the other's. The same exchange runs every `sync_interval` with one
//   random neighbour, repairing anything gossip lost (memberlist's
//   push-pull, but only on a digest mismatch: two frames when in step).
// - Deaths: a link closed without goodbye makes this node check the peer's
//   TCP port (`confirm`): refused means the process is gone, and the node
//   declares it dead; a link that fell silent with its probes unanswered
//   (actors/proto/probe_tracker) makes it declare the peer unreachable and
//   re-dial it every `reconnect_interval` for `reconnect_for` (a partition
//   heals from both sides this way). Dead and left members are forgotten
//   cluster-wide at once (a tombstone stays `tombstone_ttl` so that stale
//   records cannot bring them back); a node that hears itself declared
//   anything but alive refutes with a higher incarnation (SWIM).
// - Hostile or broken input: records naming an impossible address, and
//   loopback addresses arriving over a link that is not on loopback, are
//   dropped and counted; an alive member's address changes only by its own
//   record (over its own link) or a new incarnation; a full table evicts
//   tombstones first, then the member heard of longest ago, never a
//   neighbour (from queues in the order news came, so that a cluster larger
//   than the table does not cost a scan of it per record); claims that a
//   live neighbour is gone are not believed but handed to that neighbour,
//   which refutes them.
// - A table full with a cluster larger than it: an evicted member's record
//   heard again (a neighbour's table push, its news coming round) would be
//   news again, evict another, be passed on, and so on without end. So a
//   full table remembers what it evicted (id, incarnation, state; two
//   generations of a Bloom filter, 32 KiB, made on the first eviction) and
//   takes such a record as stale: only a new incarnation or a new state of
//   a member it does not hold is news to it. Such a table also takes a
//   member it does not hold only from news passed on at most
//   `partial_reach` times (each record counts its hops): otherwise every
//   join would be news to every node, and joining n nodes would cost n²
//   (the simulator's 10 000-node join did not end in 6 minutes). Two such
//   tables never have
//   the same digest: a SYNC between them pushes nothing (a newcomer, whose
//   table is small, is still sent the table).

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "actors/proto/node_id.hpp"
#include "net/wire.hpp"

namespace lanmesh {

using wire::member_record;
using wire::member_state;

struct membership_params {
  /// Most members (tombstones included) the table holds.
  std::size_t max_members = 1024;
  /// News waits this long for more news before it goes out (one frame).
  std::chrono::milliseconds rumour_delay{5};
  /// Period of the anti-entropy exchange with one random neighbour (jittered
  /// between half and one and a half times this).
  std::chrono::milliseconds sync_interval{30000};
  /// How long a left or dead member's tombstone stays.
  std::chrono::milliseconds tombstone_ttl{30000};
  /// An unreachable member is re-dialed this long by the nodes that saw it
  /// go silent, and its tombstone stays as long.
  std::chrono::milliseconds reconnect_for{120000};
  std::chrono::milliseconds reconnect_interval{1000};
  /// A table that holds part of the cluster (it has evicted) takes a
  /// member it does not hold only from news passed on at most this many
  /// times: a join then reaches the nodes within about this many links of
  /// the newcomer (with 4 links a node, about a table's worth), not the
  /// whole cluster. So does a held member's load change; its other changes
  /// (a new incarnation or state) reach every node that holds it.
  std::uint8_t partial_reach = 4;
  /// Most members re-dialed at once.
  std::size_t max_reconnects = 16;
  std::uint64_t seed = 1;
};

/// What this node knows of one member.
struct member {
  member_record rec;
  std::chrono::steady_clock::time_point changed{}; // last news of it
  std::chrono::steady_clock::time_point expires{}; // tombstones: forgotten then
  bool linked = false;                             // a neighbour of this node
  bool alive() const { return rec.state == member_state::alive; }
  bool serves() const { return rec.port != 0 && rec.ip != 0; }
  std::uint32_t load() const { return std::uint32_t{rec.links_in} + rec.links_out; }
  /// "ip:port" of its listener, or "" if it does not serve.
  std::string addr() const;
};

/// Why a link to a member ended, as the membership sees it.
enum class link_end {
  goodbye,             // said goodbye (leave or overlay maintenance)
  reset,               // closed without goodbye: crashed? (confirm by its port)
  timeout_unreachable, // silent, probes unanswered: unreachable
  timeout_alive,       // silent, but probes were answered: the link failed, not the node
  other,               // refused, bad frame, duplicate, ...: nothing to conclude
};

struct membership_stats {
  std::uint64_t records_received = 0;
  std::uint64_t records_sent = 0;
  std::uint64_t news = 0;              // records that changed the table
  std::uint64_t rejected_address = 0;  // impossible address (0.0.0.0, multicast, ...)
  std::uint64_t rejected_loopback = 0; // a loopback address over a non-loopback link
  std::uint64_t rejected_record = 0;   // id 0, or an address change not from its owner
  std::uint64_t syncs_sent = 0;
  std::uint64_t syncs_received = 0;
  std::uint64_t sync_pushes = 0; // digests differed: table pushed
  std::uint64_t sync_skipped_partial =
      0;                           // differed, but both tables hold part of the cluster
  std::uint64_t refutations = 0;   // this node was said to be gone
  std::uint64_t declared_dead = 0; // by this node: its port refused
  std::uint64_t declared_unreachable = 0;
  std::uint64_t evicted = 0;         // members dropped for room
  std::uint64_t forgotten_heard = 0; // records of evicted members, not news again
  std::uint64_t beyond_reach = 0;    // newcomers heard of too far away (partial_reach)
  std::uint64_t reconnects = 0;      // re-dials of unreachable members
};

/// Whether an IPv4 address (host order) can be a member's address at all:
/// not 0.0.0.0/8, not multicast or reserved (224/3), not broadcast.
bool possible_member_ip(std::uint32_t ip);
inline bool loopback_ip(std::uint32_t ip) {
  return (ip >> 24) == 127;
}

class membership {
public:
  using clock = std::chrono::steady_clock;
  using time_point = clock::time_point;

  /// Records for one neighbour, at most wire::max_member_records.
  struct send_records {
    node_id to;
    std::vector<member_record> records;
    bool sync; // an anti-entropy push
  };
  struct send_sync {
    node_id to;
    wire::sync body;
  };
  /// Is this member's process gone? Dial its TCP port: refused says yes.
  struct confirm {
    node_id id;
    std::uint32_t ip;
    std::uint16_t port;
  };
  /// Dial this unreachable member again (partition repair).
  struct reconnect {
    node_id id;
    std::uint32_t ip;
    std::uint16_t port;
  };
  /// A member entered or left the set of alive members.
  struct changed {
    node_id id;
    member_state state;
    std::string addr;
  };
  using command = std::variant<send_records, send_sync, confirm, reconnect, changed>;
  using commands = std::vector<command>;

  /// `self`: this node's own record (state alive; ip ignored).
  membership(member_record self, membership_params p);

  // --- events ---------------------------------------------------------------

  /// A link to `hello.node` is established. `hello` is its own record from
  /// its HELLO, with `ip` the address its link comes from; `loopback`: the
  /// link is on the loopback interface; `we_dialed`: this node starts the
  /// anti-entropy exchange.
  commands link_up(const member_record& hello, bool loopback, bool we_dialed,
                   time_point now);
  commands link_down(node_id peer, link_end why, time_point now);
  /// Records from neighbour `from` (a MEMBERS frame).
  commands received(node_id from, const std::vector<member_record>& records, bool sync,
                    time_point now);
  commands sync_received(node_id from, const wire::sync& s, time_point now);
  /// The result of a confirm: the port refused, or did not answer in time.
  commands confirmed(node_id id, bool refused, bool timed_out, time_point now);
  /// A dial of ip:port expecting `expected` was refused, or answered by
  /// another node: the member at that address is gone.
  commands dial_refused(node_id expected, std::uint32_t ip, std::uint16_t port,
                        time_point now);
  /// This node's load changed. News only when it matters for choosing
  /// links: capacity to or from zero, inbound links fewer than outbound or
  /// not, or the load moved by two or more since it last went out.
  commands set_load(std::uint16_t in, std::uint16_t out, std::uint16_t capacity,
                    time_point now);
  /// A neighbour's load from its heartbeat: kept, not passed on.
  void peer_load(node_id peer, std::uint16_t in, std::uint16_t out,
                 std::uint16_t capacity);
  /// This node leaves: its LEFT record to every neighbour, now.
  commands leave(time_point now);
  /// Runs what is due: news out, anti-entropy, re-dials, expiry.
  commands tick(time_point now);
  time_point next_wakeup() const;

  // --- queries --------------------------------------------------------------

  const member_record& self() const { return self_; }
  const std::unordered_map<node_id, member>& members() const { return members_; }
  const member* find(node_id id) const;
  /// Alive members besides this node.
  std::size_t alive() const { return alive_count_; }
  /// Digest of the alive members, this node included (see SYNC).
  std::uint64_t digest() const { return digest_; }
  const membership_stats& stats() const { return stats_; }
  std::size_t reconnecting() const { return duties_.size(); }

private:
  struct neighbour {
    std::uint32_t ip = 0;
    bool loopback = false;
  };
  struct duty {
    std::uint32_t ip = 0;
    std::uint16_t port = 0;
    time_point until{};
    time_point next{};
  };
  enum class taken { news, stale, rejected };

  taken take(member_record rec, node_id from, time_point now, commands& out);
  void about_self(const member_record& rec);
  void declare(node_id id, member_state state, time_point now, commands& out);
  void set_record(member& m, const member_record& rec, time_point now, commands& out);
  bool make_room();
  void note_age(const member& m);
  static std::uint64_t fingerprint(const member_record& r);
  void forget(const member_record& r);
  bool forgotten(const member_record& r) const;
  /// The table holds part of the cluster: it has evicted and is near full.
  bool partial() const;
  void queue(node_id subject, node_id from, time_point now);
  void flush(commands& out);
  void push_table(node_id to, bool sync, commands& out);
  void add_duty(const member& m, time_point now);
  void expire(time_point now);
  std::chrono::milliseconds jitter(std::chrono::milliseconds around);
  static std::uint64_t contribution(const member_record& r);

  member_record self_;
  membership_params p_;
  std::mt19937_64 rng_;
  std::unordered_map<node_id, member> members_;
  // (member, its `changed`) in the order news came, alive and gone apart:
  // make_room's order. Entries whose member changed since are skipped.
  std::deque<std::pair<node_id, time_point>> by_age_alive_, by_age_gone_;
  std::unordered_map<node_id, neighbour> neighbours_;
  std::unordered_map<node_id, duty> duties_;
  // News waiting to go out: subject -> the neighbour it came from (0: none).
  std::vector<std::pair<node_id, node_id>> pending_;
  time_point flush_at_ = time_point::max();
  time_point next_sync_ = time_point::max();
  time_point next_expiry_ = time_point::max();
  // The load last sent out as news (set_load's threshold).
  std::uint32_t told_load_ = 0;
  bool told_full_ = false, told_short_ = false;
  std::uint64_t digest_ = 0;
  std::size_t alive_count_ = 0;
  // Evicted records (see the top): bits of the current and the previous
  // generation; the current one is cleared into the previous when it has
  // taken forget_capacity records. Empty until the first eviction.
  std::vector<std::uint64_t> forgot_now_, forgot_before_;
  std::size_t forgot_count_ = 0;
  membership_stats stats_;
};

} // namespace lanmesh
