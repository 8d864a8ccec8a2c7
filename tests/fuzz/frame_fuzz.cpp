// Fuzz target `frame`: the TCP frame codec (net/wire). The input is a byte
// stream as a link reads it (after its records are opened).
//
//  - frame_reader::next() over the whole stream at once, and again fed in
//    small pieces: both see the same frames and the same end (an error of
//    the same code, or "need more");
//  - frame_reader::next(raw, n), the I/O thread's path, which passes the
//    broadcast plane's frames on still encoded: the same frames again, in
//    the same order, and each raw one read in place (view_broadcast,
//    for_each_tree_entry) says what decode() says;
//  - every decoded frame re-encoded is byte for byte the frame it was read
//    from (the format has one encoding per frame), and decodes again;
//  - decode() of the first byte as a type and the rest as a body, any type;
//  - a reader with a small payload limit (length checks before allocation).

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_common.hpp"
#include "net/wire.hpp"

using namespace lanmesh;
using namespace lanmesh::wire;

namespace {

using bytes = std::vector<std::uint8_t>;

constexpr std::size_t payload_limit = 65536;

bytes encode(const frame& f) {
  switch (f.type) {
  case frame_type::hello:
  case frame_type::welcome:
    return encode_hello(std::get<hello>(f.body), f.type == frame_type::welcome);
  case frame_type::refuse:
    return encode_refuse(std::get<refuse>(f.body).reason);
  case frame_type::goodbye:
    return encode_goodbye(std::get<goodbye>(f.body).reason);
  case frame_type::broadcast:
    return encode_broadcast(std::get<broadcast>(f.body));
  case frame_type::ping:
    return encode_ping(std::get<ping>(f.body));
  case frame_type::members:
    return encode_members(std::get<members>(f.body));
  case frame_type::reverse:
    return encode_reverse();
  case frame_type::redirect:
    return encode_redirect(std::get<redirect>(f.body));
  case frame_type::topo_query:
    return encode_topo_query(std::get<topo_query>(f.body));
  case frame_type::topo_reply:
    return encode_topo_reply(std::get<topo_reply>(f.body));
  case frame_type::sync:
    return encode_sync(std::get<wire::sync>(f.body));
  case frame_type::probe_req:
    return encode_probe_req(std::get<probe_req>(f.body));
  case frame_type::probe_ack:
    return encode_probe_ack(std::get<probe_ack>(f.body));
  case frame_type::ihave:
    return encode_tree_frame(f.type, std::get<ihave>(f.body).ranges);
  case frame_type::graft:
    return encode_tree_frame(f.type, {std::get<graft>(f.body).range});
  case frame_type::prune:
    return encode_tree_frame(f.type, std::get<prune>(f.body).streams);
  case frame_type::iwant:
    return encode_tree_frame(f.type, {std::get<iwant>(f.body).range});
  case frame_type::nothave:
    return encode_tree_frame(f.type, {std::get<nothave>(f.body).range});
  case frame_type::streams:
    return encode_tree_frame(f.type, std::get<streams>(f.body).streams);
  }
  fuzz::broken("a decoded frame of no known type", __FILE__, __LINE__);
}

// The type in the frame matches the alternative its body holds.
bool body_fits_type(const frame& f) {
  switch (f.type) {
  case frame_type::hello:
  case frame_type::welcome:
    return std::holds_alternative<hello>(f.body);
  case frame_type::refuse:
    return std::holds_alternative<refuse>(f.body);
  case frame_type::goodbye:
    return std::holds_alternative<goodbye>(f.body);
  case frame_type::broadcast:
    return std::holds_alternative<broadcast>(f.body);
  case frame_type::ping:
    return std::holds_alternative<ping>(f.body);
  case frame_type::members:
    return std::holds_alternative<members>(f.body);
  case frame_type::reverse:
    return std::holds_alternative<reverse>(f.body);
  case frame_type::redirect:
    return std::holds_alternative<redirect>(f.body);
  case frame_type::topo_query:
    return std::holds_alternative<topo_query>(f.body);
  case frame_type::topo_reply:
    return std::holds_alternative<topo_reply>(f.body);
  case frame_type::sync:
    return std::holds_alternative<wire::sync>(f.body);
  case frame_type::probe_req:
    return std::holds_alternative<probe_req>(f.body);
  case frame_type::probe_ack:
    return std::holds_alternative<probe_ack>(f.body);
  case frame_type::ihave:
    return std::holds_alternative<ihave>(f.body);
  case frame_type::graft:
    return std::holds_alternative<graft>(f.body);
  case frame_type::prune:
    return std::holds_alternative<prune>(f.body);
  case frame_type::iwant:
    return std::holds_alternative<iwant>(f.body);
  case frame_type::nothave:
    return std::holds_alternative<nothave>(f.body);
  case frame_type::streams:
    return std::holds_alternative<streams>(f.body);
  }
  return false;
}

// Checks one decoded frame read from `wire_bytes` (prefix included).
void check_frame(const frame& f, const std::uint8_t* wire_bytes, std::size_t size) {
  FUZZ_CHECK(body_fits_type(f));
  FUZZ_CHECK(size >= header_size);
  auto again = encode(f);
  FUZZ_CHECK(again.size() == size);
  FUZZ_CHECK(std::memcmp(again.data(), wire_bytes, size) == 0);
  auto d = decode(f.type, again.data() + header_size, again.size() - header_size);
  FUZZ_CHECK(std::holds_alternative<frame>(d));
  FUZZ_CHECK(encode(std::get<frame>(d)) == again);
}

// What a reader saw: every frame's bytes in order, and how it ended.
struct trace {
  std::vector<bytes> frames;
  bool failed = false;
  error_code code = error_code::zero_length;
};

void end_with(trace& t, const decode_error& e) {
  FUZZ_CHECK(!t.failed);
  t.failed = true;
  t.code = e.code;
  FUZZ_CHECK(to_string(e.code) != std::string("unknown"));
}

// Drains `r` with next(); `stream` holds every byte fed so far, `consumed`
// how many of them the frames taken so far used.
void drain(frame_reader& r, const bytes& stream, std::size_t& consumed, trace& t) {
  while (!t.failed) {
    auto v = r.next();
    if (std::holds_alternative<frame_reader::need_more>(v))
      return;
    if (auto* e = std::get_if<decode_error>(&v)) {
      end_with(t, *e);
      auto again = r.next(); // a failed reader stays failed
      FUZZ_CHECK(std::holds_alternative<decode_error>(again));
      FUZZ_CHECK(std::get<decode_error>(again).code == e->code);
      return;
    }
    auto n = r.last_size();
    FUZZ_CHECK(consumed + n <= stream.size());
    check_frame(std::get<frame>(v), stream.data() + consumed, n);
    t.frames.emplace_back(stream.begin() + static_cast<long>(consumed),
                          stream.begin() + static_cast<long>(consumed + n));
    consumed += n;
    FUZZ_CHECK(r.buffered() == stream.size() - consumed);
  }
}

// The I/O thread's path: broadcast-plane frames come out raw.
trace raw_path(const std::uint8_t* data, std::size_t size) {
  frame_reader r(max_frame_for_payload(payload_limit),
                 broadcast_frame_limit(payload_limit));
  r.feed(data, size);
  trace t;
  std::size_t consumed = 0;
  for (;;) {
    bytes raw;
    std::size_t raw_frames = 0;
    auto v = r.next(raw, raw_frames);
    std::size_t seen = 0;
    bool whole = for_each_frame(
        raw.data(), raw.size(),
        [&](std::uint8_t type, const std::uint8_t* p, std::size_t n) {
          ++seen;
          FUZZ_CHECK(broadcast_plane(type));
          FUZZ_CHECK(std::memcmp(p, data + consumed, n) == 0);
          consumed += n;
          auto d =
              decode(static_cast<frame_type>(type), p + header_size, n - header_size);
          FUZZ_CHECK(std::holds_alternative<frame>(d));
          auto& f = std::get<frame>(d);
          check_frame(f, p, n);
          if (type == static_cast<std::uint8_t>(frame_type::broadcast)) {
            auto view = view_broadcast(p, n - 4);
            auto& b = std::get<broadcast>(f.body);
            FUZZ_CHECK(view.origin == b.origin && view.epoch == b.epoch &&
                       view.seq == b.seq && view.hops == b.hops &&
                       view.payload == b.payload);
          } else {
            std::vector<stream_range> ranges;
            FUZZ_CHECK(
                for_each_tree_entry(static_cast<frame_type>(type), p, n - 4,
                                    [&](const stream_range& x) { ranges.push_back(x); }));
            FUZZ_CHECK(encode_tree_frame(static_cast<frame_type>(type), ranges) ==
                       bytes(p, p + n));
          }
          t.frames.emplace_back(p, p + n);
        });
    FUZZ_CHECK(whole);
    FUZZ_CHECK(seen == raw_frames);
    // The broadcasts alone, as the relay walks them.
    std::size_t broadcasts = 0;
    for_each_broadcast(
        raw.data(), raw.size(),
        [&](const broadcast_view&, const std::uint8_t*, std::size_t) { ++broadcasts; });
    FUZZ_CHECK(broadcasts <= raw_frames);
    if (std::holds_alternative<frame_reader::need_more>(v))
      return t;
    if (auto* e = std::get_if<decode_error>(&v)) {
      end_with(t, *e);
      return t;
    }
    auto& f = std::get<frame>(v);
    FUZZ_CHECK(!broadcast_plane(static_cast<std::uint8_t>(f.type)));
    auto n = r.last_size();
    FUZZ_CHECK(consumed + n <= size);
    check_frame(f, data + consumed, n);
    t.frames.emplace_back(data + consumed, data + consumed + n);
    consumed += n;
  }
}

bool same(const trace& a, const trace& b) {
  return a.frames == b.frames && a.failed == b.failed && (!a.failed || a.code == b.code);
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  lanmesh::fuzz::forbid_sockets();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  bytes stream(data, data + size);
  auto max_frame = max_frame_for_payload(payload_limit);
  auto max_broadcast = broadcast_frame_limit(payload_limit);

  // The whole stream at once.
  trace whole;
  {
    frame_reader r(max_frame, max_broadcast);
    r.feed(data, size);
    std::size_t consumed = 0;
    drain(r, stream, consumed, whole);
  }

  // In pieces of 1 to 13 bytes (the size a function of the input).
  trace pieces;
  {
    frame_reader r(max_frame, max_broadcast);
    std::size_t step = size % 13 + 1, consumed = 0;
    bytes fed;
    for (std::size_t at = 0; at < size; at += step) {
      auto n = std::min(step, size - at);
      r.feed(data + at, n);
      fed.insert(fed.end(), data + at, data + at + n);
      drain(r, fed, consumed, pieces);
    }
    FUZZ_CHECK(pieces.failed || r.buffered() <= max_frame + 4);
  }
  FUZZ_CHECK(same(whole, pieces));

  FUZZ_CHECK(same(whole, raw_path(data, size)));

  // A node with a small payload limit: stops no later than the big one.
  {
    frame_reader r(max_frame_for_payload(16), broadcast_frame_limit(16));
    r.feed(data, size);
    trace small;
    std::size_t consumed = 0;
    drain(r, stream, consumed, small);
    FUZZ_CHECK(small.frames.size() <= whole.frames.size());
  }

  // One body under any type byte.
  if (size >= 1) {
    auto d = decode(static_cast<frame_type>(data[0]), data + 1, size - 1);
    if (auto* f = std::get_if<frame>(&d)) {
      FUZZ_CHECK(known_frame_type(data[0]));
      bytes framed{static_cast<std::uint8_t>(size >> 24),
                   static_cast<std::uint8_t>(size >> 16),
                   static_cast<std::uint8_t>(size >> 8), static_cast<std::uint8_t>(size)};
      framed.insert(framed.end(), data, data + size);
      check_frame(*f, framed.data(), framed.size());
    } else if (!known_frame_type(data[0])) {
      FUZZ_CHECK(std::get<decode_error>(d).code == error_code::unknown_type);
    }
  }
  return 0;
}
