#include "net/wire.hpp"

#include <algorithm>
#include <cstring>

namespace lanmesh::wire {

const char* to_string(error_code code) {
  switch (code) {
  case error_code::zero_length:
    return "zero_length";
  case error_code::length_over_limit:
    return "length_over_limit";
  case error_code::unknown_type:
    return "unknown_type";
  case error_code::truncated_body:
    return "truncated_body";
  case error_code::trailing_bytes:
    return "trailing_bytes";
  case error_code::bad_magic:
    return "bad_magic";
  case error_code::string_too_long:
    return "string_too_long";
  case error_code::count_over_limit:
    return "count_over_limit";
  case error_code::bad_value:
    return "bad_value";
  }
  return "unknown";
}

const char* to_string(member_state s) {
  switch (s) {
  case member_state::alive:
    return "alive";
  case member_state::unreachable:
    return "unreachable";
  case member_state::dead:
    return "dead";
  case member_state::left:
    return "left";
  }
  return "unknown";
}

bool member_record::operator==(const member_record& o) const {
  return node == o.node && incarnation == o.incarnation && version == o.version &&
         state == o.state && ip == o.ip && port == o.port && probe_port == o.probe_port &&
         links_in == o.links_in && links_out == o.links_out && capacity == o.capacity &&
         hops == o.hops;
}

namespace {

// Appends big-endian integers and length-prefixed strings to a frame.
class writer {
public:
  explicit writer(frame_type type, std::size_t body_hint = 0) {
    out_.reserve(header_size + body_hint);
    out_.resize(4); // length, patched in finish()
    out_.push_back(static_cast<std::uint8_t>(type));
  }
  writer& u8(std::uint8_t v) {
    out_.push_back(v);
    return *this;
  }
  writer& u16(std::uint16_t v) { return be(v, 2); }
  writer& u32(std::uint32_t v) { return be(v, 4); }
  writer& u64(std::uint64_t v) { return be(v, 8); }
  writer& bytes(const std::string& s) {
    out_.insert(out_.end(), s.begin(), s.end());
    return *this;
  }
  std::vector<std::uint8_t> finish() {
    auto len = static_cast<std::uint32_t>(out_.size() - 4);
    for (int i = 0; i < 4; ++i)
      out_[i] = static_cast<std::uint8_t>(len >> (8 * (3 - i)));
    return std::move(out_);
  }

private:
  writer& be(std::uint64_t v, int n) {
    for (int i = n - 1; i >= 0; --i)
      out_.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
    return *this;
  }
  std::vector<std::uint8_t> out_;
};

// Reads fields from a body; every read checks the remaining size first.
class reader {
public:
  reader(const std::uint8_t* p, std::size_t n) : p_(p), n_(n) {}
  bool u8(std::uint8_t& v) { return be(v, 1); }
  bool u16(std::uint16_t& v) { return be(v, 2); }
  bool u32(std::uint32_t& v) { return be(v, 4); }
  bool u64(std::uint64_t& v) { return be(v, 8); }
  bool bytes(std::string& s, std::size_t n) {
    if (n > n_ - off_)
      return false;
    s.assign(reinterpret_cast<const char*>(p_ + off_), n);
    off_ += n;
    return true;
  }
  std::size_t remaining() const { return n_ - off_; }

private:
  template <class T> bool be(T& v, std::size_t n) {
    if (n > n_ - off_)
      return false;
    std::uint64_t x = 0;
    for (std::size_t i = 0; i < n; ++i)
      x = (x << 8) | p_[off_ + i];
    v = static_cast<T>(x);
    off_ += n;
    return true;
  }
  const std::uint8_t* p_;
  std::size_t n_;
  std::size_t off_ = 0;
};

decode_error err(error_code c, std::string detail) {
  return {c, std::move(detail)};
}

decode_result truncated(const char* what) {
  return err(error_code::truncated_body, std::string("truncated ") + what);
}

decode_result finish(reader& r, frame f) {
  if (r.remaining() != 0)
    return err(error_code::trailing_bytes,
               std::to_string(r.remaining()) + " bytes after the last field");
  return f;
}

// A string with a u8 (cluster) or u16 (reason) length prefix.
std::optional<decode_error> read_string(reader& r, int prefix_bytes, std::string& out,
                                        std::size_t limit, const char* what) {
  std::uint16_t len = 0;
  std::uint8_t len8 = 0;
  bool ok = prefix_bytes == 1 ? r.u8(len8) : r.u16(len);
  if (prefix_bytes == 1)
    len = len8;
  if (!ok)
    return err(error_code::truncated_body, std::string("truncated ") + what + " length");
  if (len > limit)
    return err(error_code::string_too_long,
               std::string(what) + " of " + std::to_string(len) + " bytes");
  if (!r.bytes(out, len))
    return err(error_code::truncated_body, std::string("truncated ") + what);
  return std::nullopt;
}

decode_result decode_reason(frame_type type, reader& r) {
  std::string reason;
  if (auto e = read_string(r, 2, reason, max_reason_len, "reason"))
    return *e;
  if (type == frame_type::refuse)
    return finish(r, frame{type, refuse{std::move(reason)}});
  return finish(r, frame{type, goodbye{std::move(reason)}});
}

} // namespace

decode_result decode(frame_type type, const std::uint8_t* body, std::size_t size) {
  reader r(body, size);
  switch (type) {
  case frame_type::hello:
  case frame_type::welcome: {
    hello h;
    if (!r.u32(h.magic))
      return truncated("magic");
    if (h.magic != magic)
      return err(error_code::bad_magic, "bad magic");
    if (!r.u16(h.version))
      return truncated("version");
    if (auto e = read_string(r, 1, h.cluster, max_cluster_len, "cluster"))
      return *e;
    if (!r.u64(h.node) || !r.u64(h.incarnation) || !r.u32(h.record_version) ||
        !r.u16(h.listen_port) || !r.u16(h.probe_port) || !r.u8(h.flags) ||
        !r.u16(h.links_in) || !r.u16(h.links_out) || !r.u16(h.capacity))
      return truncated("hello");
    return finish(r, frame{type, std::move(h)});
  }
  case frame_type::refuse:
  case frame_type::goodbye:
    return decode_reason(type, r);
  case frame_type::broadcast: {
    broadcast b;
    if (!r.u64(b.origin) || !r.u64(b.epoch) || !r.u64(b.seq) || !r.u16(b.hops))
      return truncated("broadcast header");
    r.bytes(b.payload, r.remaining()); // the payload is the rest of the frame
    return frame{type, std::move(b)};
  }
  case frame_type::members: {
    members m;
    std::uint8_t count = 0;
    if (!r.u8(m.flags) || !r.u8(count))
      return truncated("members header");
    if (count > max_member_records)
      return err(error_code::count_over_limit,
                 "members frame of " + std::to_string(count) + " records");
    m.records.resize(count);
    for (auto& rec : m.records) {
      std::uint8_t state = 0;
      if (!r.u64(rec.node) || !r.u64(rec.incarnation) || !r.u32(rec.version) ||
          !r.u8(state) || !r.u8(rec.hops) || !r.u32(rec.ip) || !r.u16(rec.port) ||
          !r.u16(rec.probe_port) || !r.u16(rec.links_in) || !r.u16(rec.links_out) ||
          !r.u16(rec.capacity))
        return truncated("member record");
      if (state > static_cast<std::uint8_t>(member_state::left))
        return err(error_code::bad_value, "member state " + std::to_string(state));
      rec.state = static_cast<member_state>(state);
    }
    return finish(r, frame{type, std::move(m)});
  }
  case frame_type::sync: {
    sync y;
    if (!r.u64(y.digest) || !r.u32(y.count) || !r.u8(y.flags))
      return truncated("sync");
    return finish(r, frame{type, y});
  }
  case frame_type::probe_req: {
    probe_req q;
    if (!r.u64(q.nonce) || !r.u64(q.target) || !r.u32(q.ip) || !r.u16(q.probe_port))
      return truncated("probe request");
    return finish(r, frame{type, q});
  }
  case frame_type::probe_ack: {
    probe_ack a;
    if (!r.u64(a.nonce) || !r.u64(a.target))
      return truncated("probe ack");
    return finish(r, frame{type, a});
  }
  case frame_type::reverse:
    return finish(r, frame{type, reverse{}});
  case frame_type::redirect: {
    std::uint8_t count = 0;
    if (!r.u8(count))
      return truncated("redirect count");
    if (count > max_redirects)
      return err(error_code::count_over_limit,
                 "redirect of " + std::to_string(count) + " entries");
    redirect rd;
    rd.entries.resize(count);
    for (auto& e : rd.entries)
      if (!r.u64(e.node) || !r.u32(e.ip) || !r.u16(e.port))
        return truncated("redirect entry");
    return finish(r, frame{type, std::move(rd)});
  }
  case frame_type::topo_query: {
    topo_query q;
    if (!r.u64(q.origin) || !r.u64(q.seq) || !r.u16(q.hops))
      return truncated("topology query");
    return finish(r, frame{type, q});
  }
  case frame_type::topo_reply: {
    topo_reply t;
    std::uint8_t count = 0;
    if (!r.u64(t.query_origin) || !r.u64(t.query_seq) || !r.u64(t.node) ||
        !r.u16(t.port) || !r.u16(t.links_in) || !r.u16(t.links_out) ||
        !r.u16(t.capacity) || !r.u8(count))
      return truncated("topology reply");
    if (count > max_topo_links)
      return err(error_code::count_over_limit,
                 "topology reply of " + std::to_string(count) + " links");
    t.links.resize(count);
    for (auto& l : t.links) {
      std::uint32_t rtt = 0;
      if (!r.u64(l.peer) || !r.u8(l.dir) || !r.u32(rtt))
        return truncated("topology link");
      l.rtt_us = static_cast<std::int32_t>(rtt);
    }
    return finish(r, frame{type, std::move(t)});
  }
  case frame_type::ihave:
  case frame_type::graft:
  case frame_type::prune:
  case frame_type::iwant:
  case frame_type::nothave:
  case frame_type::streams: {
    // Re-read through the same walker the broadcast code uses.
    std::vector<std::uint8_t> whole(header_size);
    whole[4] = static_cast<std::uint8_t>(type);
    whole.insert(whole.end(), body, body + size);
    std::vector<stream_range> ranges;
    bool counted = type == frame_type::ihave || type == frame_type::prune ||
                   type == frame_type::streams;
    if (counted && size >= 1 && body[0] > max_tree_entries)
      return err(error_code::count_over_limit,
                 "tree frame of " + std::to_string(body[0]) + " entries");
    if (!for_each_tree_entry(type, whole.data(), size + 1,
                             [&](const stream_range& x) { ranges.push_back(x); })) {
      auto want = (counted ? 1 : 0) +
                  (counted && size >= 1 ? body[0] : 1) * tree_entry_size(type);
      return err(size < want ? error_code::truncated_body : error_code::trailing_bytes,
                 "tree frame body of " + std::to_string(size) + " bytes");
    }
    switch (type) {
    case frame_type::ihave:
      return frame{type, ihave{std::move(ranges)}};
    case frame_type::graft:
      return frame{type, graft{ranges.front()}};
    case frame_type::prune:
      return frame{type, prune{std::move(ranges)}};
    case frame_type::iwant:
      return frame{type, iwant{ranges.front()}};
    case frame_type::nothave:
      return frame{type, nothave{ranges.front()}};
    default:
      return frame{type, streams{std::move(ranges)}};
    }
  }
  case frame_type::ping: {
    ping p;
    if (!r.u64(p.nonce) || !r.u64(p.echo) || !r.u32(p.echo_delay_us) ||
        !r.u16(p.links_in) || !r.u16(p.links_out) || !r.u16(p.capacity))
      return truncated("ping");
    return finish(r, frame{type, p});
  }
  }
  return err(error_code::unknown_type,
             "unknown frame type " + std::to_string(static_cast<int>(type)));
}

void frame_reader::feed(const std::uint8_t* data, std::size_t size) {
  if (failed_)
    return;
  // Compact before growing so the buffer never exceeds one frame plus a read.
  if (pos_ > 0 && pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  } else if (pos_ > 65536) {
    buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(pos_));
    pos_ = 0;
  }
  buf_.insert(buf_.end(), data, data + size);
}

std::variant<decode_error, frame, frame_reader::need_more> frame_reader::next() {
  return next_impl(nullptr, nullptr);
}

std::variant<decode_error, frame, frame_reader::need_more>
frame_reader::next(std::vector<std::uint8_t>& raw, std::size_t& raw_frames) {
  return next_impl(&raw, &raw_frames);
}

std::variant<decode_error, frame, frame_reader::need_more>
frame_reader::next_impl(std::vector<std::uint8_t>* raw, std::size_t* raw_frames) {
  for (;;) { // raw broadcasts are taken in a loop; anything else returns
    if (failed_)
      return *failed_;
    std::size_t avail = buf_.size() - pos_;
    if (avail < 4)
      return need_more{};
    const std::uint8_t* p = buf_.data() + pos_;
    std::uint32_t len = (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) |
                        (std::uint32_t{p[2]} << 8) | std::uint32_t{p[3]};
    // The length is checked before anything is buffered or allocated for it.
    if (len == 0) {
      failed_ = decode_error{error_code::zero_length, "zero frame length"};
      return *failed_;
    }
    if (len > max_frame_) {
      failed_ = decode_error{error_code::length_over_limit,
                             "frame length " + std::to_string(len) + " over limit " +
                                 std::to_string(max_frame_)};
      return *failed_;
    }
    if (avail < header_size)
      return need_more{};
    auto type = static_cast<frame_type>(p[4]);
    if (!known_frame_type(p[4])) {
      failed_ = decode_error{error_code::unknown_type,
                             "unknown frame type " + std::to_string(p[4])};
      return *failed_;
    }
    if (type == frame_type::broadcast && len > max_broadcast_) {
      failed_ = decode_error{error_code::length_over_limit,
                             "broadcast length " + std::to_string(len) + " over limit " +
                                 std::to_string(max_broadcast_)};
      return *failed_;
    }
    if (avail < 4 + std::size_t{len})
      return need_more{};
    if (raw && broadcast_plane(p[4])) {
      if (type == frame_type::broadcast && len - 1 < broadcast_overhead) {
        failed_ = decode_error{error_code::truncated_body, "truncated broadcast header"};
        return *failed_;
      }
      if (type != frame_type::broadcast) {
        // A tree frame's size must fit its type before it travels on raw.
        auto d = decode(type, p + header_size, len - 1);
        if (auto* e = std::get_if<decode_error>(&d)) {
          failed_ = *e;
          return *failed_;
        }
      }
      raw->insert(raw->end(), p, p + 4 + std::size_t{len});
      pos_ += 4 + std::size_t{len};
      last_size_ = 4 + std::size_t{len};
      ++*raw_frames;
      continue;
    }
    auto result = decode(type, p + header_size, len - 1);
    pos_ += 4 + std::size_t{len};
    last_size_ = 4 + std::size_t{len};
    if (auto* e = std::get_if<decode_error>(&result)) {
      failed_ = *e;
      return *failed_;
    }
    return std::get<frame>(std::move(result));
  }
}

std::size_t max_frame_for_payload(std::size_t max_payload) {
  // Control frames must fit whatever the payload limit: the largest HELLO
  // (64-byte cluster), REFUSE/GOODBYE (256-byte reason) and TOPO_REPLY.
  constexpr std::size_t largest_hello =
      1 + 4 + 2 + 1 + max_cluster_len + 8 + 8 + 4 + 2 + 2 + 1 + 6;
  constexpr std::size_t largest_members = 1 + 2 + member_record_size * max_member_records;
  constexpr std::size_t largest_tree = 1 + 1 + 32 * max_tree_entries;
  constexpr std::size_t largest_reason = 1 + 2 + max_reason_len;
  constexpr std::size_t largest_topo_reply = 1 + 33 + 13 * max_topo_links;
  return std::max({broadcast_frame_limit(max_payload), largest_hello, largest_reason,
                   largest_topo_reply, largest_members, largest_tree});
}

std::vector<std::uint8_t> encode_hello(const hello& h, bool welcome) {
  return writer(welcome ? frame_type::welcome : frame_type::hello, 38 + h.cluster.size())
      .u32(h.magic)
      .u16(h.version)
      .u8(static_cast<std::uint8_t>(h.cluster.size()))
      .bytes(h.cluster)
      .u64(h.node)
      .u64(h.incarnation)
      .u32(h.record_version)
      .u16(h.listen_port)
      .u16(h.probe_port)
      .u8(h.flags)
      .u16(h.links_in)
      .u16(h.links_out)
      .u16(h.capacity)
      .finish();
}

namespace {
std::vector<std::uint8_t> encode_reason(frame_type type, const std::string& reason) {
  auto r = reason.substr(0, max_reason_len);
  return writer(type, 2 + r.size())
      .u16(static_cast<std::uint16_t>(r.size()))
      .bytes(r)
      .finish();
}
} // namespace

std::vector<std::uint8_t> encode_refuse(const std::string& reason) {
  return encode_reason(frame_type::refuse, reason);
}

std::vector<std::uint8_t> encode_goodbye(const std::string& reason) {
  return encode_reason(frame_type::goodbye, reason);
}

void append_broadcast(std::vector<std::uint8_t>& out, std::uint64_t origin,
                      std::uint64_t epoch, std::uint64_t seq, std::uint16_t hops,
                      std::string_view payload) {
  auto len = static_cast<std::uint32_t>(1 + broadcast_overhead + payload.size());
  auto be = [&](std::uint64_t v, int n) {
    for (int i = n - 1; i >= 0; --i)
      out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  };
  be(len, 4);
  out.push_back(static_cast<std::uint8_t>(frame_type::broadcast));
  be(origin, 8);
  be(epoch, 8);
  be(seq, 8);
  be(hops, 2);
  out.insert(out.end(), payload.begin(), payload.end());
}

std::vector<std::uint8_t> encode_broadcast(const broadcast& b) {
  std::vector<std::uint8_t> out;
  out.reserve(header_size + broadcast_overhead + b.payload.size());
  append_broadcast(out, b.origin, b.epoch, b.seq, b.hops, b.payload);
  return out;
}

void append_tree_frame(std::vector<std::uint8_t>& out, frame_type type,
                       const stream_range* ranges, std::size_t count) {
  bool counted = type == frame_type::ihave || type == frame_type::prune ||
                 type == frame_type::streams;
  auto n = counted ? std::min(count, max_tree_entries) : std::size_t{1};
  auto entry = tree_entry_size(type);
  auto len = static_cast<std::uint32_t>(1 + (counted ? 1 : 0) + n * entry);
  auto be = [&](std::uint64_t v, int bytes) {
    for (int i = bytes - 1; i >= 0; --i)
      out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  };
  be(len, 4);
  out.push_back(static_cast<std::uint8_t>(type));
  if (counted)
    out.push_back(static_cast<std::uint8_t>(n));
  for (std::size_t i = 0; i < n; ++i) {
    const stream_range& r = count > 0 ? ranges[i] : stream_range{};
    be(r.origin, 8);
    be(r.epoch, 8);
    if (entry == 24)
      be(r.last, 8);
    if (entry == 32) {
      be(r.first, 8);
      be(r.last, 8);
    }
  }
}

std::vector<std::uint8_t> encode_tree_frame(frame_type type,
                                            const std::vector<stream_range>& ranges) {
  std::vector<std::uint8_t> out;
  append_tree_frame(out, type, ranges.data(), ranges.size());
  return out;
}

std::vector<std::uint8_t> encode_ping(const ping& p) {
  return writer(frame_type::ping, 26)
      .u64(p.nonce)
      .u64(p.echo)
      .u32(p.echo_delay_us)
      .u16(p.links_in)
      .u16(p.links_out)
      .u16(p.capacity)
      .finish();
}

std::vector<std::uint8_t> encode_members(const members& m) {
  auto n = std::min(m.records.size(), max_member_records);
  writer w(frame_type::members, 2 + member_record_size * n);
  w.u8(m.flags).u8(static_cast<std::uint8_t>(n));
  for (std::size_t i = 0; i < n; ++i) {
    auto& r = m.records[i];
    w.u64(r.node)
        .u64(r.incarnation)
        .u32(r.version)
        .u8(static_cast<std::uint8_t>(r.state))
        .u8(r.hops);
    w.u32(r.ip).u16(r.port).u16(r.probe_port);
    w.u16(r.links_in).u16(r.links_out).u16(r.capacity);
  }
  return w.finish();
}

std::vector<std::uint8_t> encode_sync(const sync& y) {
  return writer(frame_type::sync, 13).u64(y.digest).u32(y.count).u8(y.flags).finish();
}

std::vector<std::uint8_t> encode_probe_req(const probe_req& q) {
  return writer(frame_type::probe_req, 22)
      .u64(q.nonce)
      .u64(q.target)
      .u32(q.ip)
      .u16(q.probe_port)
      .finish();
}

std::vector<std::uint8_t> encode_probe_ack(const probe_ack& a) {
  return writer(frame_type::probe_ack, 16).u64(a.nonce).u64(a.target).finish();
}

std::vector<std::uint8_t> encode_reverse() {
  return writer(frame_type::reverse).finish();
}

std::vector<std::uint8_t> encode_redirect(const redirect& r) {
  auto n = std::min(r.entries.size(), max_redirects);
  writer w(frame_type::redirect, 1 + 14 * n);
  w.u8(static_cast<std::uint8_t>(n));
  for (std::size_t i = 0; i < n; ++i)
    w.u64(r.entries[i].node).u32(r.entries[i].ip).u16(r.entries[i].port);
  return w.finish();
}

std::vector<std::uint8_t> encode_topo_query(const topo_query& q) {
  return writer(frame_type::topo_query, 18).u64(q.origin).u64(q.seq).u16(q.hops).finish();
}

std::vector<std::uint8_t> encode_topo_reply(const topo_reply& t) {
  auto n = std::min(t.links.size(), max_topo_links);
  writer w(frame_type::topo_reply, 33 + 13 * n);
  w.u64(t.query_origin).u64(t.query_seq).u64(t.node).u16(t.port);
  w.u16(t.links_in).u16(t.links_out).u16(t.capacity).u8(static_cast<std::uint8_t>(n));
  for (std::size_t i = 0; i < n; ++i)
    w.u64(t.links[i].peer)
        .u8(t.links[i].dir)
        .u32(static_cast<std::uint32_t>(t.links[i].rtt_us));
  return w.finish();
}

} // namespace lanmesh::wire
