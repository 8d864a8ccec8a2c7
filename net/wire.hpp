#pragma once
// lanmesh wire format (TCP links). Sans-IO: bytes in, frames out, no sockets.
//
// Every frame is `u32 length (big-endian) | u8 type | body`, where length
// counts the type byte and the body. Phases of a link:
//
//   1. The dialer sends HELLO (magic, version, cluster, node id, its own
//      membership record: incarnation, version, listen and probe ports, load;
//      flags: REVERSE, CALLBACK).
//   2. The acceptor answers WELCOME (same body as HELLO) or REFUSE (reason)
//      and closes. The dialer may still REFUSE a WELCOME (e.g. duplicate).
//      A full acceptor may send REDIRECT (other nodes to try) before REFUSE;
//      a dialer takes a REDIRECT only in this phase. A CALLBACK hello asks the
//      acceptor to dial the dialer instead (REFUSE "callback" when it will).
//   3. Both sides exchange BROADCAST, MEMBERS (membership changes, flooded
//      only when they are news, and anti-entropy pushes), SYNC (a digest of
//      the member table, for anti-entropy), PING (heartbeat: each side's,
//      carrying an echo of the other's last one for the round trip, and its
//      load), PROBE_REQ / PROBE_ACK (an indirect liveness probe of a third
//      node, as SWIM does), REVERSE (asks the peer to re-dial this link in the
//      other direction; the new link's HELLO carries the reverse flag and
//      replaces the old one on both sides) and TOPO_QUERY / TOPO_REPLY.
//   4. Either side sends GOODBYE (reason), stops writing and reads until EOF.
//
// Every length and count is checked against a limit before anything is
// allocated. A decoding error is the first alternative of the result variant,
// so a caller cannot forget that decoding fails.

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace lanmesh::wire {

constexpr std::uint32_t magic = 0x4c4d5348; // "LMSH"
constexpr std::uint16_t version = 4;
constexpr std::size_t header_size = 5;      // u32 length + u8 type
constexpr std::size_t max_cluster_len = 64; // bytes of the cluster name
constexpr std::size_t max_reason_len = 256; // bytes of a refuse/goodbye reason
constexpr std::size_t broadcast_overhead = 8 + 8 + 8 + 2; // origin, epoch, seq, hops

enum class frame_type : std::uint8_t {
  hello = 1,
  welcome = 2,
  refuse = 3,
  broadcast = 4,
  ping = 5,
  // 6 was PONG (version 1): PING echoes now carry the round trip.
  goodbye = 7,
  members = 8,
  reverse = 9,
  redirect = 10,
  topo_query = 11,
  topo_reply = 12,
  sync = 13,
  probe_req = 14,
  probe_ack = 15,
  // The broadcast tree (actors/proto/broadcast_tree): message ids announced
  // lazily, links made eager or lazy per stream, messages fetched.
  ihave = 16,
  graft = 17,
  prune = 18,
  iwant = 19,
  nothave = 20,
  streams = 21,
};

/// Whether `t` names a frame type of this version.
constexpr bool known_frame_type(std::uint8_t t) {
  return (t >= 1 && t <= 21) && t != 6;
}

/// Whether frames of type `t` belong to the broadcast plane: BROADCAST and
/// the tree's frames, which an established link hands to the I/O thread's
/// broadcast code still encoded (tcp_session::route_broadcasts).
constexpr bool broadcast_plane(std::uint8_t t) {
  return t == 4 || (t >= 16 && t <= 21);
}

/// HELLO flag: this link replaces the existing link between the two nodes
/// (a reversal the acceptor asked for).
constexpr std::uint8_t hello_reverse = 1;
/// HELLO flag: the dialer needs an inbound link; it asks the acceptor to dial
/// it instead of keeping this link (the acceptor answers REFUSE "callback"
/// and dials back, or REFUSE "callback declined").
constexpr std::uint8_t hello_callback = 2;
/// HELLO flag: broadcasts travel by the tree (broadcast.mode = "tree"); a
/// node links only with nodes of its own mode.
constexpr std::uint8_t hello_tree = 4;
/// Most entries in a REDIRECT.
constexpr std::size_t max_redirects = 8;
/// Most links listed in a TOPO_REPLY.
constexpr std::size_t max_topo_links = 64;

/// Body of HELLO and WELCOME: who the sender is, and its own membership
/// record (so the peer knows it at once, without waiting for gossip).
struct hello {
  std::uint32_t magic = wire::magic;
  std::uint16_t version = wire::version;
  std::string cluster;
  std::uint64_t node = 0;
  std::uint64_t incarnation = 0; // grows at every start (and refutation)
  std::uint32_t record_version = 0;
  std::uint16_t listen_port = 0; // 0: does not serve
  std::uint16_t probe_port = 0;  // UDP port answering liveness probes; 0: none
  std::uint8_t flags = 0;
  std::uint16_t links_in = 0;
  std::uint16_t links_out = 0;
  std::uint16_t capacity = 0;
};

struct refuse {
  std::string reason;
};

struct goodbye {
  std::string reason;
};

/// One message of a stream: each origin numbers its broadcasts 1, 2, 3, ...
/// in a stream of its own, named by the origin and its epoch (its start time
/// in microseconds, so a restart begins a new stream).
struct broadcast {
  std::uint64_t origin = 0;
  std::uint64_t epoch = 0;
  std::uint64_t seq = 0;
  std::uint16_t hops = 0;
  std::string payload; // any bytes
};

/// A range of one stream's sequence numbers, first..last inclusive.
struct stream_range {
  std::uint64_t origin = 0;
  std::uint64_t epoch = 0;
  std::uint64_t first = 0;
  std::uint64_t last = 0;
};

/// Most entries in an IHAVE, PRUNE or STREAMS frame.
constexpr std::size_t max_tree_entries = 64;

/// IHAVE: messages the sender has, announced to a lazy link.
struct ihave {
  std::vector<stream_range> ranges;
};
/// GRAFT: make this link eager for the stream and send the range.
struct graft {
  stream_range range;
};
/// PRUNE: make this link lazy for these streams (first/last unused).
struct prune {
  std::vector<stream_range> streams;
};
/// IWANT: send the range (the link stays as it is).
struct iwant {
  stream_range range;
};
/// NOTHAVE: of a GRAFT or IWANT, the sender no longer has this range.
struct nothave {
  stream_range range;
};
/// STREAMS: per stream, the highest sequence number up to which the sender
/// has every message (last; first unused): sent when a link comes up, so
/// each side fetches what it lacks.
struct streams {
  std::vector<stream_range> streams;
};

/// What one node says of another's membership. States, least to most final
/// for one incarnation: alive, unreachable (silent, probes unanswered: maybe
/// partitioned), dead (its port refused: the process is gone), left (said
/// goodbye). A higher incarnation of the same node beats any of them.
enum class member_state : std::uint8_t { alive = 0, unreachable = 1, dead = 2, left = 3 };

const char* to_string(member_state s);

struct member_record {
  std::uint64_t node = 0;
  std::uint64_t incarnation = 0;
  std::uint32_t version = 0; // the node's own count of its load changes
  member_state state = member_state::alive;
  std::uint32_t ip = 0; // as seen by the node's neighbour; 0 in a node's own record
  std::uint16_t port = 0;
  std::uint16_t probe_port = 0;
  std::uint16_t links_in = 0;
  std::uint16_t links_out = 0;
  std::uint16_t capacity = 0;
  /// Times this record was passed on as news (membership: a table that
  /// holds part of the cluster takes a newcomer only within a reach).
  std::uint8_t hops = 0;
  bool operator==(const member_record& o) const;
};

/// Encoded size of one member record.
constexpr std::size_t member_record_size = 8 + 8 + 4 + 1 + 1 + 4 + 2 + 2 + 2 + 2 + 2;
/// Most records in one MEMBERS frame.
constexpr std::size_t max_member_records = 64;
/// MEMBERS flag: an anti-entropy push (the answer to a SYNC), not a rumour.
constexpr std::uint8_t members_sync = 1;

struct members {
  std::uint8_t flags = 0;
  std::vector<member_record> records;
};

/// Anti-entropy: a digest of the sender's member table (its alive members,
/// itself included). A receiver whose digest differs pushes its table back
/// as MEMBERS; with `sync_answer` it also sends its own SYNC, so that the
/// first sender pushes what the receiver lacks.
constexpr std::uint8_t sync_answer = 1;

struct sync {
  std::uint64_t digest = 0;
  std::uint32_t count = 0; // alive members the digest covers
  std::uint8_t flags = 0;
};

/// Asks a neighbour to probe `target` over UDP (SWIM's indirect probe): the
/// link to it is silent, but is the node alive?
struct probe_req {
  std::uint64_t nonce = 0;
  std::uint64_t target = 0;
  std::uint32_t ip = 0;
  std::uint16_t probe_port = 0;
};

/// The neighbour heard `target` answer the probe of that nonce.
struct probe_ack {
  std::uint64_t nonce = 0;
  std::uint64_t target = 0;
};

struct reverse {};

struct redirect_entry {
  std::uint64_t node = 0;
  std::uint32_t ip = 0;
  std::uint16_t port = 0;
};

struct redirect {
  std::vector<redirect_entry> entries;
};

/// A topology snapshot's question, flooded like a broadcast.
struct topo_query {
  std::uint64_t origin = 0; // the asker
  std::uint64_t seq = 0;
  std::uint16_t hops = 0;
};

struct topo_link {
  std::uint64_t peer = 0;
  std::uint8_t dir = 0;     // 0 in, 1 out
  std::int32_t rtt_us = -1; // -1: not measured yet
};

/// One node's answer, sent hop by hop back along the path the query came
/// (never flooded).
struct topo_reply {
  std::uint64_t query_origin = 0;
  std::uint64_t query_seq = 0;
  std::uint64_t node = 0;
  std::uint16_t port = 0;
  std::uint16_t links_in = 0;
  std::uint16_t links_out = 0;
  std::uint16_t capacity = 0;
  std::vector<topo_link> links;
};

/// A heartbeat, sent by each side of an idle link. `nonce` is the sender's
/// clock; `echo` the nonce of the last PING it received on this link and
/// `echo_delay_us` how long it held it, so each side measures the round trip
/// from the other's heartbeat without a reply frame. Carries the sender's load.
struct ping {
  std::uint64_t nonce = 0;
  std::uint64_t echo = 0;
  std::uint32_t echo_delay_us = 0;
  std::uint16_t links_in = 0;
  std::uint16_t links_out = 0;
  std::uint16_t capacity = 0;
};

/// A decoded frame. HELLO and WELCOME share the `hello` body; `type` tells them apart.
struct frame {
  frame_type type;
  std::variant<hello, refuse, broadcast, ping, goodbye, members, reverse, redirect,
               topo_query, topo_reply, sync, probe_req, probe_ack, ihave, graft, prune,
               iwant, nothave, streams>
      body;
};

/// Why a byte stream was rejected. Each value is one rule; `/stats` counts them.
enum class error_code : std::uint8_t {
  zero_length, // a frame must at least hold its type byte
  length_over_limit,
  unknown_type,
  truncated_body, // the body ends before its fields do
  trailing_bytes, // the body holds more than its fields
  bad_magic,
  string_too_long,  // cluster or reason over its limit
  count_over_limit, // a list longer than its limit
  bad_value,        // a field outside its allowed values
};

const char* to_string(error_code code);

struct decode_error {
  error_code code;
  std::string detail;
};

/// Result of decoding one complete frame body.
using decode_result = std::variant<decode_error, frame>;

/// Decodes the type byte and body of one frame (the length prefix already
/// removed). The payload bound is enforced by the length check before this.
decode_result decode(frame_type type, const std::uint8_t* body, std::size_t size);

/// Incremental reader for a byte stream: feed bytes as they arrive, take frames
/// out with next(). After the first error the reader stays failed.
class frame_reader {
public:
  /// `max_frame` bounds the length field (type byte + body) of any frame;
  /// `max_broadcast` that of BROADCAST frames, checked once the type is known.
  explicit frame_reader(std::size_t max_frame, std::size_t max_broadcast = SIZE_MAX)
      : max_frame_(max_frame), max_broadcast_(max_broadcast) {}

  void feed(const std::uint8_t* data, std::size_t size);

  /// Alternative 0: an error (the stream is bad); 1: a frame; 2: need more bytes.
  struct need_more {};
  std::variant<decode_error, frame, need_more> next();

  /// Like next(), but frames of the broadcast plane (BROADCAST and the
  /// tree's) are not decoded: each is checked (its limit, its body's size
  /// for its type) and appended whole, length prefix included, to `raw`,
  /// counted in `raw_frames`, and reading goes on. Other frames, errors and
  /// need_more come back as from next(). A busy link's broadcasts thus cost
  /// no allocation each.
  std::variant<decode_error, frame, need_more> next(std::vector<std::uint8_t>& raw,
                                                    std::size_t& raw_frames);

  /// Wire size (length prefix included) of the frame last returned by next().
  std::size_t last_size() const { return last_size_; }

  /// Bytes received but not yet consumed (bounded by max_frame + header).
  std::size_t buffered() const { return buf_.size() - pos_; }

private:
  std::variant<decode_error, frame, need_more> next_impl(std::vector<std::uint8_t>* raw,
                                                         std::size_t* raw_frames);

  std::size_t max_frame_;
  std::size_t max_broadcast_;
  std::vector<std::uint8_t> buf_;
  std::size_t pos_ = 0;
  std::size_t last_size_ = 0;
  std::optional<decode_error> failed_;
};

/// The largest frame length (type + body) a node with this payload limit
/// accepts: a full broadcast, or the largest control frame if that is larger.
std::size_t max_frame_for_payload(std::size_t max_payload);

/// The largest BROADCAST frame length for this payload limit.
constexpr std::size_t broadcast_frame_limit(std::size_t max_payload) {
  return 1 + broadcast_overhead + max_payload;
}

/// A BROADCAST frame's fields, read in place from its encoded bytes.
struct broadcast_view {
  std::uint64_t origin = 0;
  std::uint64_t epoch = 0;
  std::uint64_t seq = 0;
  std::uint16_t hops = 0;
  std::string_view payload;
};

/// Offset of the hops field in an encoded BROADCAST frame.
constexpr std::size_t broadcast_hops_offset = header_size + 24;

/// Reads a big-endian unsigned integer of `n` bytes.
inline std::uint64_t read_be(const std::uint8_t* p, int n) {
  std::uint64_t v = 0;
  for (int i = 0; i < n; ++i)
    v = (v << 8) | p[i];
  return v;
}

/// Reads the fields of the whole BROADCAST frame at `p` (length `len` as in
/// its prefix: type byte and body).
inline broadcast_view view_broadcast(const std::uint8_t* p, std::size_t len) {
  broadcast_view v;
  v.origin = read_be(p + header_size, 8);
  v.epoch = read_be(p + header_size + 8, 8);
  v.seq = read_be(p + header_size + 16, 8);
  v.hops = static_cast<std::uint16_t>(read_be(p + broadcast_hops_offset, 2));
  v.payload = std::string_view(reinterpret_cast<const char*>(p) + header_size +
                                   broadcast_overhead,
                               len - 1 - broadcast_overhead);
  return v;
}

/// Calls `f(type, frame, frame_size)` for each whole frame in `data`; stops
/// at the first that is not whole and returns false then.
template <class F>
bool for_each_frame(const std::uint8_t* data, std::size_t size, F&& f) {
  std::size_t pos = 0;
  while (pos < size) {
    if (size - pos < header_size)
      return false;
    const std::uint8_t* p = data + pos;
    auto len = static_cast<std::size_t>(read_be(p, 4));
    if (len < 1 || len > size - pos - 4)
      return false;
    f(p[4], p, 4 + len);
    pos += 4 + len;
  }
  return true;
}

/// Calls `f(view, frame, frame_size)` for each BROADCAST frame in `data`, a
/// run of whole frames as frame_reader::next(raw, ...) or
/// append_broadcast() leave them. Stops at the first frame that is not a
/// whole BROADCAST; returns false then.
template <class F>
bool for_each_broadcast(const std::uint8_t* data, std::size_t size, F&& f) {
  std::size_t pos = 0;
  while (pos < size) {
    if (size - pos < header_size + broadcast_overhead)
      return false;
    const std::uint8_t* p = data + pos;
    auto len = static_cast<std::size_t>(read_be(p, 4));
    if (p[4] != static_cast<std::uint8_t>(frame_type::broadcast) ||
        len < 1 + broadcast_overhead || len > size - pos - 4)
      return false;
    f(static_cast<const broadcast_view&>(view_broadcast(p, len)), p, 4 + len);
    pos += 4 + len;
  }
  return true;
}

/// Appends `b` encoded to `out` (many broadcasts, one buffer).
void append_broadcast(std::vector<std::uint8_t>& out, std::uint64_t origin,
                      std::uint64_t epoch, std::uint64_t seq, std::uint16_t hops,
                      std::string_view payload);

/// Appends a frame of the tree carrying stream ranges: IHAVE, PRUNE and
/// STREAMS take up to max_tree_entries (all four fields each for IHAVE;
/// origin, epoch for PRUNE; origin, epoch, last for STREAMS), GRAFT, IWANT
/// and NOTHAVE exactly one.
void append_tree_frame(std::vector<std::uint8_t>& out, frame_type type,
                       const stream_range* ranges, std::size_t count);

/// Bytes of one entry of a tree frame of this type.
constexpr std::size_t tree_entry_size(frame_type t) {
  return t == frame_type::prune ? 16 : t == frame_type::streams ? 24 : 32;
}

/// Calls `f(range)` for each entry of the tree frame at `p` (whole frame,
/// `len` as in its prefix); false if its size does not fit its type.
template <class F>
bool for_each_tree_entry(frame_type t, const std::uint8_t* p, std::size_t len, F&& f) {
  bool counted =
      t == frame_type::ihave || t == frame_type::prune || t == frame_type::streams;
  std::size_t body = len - 1, off = header_size, n = 1;
  auto entry = tree_entry_size(t);
  if (counted) {
    if (body < 1)
      return false;
    n = p[off];
    off += 1;
    body -= 1;
    if (n > max_tree_entries)
      return false;
  }
  if (body != n * entry)
    return false;
  for (std::size_t i = 0; i < n; ++i, off += entry) {
    stream_range r;
    r.origin = read_be(p + off, 8);
    r.epoch = read_be(p + off + 8, 8);
    if (entry >= 24)
      r.last = read_be(p + off + 16, 8);
    if (entry == 32) {
      r.first = r.last;
      r.last = read_be(p + off + 24, 8);
    }
    f(r);
  }
  return true;
}

/// Sets the hops field of the encoded BROADCAST frame at `frame`.
inline void set_broadcast_hops(std::uint8_t* frame, std::uint16_t hops) {
  frame[broadcast_hops_offset] = static_cast<std::uint8_t>(hops >> 8);
  frame[broadcast_hops_offset + 1] = static_cast<std::uint8_t>(hops & 0xff);
}

// Encoders: each returns one complete frame, length prefix included.
std::vector<std::uint8_t> encode_tree_frame(frame_type type,
                                            const std::vector<stream_range>& ranges);
std::vector<std::uint8_t> encode_hello(const hello& h, bool welcome = false);
std::vector<std::uint8_t> encode_refuse(const std::string& reason);
std::vector<std::uint8_t> encode_goodbye(const std::string& reason);
std::vector<std::uint8_t> encode_broadcast(const broadcast& b);
std::vector<std::uint8_t> encode_ping(const ping& p);
/// One MEMBERS frame of at most max_member_records records.
std::vector<std::uint8_t> encode_members(const members& m);
std::vector<std::uint8_t> encode_sync(const sync& s);
std::vector<std::uint8_t> encode_probe_req(const probe_req& r);
std::vector<std::uint8_t> encode_probe_ack(const probe_ack& a);
std::vector<std::uint8_t> encode_reverse();
std::vector<std::uint8_t> encode_redirect(const redirect& r);
std::vector<std::uint8_t> encode_topo_query(const topo_query& q);
std::vector<std::uint8_t> encode_topo_reply(const topo_reply& r);

} // namespace lanmesh::wire
