#pragma once
// Broadcast by epidemic trees, with order and repair, as a plain class:
// encoded frames and timers in, frames to send and messages to deliver out.
// No sockets, no actors, time passed in; the node runs it on the I/O thread
// where the frames arrive (actors/tree_host), and tests and the simulator
// drive it directly.
//
// Streams. Each origin numbers its broadcasts 1, 2, 3, ... in a stream of
// its own, named (origin, epoch): the epoch is the origin's start time in
// microseconds, so a restart begins a new stream. Every node delivers each
// stream in order, once: a message ahead of a missing one waits (bounded)
// while the missing one is fetched; one that can no longer be had is
// reported as a gap and skipped.
//
// Tree (Plumtree: Leitão, Pereira, Rodrigues, SRDS 2007, the 2019 revision;
// per origin, as Riak's broadcast keeps its trees per root). Per stream,
// every link is eager (payloads pushed) or lazy (IHAVE: the ids only,
// batched over `ihave_delay`). A new link starts eager. The first copy of a
// message makes the link it came on eager (the revision's fix: the tree
// re-forms along the paths messages really take); a later copy on an eager
// link makes it lazy at both ends (PRUNE) — never the link the first copy
// came on, so every node keeps a path to the origin. Trees per origin keep
// many senders from pruning each other's paths: each stream's tree settles to
// its own first-arrival paths and stays there. An IHAVE for a message not
// received starts a timer; if the message has not come when it runs out
// (longer while the eager path may only be slow, short once later messages
// of the stream have come, and never less than a few round trips of that
// link), the node GRAFTs the announcer, which makes the link eager and sends
// what is missing. Messages missing ahead of received ones are fetched
// (IWANT) from the link that sent the later ones, then from the others.
//
// History and catch-up. Every message a node has is kept for
// `history_age` and within `history_bytes`; it answers GRAFT and IWANT from
// there, and NOTHAVE for what is gone. When a link comes up both ends send
// STREAMS (per stream, the highest sequence number up to which they have
// every message), and each fetches what the other has and it lacks: a node
// cut off for a while catches up on reconnection. Only streams with
// something delivered are listed: an empty one tells the peer nothing to
// fetch, and listing them spread a stream per node to every node (and the
// tree's work with them). Where a node starts a stream it first hears of:
// one whose origin started later, from the first message (so lines typed
// before a node's first link reach the cluster it joins); one whose origin
// ran before it, after what its neighbours have if the node is a newcomer
// (its first link came up less than `join_grace` ago: it gets what is sent
// after it joined), and from the first message if the node was already
// there (its neighbours' STREAMS at its join did not list the stream, so
// the stream's messages came after that: a node stopped or cut off before
// it heard from the origin fetches what it missed).

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "actors/proto/node_id.hpp"
#include "net/wire.hpp"

namespace lanmesh {

struct tree_params {
  /// Bounds of the history every node keeps (payload frames, all streams).
  std::size_t history_bytes = 64u << 20;
  std::chrono::milliseconds history_age{60000};
  /// IHAVEs wait this long for more to go in the same frame.
  std::chrono::milliseconds ihave_delay{5};
  /// Bounds of the wait after an IHAVE before a GRAFT (the wait grows with
  /// the link's round trip and with how late eager copies have been).
  std::chrono::milliseconds graft_min{10};
  std::chrono::milliseconds graft_max{200};
  /// A message missing ahead of received ones is fetched after this.
  std::chrono::milliseconds gap_wait{5};
  /// How long a GRAFT or IWANT is given before the next link is asked.
  std::chrono::milliseconds fetch_timeout{300};
  /// A message no link has said is gone is asked for in rounds this long
  /// before it is reported as a gap (every link saying NOTHAVE ends the
  /// wait at once).
  std::chrono::milliseconds give_up_after{10000};
  /// Most messages of one stream waiting for a missing one.
  std::size_t max_waiting = 65536;
  /// Most streams known (the oldest idle ones are dropped beyond; where a
  /// dropped stream was is remembered, as many again, so that it does not
  /// start over if heard of again).
  std::size_t max_streams = 4096;
  /// Links that come up within this long of a node's first link are its
  /// join: streams they list are older than the node (see the top). Shorter
  /// than overlay.dead-after (1.8 s): a node stopped long enough to lose its
  /// links relinks later than that after its first link, and must count as
  /// one that was there (2 s was too long: cluster.tree's SIGSTOP test
  /// relinked 1.9 s after the first link).
  std::chrono::milliseconds join_grace{1000};
  /// A stream's first message takes a settled stream's lazy links. Off: it
  /// cut the first messages' copies (RMR 0.27 -> 0.04 in sim.ci1000) but the
  /// settled tree is another origin's, so paths got longer (last-delivery
  /// hop 13 -> 23, over the CI gate).
  bool start_on_template = false;
  /// false: flooding with order and repair (every link eager, no IHAVE).
  bool tree = true;
};

struct tree_stats {
  std::uint64_t payloads_in = 0;             // BROADCAST frames received
  std::uint64_t delivered = 0;               // messages handed on, in order
  std::uint64_t duplicates = 0;              // copies of messages already had
  std::uint64_t forwarded = 0;               // BROADCAST frames sent (own ones included)
  std::uint64_t ihave_out = 0, ihave_in = 0; // message ids announced / heard
  std::uint64_t grafts_out = 0, grafts_in = 0;
  std::uint64_t prunes_out = 0, prunes_in = 0;
  std::uint64_t iwants_out = 0, iwants_in = 0;
  std::uint64_t fetched = 0;      // messages that came on a GRAFT or IWANT of ours
  std::uint64_t gaps = 0;         // ranges reported as lost
  std::uint64_t gap_messages = 0; // messages in them
  std::uint64_t history_bytes = 0;
  std::uint64_t history_messages = 0;
  std::uint64_t waiting = 0; // received, not yet deliverable
  std::uint64_t streams = 0;
};

class broadcast_tree {
public:
  using clock = std::chrono::steady_clock;
  using time_point = clock::time_point;
  using frames_ptr = std::shared_ptr<const std::vector<std::uint8_t>>;

  /// Frames for one link, one buffer.
  struct send {
    node_id to;
    frames_ptr frames;
  };
  /// Messages to deliver, in order: whole BROADCAST frames, one buffer.
  struct deliver {
    frames_ptr frames;
    std::size_t count;
  };
  /// Messages first..last of a stream will never be delivered here.
  struct gap {
    wire::stream_range range;
  };
  struct outbox {
    std::vector<send> sends;
    std::vector<deliver> deliveries;
    std::vector<gap> gaps;
    void clear() {
      sends.clear();
      deliveries.clear();
      gaps.clear();
    }
  };

  /// `epoch`: this node's own stream's epoch (its start time in us); streams
  /// of origins with a later epoch started after this node.
  broadcast_tree(node_id self, std::uint64_t epoch, tree_params p);

  // --- events ---------------------------------------------------------------
  void link_up(node_id peer, time_point now, outbox& out);
  void link_down(node_id peer, time_point now, outbox& out);
  /// The link's round trip, for its graft wait.
  void rtt(node_id peer, clock::duration rtt);
  /// Frames of the broadcast plane from `from`, whole, one after the other.
  void inbound(node_id from, const std::uint8_t* data, std::size_t size, time_point now,
               outbox& out);
  /// This node's own broadcasts; returns the sequence number of the first.
  std::uint64_t publish(const std::vector<std::string>& payloads, time_point now,
                        outbox& out);
  /// Runs what is due: IHAVEs out, grafts and fetches, history expiry.
  void tick(time_point now, outbox& out);
  time_point next_wakeup() const { return wakeup_; }

  // --- queries --------------------------------------------------------------
  const tree_stats& stats() const { return stats_; }
  std::uint64_t epoch() const { return epoch_; }
  std::uint64_t last_published() const { return own_seq_; }
  /// How many links are lazy for the stream (for tests).
  std::size_t lazy_links(node_id origin, std::uint64_t epoch) const;
  /// Up to which sequence number the stream is delivered (0: unknown).
  std::uint64_t delivered_up_to(node_id origin, std::uint64_t epoch) const;

private:
  struct stream_key {
    node_id origin;
    std::uint64_t epoch;
    bool operator==(const stream_key& o) const {
      return origin == o.origin && epoch == o.epoch;
    }
    bool operator<(const stream_key& o) const {
      return origin != o.origin ? origin < o.origin : epoch < o.epoch;
    }
  };
  struct key_hash {
    std::size_t operator()(const stream_key& k) const {
      return std::hash<std::uint64_t>()(k.origin * 0x9e3779b97f4a7c15ULL ^ k.epoch);
    }
  };
  /// One message this node has: where its frame lives (shared buffers).
  struct held {
    frames_ptr chunk; // null: not held
    std::uint32_t offset = 0;
    std::uint32_t size = 0;
    time_point at{};
  };
  /// Messages wanted: first..last, who may have them, when to ask next.
  struct want {
    std::uint64_t first = 0, last = 0;
    std::vector<node_id> from; // candidates, the most promising first
    std::size_t tried = 0;     // candidates asked so far
    time_point due{};
    time_point created{};
    bool graft = false; // ask with GRAFT (announced on a lazy link)
    bool broadened = false;
    std::size_t gone = 0; // NOTHAVE answers in this round of asking
  };
  struct stream {
    stream_key key{};
    bool started = false;
    std::uint64_t next = 1; // next to deliver
    std::uint64_t base = 1; // sequence number of msgs.front()
    std::deque<held> msgs;  // history and waiting messages, by seq - base
    std::size_t waiting = 0;
    std::vector<node_id> lazy;
    bool fresh = true; // no message yet: the first takes template_'s links
    node_id parent = 0;
    time_point parent_rx{}; // when the parent last brought a new message
    std::vector<want> wants;
    time_point active{};
    bool busy_listed = false; // in busy_ (has wants or waiting messages)
    // The last new message of this stream in the frames being read, if
    // read_gen is the read's (are they in order, to be delivered in place?).
    std::uint64_t read_gen = 0, read_last = 0;
  };
  struct link {
    node_id peer = 0;
    clock::duration rtt = std::chrono::microseconds(500);
    std::vector<wire::stream_range> ihave; // announcements waiting
    std::vector<wire::stream_range> prunes;
    time_point ihave_due = time_point::max();
    // Ranges this node asked of the link: copies of them are no reason to prune.
    std::vector<std::pair<wire::stream_range, time_point>> asked;
  };

  stream* find(const stream_key& k);
  stream& get(const stream_key& k, time_point now);
  /// A stream's first message: its lazy links become template_'s (if any).
  void adopt_template(stream& s);
  bool start(stream& s, std::uint64_t seq_seen, std::uint64_t peer_has, time_point now);
  void mark_busy(stream& s);
  template <class F> void for_each_busy(F&& f);
  bool has(const stream& s, std::uint64_t seq) const;
  void hold(stream& s, std::uint64_t seq, frames_ptr chunk, std::uint32_t offset,
            std::uint32_t size, time_point now);
  /// Messages delivered now: first..last of a stream.
  struct ready_run {
    stream* s;
    std::uint64_t first, last;
  };
  /// Passes what is held in order from s.next; adds the range to `runs`.
  void deliver_ready(stream& s, std::vector<ready_run>& runs);
  /// Runs the busy streams' wants, then passes what they hold in order into
  /// runs_; returns how many messages that is.
  std::size_t run_busy(time_point now, outbox& out);
  /// Delivers runs_ (`count` messages): `in_place` when it holds exactly
  /// them, in order, else a copy of their frames.
  void hand_out(std::size_t count, const frames_ptr& in_place, outbox& out);
  void received(stream& s, std::uint64_t seq, time_point now);
  void add_want(stream& s, std::uint64_t first, std::uint64_t last, node_id from,
                bool graft, time_point due, time_point now);
  void run_wants(stream& s, time_point now, outbox& out);
  void give_up(stream& s, want& w, outbox& out);
  void serve(node_id to, stream& s, std::uint64_t first, std::uint64_t last, outbox& out);
  bool lazy(const stream& s, node_id peer) const;
  void set_lazy(stream& s, node_id peer, bool on);
  link* link_of(node_id peer);
  bool asked_of(link& l, const stream_key& k, std::uint64_t seq, time_point now);
  void queue_ihave(link& l, const stream_key& k, std::uint64_t seq, time_point now);
  void flush_links(time_point now, outbox& out, bool all);
  void expire(time_point now, outbox& out);
  void send_streams(node_id to, outbox& out);
  void control(node_id to, wire::frame_type t, const wire::stream_range& r, outbox& out);
  void recompute_wakeup();
  clock::duration graft_wait(const link& l) const;

  node_id self_;
  std::uint64_t epoch_;
  tree_params p_;
  std::uint64_t own_seq_ = 0;
  std::unordered_map<stream_key, stream, key_hash> streams_;
  // The stream looked up last: frames come in runs of one stream, and the
  // hash lookup per frame was 10 % of the simulator's broadcast phase.
  // Cleared before that stream is erased.
  stream* last_ = nullptr;
  /// The stream whose links a new origin's stream starts from: the lowest
  /// key among streams with two messages or more (every node that heard
  /// them picks the same one, so their eager links agree at both ends).
  std::optional<stream_key> template_;
  // Streams with wants or waiting messages: the per-frame and per-tick work
  // runs over these, not over every stream (pointers into streams_ stay
  // valid until erased; a dropped stream is taken out first).
  std::vector<stream*> busy_;
  // Dropped streams: key -> next to deliver (bounded by max_streams).
  std::unordered_map<stream_key, std::uint64_t, key_hash> dropped_;
  std::deque<stream_key> dropped_order_;
  // The first link's time (the node's join); max: no link yet.
  time_point joined_at_ = time_point::max();
  std::vector<link> links_;
  // Every held message in arrival order, for expiry by age and bytes.
  std::deque<std::pair<stream_key, std::uint64_t>> order_;
  std::size_t history_bytes_ = 0;
  // How late eager copies came after an IHAVE of them (moving average).
  clock::duration lag_ = clock::duration::zero();
  time_point wakeup_ = time_point::max();
  std::uint64_t read_gen_ = 0;  // inbound() calls, for stream::read_gen
  std::vector<ready_run> runs_; // scratch of deliver_ready, kept for its capacity
  tree_stats stats_;
};

} // namespace lanmesh
