// Tests of the frame codec (net/wire.hpp): encoders, decode() and frame_reader.
#include "net/wire.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace lanmesh::wire {
namespace {

using bytes = std::vector<std::uint8_t>;

constexpr std::size_t big_max_frame = 1u << 20;

std::string hex(const std::string& s) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 0xf]);
  }
  return out;
}

// A complete, comparable description of a frame (every field, payload in hex).
std::string describe(const frame& f) {
  std::ostringstream os;
  os << "type=" << static_cast<int>(f.type) << " ";
  if (auto* h = std::get_if<hello>(&f.body))
    os << "hello{magic=" << h->magic << " version=" << h->version
       << " cluster=" << h->cluster << " node=" << h->node << " inc=" << h->incarnation
       << " ver=" << h->record_version << " port=" << h->listen_port
       << " probe=" << h->probe_port << " flags=" << int{h->flags}
       << " in=" << h->links_in << " out=" << h->links_out << " cap=" << h->capacity
       << "}";
  else if (auto* r = std::get_if<refuse>(&f.body))
    os << "refuse{" << hex(r->reason) << "}";
  else if (auto* g = std::get_if<goodbye>(&f.body))
    os << "goodbye{" << hex(g->reason) << "}";
  else if (auto* b = std::get_if<broadcast>(&f.body))
    os << "broadcast{origin=" << b->origin << " epoch=" << b->epoch << " seq=" << b->seq
       << " hops=" << b->hops << " payload=" << hex(b->payload) << "}";
  else if (auto* p = std::get_if<ping>(&f.body))
    os << "ping{" << p->nonce << " echo=" << p->echo << " delay=" << p->echo_delay_us
       << " in=" << p->links_in << " out=" << p->links_out << " cap=" << p->capacity
       << "}";
  return os.str();
}

// A heartbeat with only its nonce set.
ping ping_of(std::uint64_t nonce) {
  ping p;
  p.nonce = nonce;
  return p;
}

using next_result = std::variant<decode_error, frame, frame_reader::need_more>;

bool is_need_more(const next_result& r) {
  return std::holds_alternative<frame_reader::need_more>(r);
}

// Feeds `data` whole and expects exactly one frame, nothing left over.
frame decode_one(const bytes& data, std::size_t max_frame = big_max_frame) {
  frame_reader rd(max_frame);
  rd.feed(data.data(), data.size());
  auto r = rd.next();
  if (auto* e = std::get_if<decode_error>(&r)) {
    ADD_FAILURE() << "decode error " << to_string(e->code) << ": " << e->detail;
    return frame{frame_type::ping, ping{}};
  }
  if (is_need_more(r)) {
    ADD_FAILURE() << "need_more for a complete frame";
    return frame{frame_type::ping, ping{}};
  }
  EXPECT_EQ(rd.last_size(), data.size());
  EXPECT_EQ(rd.buffered(), 0u);
  EXPECT_TRUE(is_need_more(rd.next()));
  return std::get<frame>(std::move(r));
}

// Feeds `data` and returns the first error; fails the test if there is none.
decode_error first_error(const bytes& data, std::size_t max_frame = big_max_frame) {
  frame_reader rd(max_frame);
  rd.feed(data.data(), data.size());
  for (int i = 0; i < 1000; ++i) {
    auto r = rd.next();
    if (auto* e = std::get_if<decode_error>(&r))
      return *e;
    if (is_need_more(r))
      break;
  }
  ADD_FAILURE() << "no decode error";
  return {error_code::zero_length, "none"};
}

// Builds a raw frame: u32 big-endian length (type + body), type byte, body.
bytes raw_frame(std::uint8_t type, const bytes& body) {
  auto len = static_cast<std::uint32_t>(body.size() + 1);
  bytes out{static_cast<std::uint8_t>(len >> 24), static_cast<std::uint8_t>(len >> 16),
            static_cast<std::uint8_t>(len >> 8), static_cast<std::uint8_t>(len), type};
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

void put_be(bytes& out, std::uint64_t v, int n) {
  for (int i = n - 1; i >= 0; --i)
    out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

hello sample_hello() {
  hello h;
  h.cluster = "test-cluster";
  h.node = 0x0123456789abcdefULL;
  h.incarnation = 1796000000000000ULL;
  h.record_version = 3;
  h.listen_port = 50001;
  h.probe_port = 40001;
  h.links_in = 2;
  h.links_out = 1;
  h.capacity = 5;
  return h;
}

std::string binary_payload() {
  std::string p;
  for (int i = 0; i < 256; ++i)
    p.push_back(static_cast<char>(i));
  p += std::string("\0\0\0", 3);
  return p;
}

// One frame of every type, and the description each must decode to.
struct sample {
  bytes wire;
  std::string expected;
};

std::vector<sample> all_samples() {
  std::vector<sample> out;
  auto add = [&](bytes w, frame f) { out.push_back({std::move(w), describe(f)}); };
  auto h = sample_hello();
  add(encode_hello(h), frame{frame_type::hello, h});
  add(encode_hello(h, true), frame{frame_type::welcome, h});
  add(encode_refuse("duplicate link"),
      frame{frame_type::refuse, refuse{"duplicate link"}});
  add(encode_goodbye("shutting down"),
      frame{frame_type::goodbye, goodbye{"shutting down"}});
  add(encode_goodbye(""), frame{frame_type::goodbye, goodbye{""}});
  broadcast b{0xfeedfacecafebeefULL, 77, 42, 3, "hello world"};
  add(encode_broadcast(b), frame{frame_type::broadcast, b});
  broadcast empty{7, 77, 0, 0, ""};
  add(encode_broadcast(empty), frame{frame_type::broadcast, empty});
  broadcast bin{1, 77, UINT64_MAX, UINT16_MAX, binary_payload()};
  add(encode_broadcast(bin), frame{frame_type::broadcast, bin});
  add(encode_ping(ping_of(0x0102030405060708ULL)),
      frame{frame_type::ping, ping_of(0x0102030405060708ULL)});
  ping full{UINT64_MAX, 0x55, UINT32_MAX, 1, 2, 3};
  add(encode_ping(full), frame{frame_type::ping, full});
  add(encode_ping(ping_of(0)), frame{frame_type::ping, ping_of(0)});
  return out;
}

bytes concat_all(const std::vector<sample>& samples) {
  bytes out;
  for (auto& s : samples)
    out.insert(out.end(), s.wire.begin(), s.wire.end());
  return out;
}

// Feeds `stream` in the given chunk sizes (cycled), draining frames after each
// feed. Fails on any error; returns descriptions of all frames.
std::vector<std::string> read_chunked(const bytes& stream,
                                      const std::vector<std::size_t>& sizes,
                                      std::size_t max_frame = big_max_frame) {
  frame_reader rd(max_frame);
  std::vector<std::string> out;
  std::size_t off = 0, k = 0;
  while (off < stream.size()) {
    auto n = std::min(sizes[k++ % sizes.size()], stream.size() - off);
    rd.feed(stream.data() + off, n);
    off += n;
    for (;;) {
      auto r = rd.next();
      if (auto* e = std::get_if<decode_error>(&r)) {
        ADD_FAILURE() << "error " << to_string(e->code) << ": " << e->detail
                      << " at offset " << off;
        return out;
      }
      if (is_need_more(r))
        break;
      out.push_back(describe(std::get<frame>(r)));
    }
  }
  EXPECT_EQ(rd.buffered(), 0u);
  return out;
}

std::vector<std::string> expected_descriptions(const std::vector<sample>& samples) {
  std::vector<std::string> out;
  for (auto& s : samples)
    out.push_back(s.expected);
  return out;
}

// ---------------------------------------------------------------------------
// Round trips

TEST(WireRoundTrip, Hello) {
  auto h = sample_hello();
  auto f = decode_one(encode_hello(h));
  EXPECT_EQ(f.type, frame_type::hello);
  auto* got = std::get_if<hello>(&f.body);
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(got->magic, magic);
  EXPECT_EQ(got->version, version);
  EXPECT_EQ(got->cluster, "test-cluster");
  EXPECT_EQ(got->node, 0x0123456789abcdefULL);
  EXPECT_EQ(got->listen_port, 50001);
}

TEST(WireRoundTrip, WelcomeSharesHelloBody) {
  auto h = sample_hello();
  h.cluster = "";
  h.listen_port = 0;
  h.node = UINT64_MAX;
  auto f = decode_one(encode_hello(h, true));
  EXPECT_EQ(f.type, frame_type::welcome);
  auto* got = std::get_if<hello>(&f.body);
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(got->cluster, "");
  EXPECT_EQ(got->node, UINT64_MAX);
  EXPECT_EQ(got->listen_port, 0);
}

TEST(WireRoundTrip, HelloWithClusterAtLimit) {
  auto h = sample_hello();
  h.cluster = std::string(max_cluster_len, 'c');
  auto f = decode_one(encode_hello(h));
  EXPECT_EQ(std::get<hello>(f.body).cluster, h.cluster);
}

TEST(WireRoundTrip, Refuse) {
  auto f = decode_one(encode_refuse("cluster mismatch"));
  EXPECT_EQ(f.type, frame_type::refuse);
  ASSERT_TRUE(std::holds_alternative<refuse>(f.body));
  EXPECT_EQ(std::get<refuse>(f.body).reason, "cluster mismatch");
}

TEST(WireRoundTrip, Goodbye) {
  auto f = decode_one(encode_goodbye("bye"));
  EXPECT_EQ(f.type, frame_type::goodbye);
  ASSERT_TRUE(std::holds_alternative<goodbye>(f.body));
  EXPECT_EQ(std::get<goodbye>(f.body).reason, "bye");
}

TEST(WireRoundTrip, EmptyReasons) {
  auto f = decode_one(encode_refuse(""));
  EXPECT_EQ(std::get<refuse>(f.body).reason, "");
  auto g = decode_one(encode_goodbye(""));
  EXPECT_EQ(std::get<goodbye>(g.body).reason, "");
}

TEST(WireRoundTrip, ReasonAtLimitAndLongerReasonIsTruncatedByEncoder) {
  std::string at_limit(max_reason_len, 'r');
  auto f = decode_one(encode_goodbye(at_limit));
  EXPECT_EQ(std::get<goodbye>(f.body).reason, at_limit);
  // The encoder never produces a frame the decoder rejects.
  auto g = decode_one(encode_refuse(std::string(max_reason_len + 100, 'x')));
  EXPECT_EQ(std::get<refuse>(g.body).reason, std::string(max_reason_len, 'x'));
}

TEST(WireRoundTrip, Broadcast) {
  broadcast b{0xfeedfacecafebeefULL, 77, 123456789, 7, "a line of text"};
  auto f = decode_one(encode_broadcast(b));
  EXPECT_EQ(f.type, frame_type::broadcast);
  auto* got = std::get_if<broadcast>(&f.body);
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(got->origin, b.origin);
  EXPECT_EQ(got->seq, b.seq);
  EXPECT_EQ(got->hops, b.hops);
  EXPECT_EQ(got->payload, b.payload);
}

TEST(WireRoundTrip, BroadcastEmptyPayload) {
  broadcast b{1, 77, 2, 0, ""};
  auto wire = encode_broadcast(b);
  EXPECT_EQ(wire.size(), header_size + broadcast_overhead);
  auto f = decode_one(wire);
  auto* got = std::get_if<broadcast>(&f.body);
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(got->origin, 1u);
  EXPECT_EQ(got->seq, 2u);
  EXPECT_TRUE(got->payload.empty());
}

TEST(WireRoundTrip, BroadcastBinaryPayloadWithZeroBytes) {
  broadcast b{9, 77, 10, 11, binary_payload()};
  ASSERT_EQ(b.payload.size(), 259u);
  auto f = decode_one(encode_broadcast(b));
  auto* got = std::get_if<broadcast>(&f.body);
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(got->payload.size(), 259u);
  EXPECT_EQ(got->payload, b.payload);
  // A payload of only zero bytes.
  broadcast z{1, 77, 1, 1, std::string(100, '\0')};
  auto g = decode_one(encode_broadcast(z));
  EXPECT_EQ(std::get<broadcast>(g.body).payload, std::string(100, '\0'));
}

TEST(WireRoundTrip, PingCarriesEchoAndLoad) {
  ping sent{0x0102030405060708ULL, UINT64_MAX, 1234567, 2, 3, 5};
  auto p = decode_one(encode_ping(sent));
  EXPECT_EQ(p.type, frame_type::ping);
  ASSERT_TRUE(std::holds_alternative<ping>(p.body));
  auto& got = std::get<ping>(p.body);
  EXPECT_EQ(got.nonce, sent.nonce);
  EXPECT_EQ(got.echo, sent.echo);
  EXPECT_EQ(got.echo_delay_us, sent.echo_delay_us);
  EXPECT_EQ(got.links_in, 2);
  EXPECT_EQ(got.links_out, 3);
  EXPECT_EQ(got.capacity, 5);
}

TEST(WireRoundTrip, PongOfVersionOneIsAnUnknownType) {
  // Type 6 was PONG; version 2 echoes heartbeats inside PING instead.
  EXPECT_FALSE(known_frame_type(6));
  bytes pong_v1{0, 0, 0, 9, 6, 0, 0, 0, 0, 0, 0, 0, 1};
  frame_reader rd(big_max_frame);
  rd.feed(pong_v1.data(), pong_v1.size());
  auto r = rd.next();
  ASSERT_TRUE(std::holds_alternative<decode_error>(r));
  EXPECT_EQ(std::get<decode_error>(r).code, error_code::unknown_type);
}

TEST(WireRoundTrip, DecodeDirectlyWithoutReader) {
  auto wire = encode_probe_ack({77, 78});
  auto r =
      decode(frame_type::probe_ack, wire.data() + header_size, wire.size() - header_size);
  ASSERT_TRUE(std::holds_alternative<frame>(r));
  EXPECT_EQ(std::get<probe_ack>(std::get<frame>(r).body).nonce, 77u);
  EXPECT_EQ(std::get<probe_ack>(std::get<frame>(r).body).target, 78u);
}

// ---------------------------------------------------------------------------
// Exact byte layout

TEST(WireLayout, PingIsBigEndian) {
  bytes expected{0, 0, 0, 27, 5, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0,
                 0, 0, 0, 0,  9, 0, 0, 1, 0, 0, 2, 0, 3, 0, 4};
  EXPECT_EQ(encode_ping({0x0102030405060708ULL, 9, 256, 2, 3, 4}), expected);
}

TEST(WireLayout, Hello) {
  hello h;
  h.cluster = "ab";
  h.node = 0x1122334455667788ULL;
  h.incarnation = 0x0102030405060708ULL;
  h.record_version = 0x0a0b0c0d;
  h.listen_port = 0x1234;
  h.probe_port = 0x5678;
  h.flags = hello_reverse | hello_callback;
  h.links_in = 1;
  h.links_out = 2;
  h.capacity = 0x0304;
  bytes expected{0,    0,    0,    41,   1,    0x4c, 0x4d, 0x53, 0x48, 0,    4,    2,
                 'a',  'b',  0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 1,    2,
                 3,    4,    5,    6,    7,    8,    0x0a, 0x0b, 0x0c, 0x0d, 0x12, 0x34,
                 0x56, 0x78, 3,    0,    1,    0,    2,    3,    4};
  EXPECT_EQ(encode_hello(h), expected);
  expected[4] = 2;
  EXPECT_EQ(encode_hello(h, true), expected);
}

TEST(WireLayout, ReasonAndBroadcast) {
  bytes refuse_bytes{0, 0, 0, 6, 3, 0, 3, 'x', 'y', 'z'};
  EXPECT_EQ(encode_refuse("xyz"), refuse_bytes);
  refuse_bytes[4] = 7;
  EXPECT_EQ(encode_goodbye("xyz"), refuse_bytes);

  broadcast b{1, 77, 2, 3, std::string("p\0", 2)};
  bytes expected{0, 0, 0, 29, 4};
  put_be(expected, 1, 8);
  put_be(expected, 77, 8);
  put_be(expected, 2, 8);
  put_be(expected, 3, 2);
  expected.push_back('p');
  expected.push_back(0);
  EXPECT_EQ(encode_broadcast(b), expected);
}

// ---------------------------------------------------------------------------
// Streaming: whole, byte by byte, in arbitrary chunks

TEST(WireStream, ManyFramesInOneFeed) {
  auto samples = all_samples();
  auto stream = concat_all(samples);
  EXPECT_EQ(read_chunked(stream, {stream.size()}), expected_descriptions(samples));
}

TEST(WireStream, ByteByByteGivesTheSameFrames) {
  auto samples = all_samples();
  auto stream = concat_all(samples);
  EXPECT_EQ(read_chunked(stream, {1}), expected_descriptions(samples));
}

TEST(WireStream, FixedChunkSizesGiveTheSameFrames) {
  auto samples = all_samples();
  auto stream = concat_all(samples);
  auto expected = expected_descriptions(samples);
  for (std::size_t n : {2, 3, 4, 5, 6, 7, 13, 17, 64, 100, 1000})
    EXPECT_EQ(read_chunked(stream, {n}), expected) << "chunk size " << n;
}

TEST(WireStream, RandomChunkSizesGiveTheSameFrames) {
  auto samples = all_samples();
  auto stream = concat_all(samples);
  auto expected = expected_descriptions(samples);
  std::mt19937 rng(12345);
  std::uniform_int_distribution<std::size_t> size(1, 40);
  for (int round = 0; round < 50; ++round) {
    std::vector<std::size_t> sizes(37);
    for (auto& s : sizes)
      s = size(rng);
    EXPECT_EQ(read_chunked(stream, sizes), expected) << "round " << round;
  }
}

TEST(WireStream, LastSizeReportsWireSizeOfEachFrame) {
  auto samples = all_samples();
  auto stream = concat_all(samples);
  frame_reader rd(big_max_frame);
  rd.feed(stream.data(), stream.size());
  for (auto& s : samples) {
    auto r = rd.next();
    ASSERT_TRUE(std::holds_alternative<frame>(r));
    EXPECT_EQ(rd.last_size(), s.wire.size());
  }
  EXPECT_TRUE(is_need_more(rd.next()));
  EXPECT_EQ(rd.buffered(), 0u);
}

TEST(WireStream, PartialFrameOnlyNeedsMore) {
  for (auto& s : all_samples()) {
    frame_reader rd(big_max_frame);
    for (std::size_t i = 0; i + 1 < s.wire.size(); ++i) {
      rd.feed(&s.wire[i], 1);
      EXPECT_TRUE(is_need_more(rd.next()))
          << s.expected << " after " << i + 1 << " bytes";
      EXPECT_TRUE(is_need_more(rd.next())); // asking again changes nothing
      EXPECT_EQ(rd.buffered(), i + 1);
    }
    rd.feed(&s.wire.back(), 1);
    auto r = rd.next();
    ASSERT_TRUE(std::holds_alternative<frame>(r)) << s.expected;
    EXPECT_EQ(describe(std::get<frame>(r)), s.expected);
  }
}

TEST(WireStream, EmptyReaderAndEmptyFeedNeedMore) {
  frame_reader rd(big_max_frame);
  EXPECT_TRUE(is_need_more(rd.next()));
  rd.feed(nullptr, 0);
  EXPECT_TRUE(is_need_more(rd.next()));
  EXPECT_EQ(rd.buffered(), 0u);
}

TEST(WireStream, LongStreamKeepsBufferBounded) {
  // Many frames through one reader: consumed bytes are released.
  broadcast b{1, 77, 0, 0, std::string(1000, 'x')};
  frame_reader rd(big_max_frame);
  std::size_t frames = 0, max_buffered = 0;
  for (std::uint64_t i = 0; i < 500; ++i) {
    b.seq = i;
    auto w = encode_broadcast(b);
    // Split each frame across two feeds so a partial frame is often pending.
    rd.feed(w.data(), 10);
    max_buffered = std::max(max_buffered, rd.buffered());
    while (std::holds_alternative<frame>(rd.next()))
      ++frames;
    rd.feed(w.data() + 10, w.size() - 10);
    max_buffered = std::max(max_buffered, rd.buffered());
    for (auto r = rd.next(); std::holds_alternative<frame>(r); r = rd.next()) {
      EXPECT_EQ(std::get<broadcast>(std::get<frame>(r).body).seq, i);
      ++frames;
    }
  }
  EXPECT_EQ(frames, 500u);
  EXPECT_LE(max_buffered, encode_broadcast(b).size());
  EXPECT_EQ(rd.buffered(), 0u);
}

// ---------------------------------------------------------------------------
// Malformed input: one test per rule

TEST(WireMalformed, ZeroLength) {
  frame_reader rd(big_max_frame);
  bytes zero{0, 0, 0, 0};
  rd.feed(zero.data(), zero.size());
  auto r = rd.next();
  ASSERT_TRUE(std::holds_alternative<decode_error>(r));
  EXPECT_EQ(std::get<decode_error>(r).code, error_code::zero_length);
}

TEST(WireMalformed, LengthOverLimitFailsBeforeBufferingTheClaimedLength) {
  frame_reader rd(64);
  bytes header{0xff, 0xff, 0xff, 0xff}; // claims 4 GiB
  rd.feed(header.data(), header.size());
  auto r = rd.next();
  ASSERT_TRUE(std::holds_alternative<decode_error>(r));
  EXPECT_EQ(std::get<decode_error>(r).code, error_code::length_over_limit);
  EXPECT_LE(rd.buffered(), 4u);
  // Later bytes are not buffered either.
  bytes more(1000, 0xab);
  rd.feed(more.data(), more.size());
  EXPECT_LE(rd.buffered(), 4u);
}

TEST(WireMalformed, LengthOverLimitByOne) {
  auto frame_bytes = encode_ping(ping_of(1)); // length 27
  EXPECT_EQ(std::get<ping>(decode_one(frame_bytes, 27).body).nonce, 1u);
  EXPECT_EQ(first_error(frame_bytes, 8).code, error_code::length_over_limit);
}

TEST(WireMalformed, UnknownTypeDetectedFromHeaderBeforeBody) {
  for (std::uint8_t type : {std::uint8_t{0}, std::uint8_t{6}, std::uint8_t{22},
                            std::uint8_t{0x7f}, std::uint8_t{0xff}}) {
    frame_reader rd(big_max_frame);
    bytes header{0, 0, 0, 100, type}; // body of 99 bytes never arrives
    rd.feed(header.data(), 4);
    EXPECT_TRUE(is_need_more(rd.next()));
    rd.feed(header.data() + 4, 1);
    auto r = rd.next();
    ASSERT_TRUE(std::holds_alternative<decode_error>(r)) << int{type};
    EXPECT_EQ(std::get<decode_error>(r).code, error_code::unknown_type) << int{type};
  }
}

TEST(WireMalformed, UnknownTypeFromDecodeDirectly) {
  std::uint8_t body[1] = {0};
  auto r = decode(static_cast<frame_type>(42), body, 0);
  ASSERT_TRUE(std::holds_alternative<decode_error>(r));
  EXPECT_EQ(std::get<decode_error>(r).code, error_code::unknown_type);
}

TEST(WireMalformed, TruncatedBodyHelloEndsInsideNodeId) {
  auto full = encode_hello(sample_hello());
  bytes body(full.begin() + header_size, full.end());
  // magic(4) version(2) len(1) cluster(12) node(8) port(2): cut inside node.
  std::size_t cut = 4 + 2 + 1 + 12 + 3;
  body.resize(cut);
  auto e = first_error(raw_frame(1, body));
  EXPECT_EQ(e.code, error_code::truncated_body);
}

TEST(WireMalformed, TruncatedBodyHelloAtEveryCut) {
  auto full = encode_hello(sample_hello());
  bytes body(full.begin() + header_size, full.end());
  for (std::size_t cut = 0; cut < body.size(); ++cut) {
    bytes part(body.begin(), body.begin() + static_cast<std::ptrdiff_t>(cut));
    EXPECT_EQ(first_error(raw_frame(1, part)).code, error_code::truncated_body)
        << "cut at " << cut;
  }
}

TEST(WireMalformed, TruncatedBodyHelloClusterShorterThanItsLength) {
  bytes body;
  put_be(body, magic, 4);
  put_be(body, version, 2);
  body.push_back(10); // claims 10 bytes, 3 follow
  body.insert(body.end(), {'a', 'b', 'c'});
  EXPECT_EQ(first_error(raw_frame(1, body)).code, error_code::truncated_body);
}

TEST(WireMalformed, TruncatedBodyBroadcastShorterThanItsHeader) {
  for (std::size_t n : {0, 1, 8, 16, 17, 25}) {
    bytes body(n, 0x01);
    EXPECT_EQ(first_error(raw_frame(4, body)).code, error_code::truncated_body) << n;
  }
  // Exactly 26 bytes is a broadcast with an empty payload.
  auto f = decode_one(raw_frame(4, bytes(26, 0)));
  EXPECT_TRUE(std::get<broadcast>(f.body).payload.empty());
}

TEST(WireMalformed, TruncatedBodyPingAndReason) {
  EXPECT_EQ(first_error(raw_frame(5, bytes(7, 0))).code, error_code::truncated_body);
  EXPECT_EQ(first_error(raw_frame(5, bytes(25, 0))).code, error_code::truncated_body);
  EXPECT_EQ(first_error(raw_frame(15, bytes{})).code, error_code::truncated_body);
  EXPECT_EQ(first_error(raw_frame(3, bytes{0})).code, error_code::truncated_body);
  EXPECT_EQ(first_error(raw_frame(7, bytes{0, 5, 'a', 'b'})).code,
            error_code::truncated_body);
}

TEST(WireMalformed, TrailingBytesPingWithTwentySevenBodyBytes) {
  auto e = first_error(raw_frame(5, bytes(27, 0)));
  EXPECT_EQ(e.code, error_code::trailing_bytes);
  EXPECT_EQ(first_error(raw_frame(15, bytes(17, 0))).code, error_code::trailing_bytes);
}

TEST(WireMalformed, TrailingBytesAfterHelloAndReason) {
  auto h = encode_hello(sample_hello());
  bytes body(h.begin() + header_size, h.end());
  body.push_back(0);
  EXPECT_EQ(first_error(raw_frame(1, body)).code, error_code::trailing_bytes);
  EXPECT_EQ(first_error(raw_frame(2, body)).code, error_code::trailing_bytes);
  EXPECT_EQ(first_error(raw_frame(7, bytes{0, 1, 'a', 'b'})).code,
            error_code::trailing_bytes);
}

TEST(WireMalformed, BadMagic) {
  auto h = sample_hello();
  h.magic = 0x48545450; // "HTTP"
  EXPECT_EQ(first_error(encode_hello(h)).code, error_code::bad_magic);
  EXPECT_EQ(first_error(encode_hello(h, true)).code, error_code::bad_magic);
}

TEST(WireMalformed, StringTooLongCluster) {
  bytes body;
  put_be(body, magic, 4);
  put_be(body, version, 2);
  body.push_back(200); // 200 > 64
  body.insert(body.end(), 200, 'c');
  put_be(body, 1, 8);
  put_be(body, 1, 2);
  EXPECT_EQ(first_error(raw_frame(1, body)).code, error_code::string_too_long);
  // Rejected on the length byte alone, before the bytes are looked at.
  bytes shortbody(body.begin(), body.begin() + 7);
  EXPECT_EQ(first_error(raw_frame(1, shortbody)).code, error_code::string_too_long);
  // 65 is the first length over the limit.
  bytes b65;
  put_be(b65, magic, 4);
  put_be(b65, version, 2);
  b65.push_back(65);
  b65.insert(b65.end(), 65, 'c');
  put_be(b65, 1, 8);
  put_be(b65, 1, 2);
  EXPECT_EQ(first_error(raw_frame(1, b65)).code, error_code::string_too_long);
}

TEST(WireMalformed, StringTooLongReason) {
  bytes body;
  put_be(body, max_reason_len + 1, 2);
  body.insert(body.end(), max_reason_len + 1, 'r');
  EXPECT_EQ(first_error(raw_frame(3, body)).code, error_code::string_too_long);
  EXPECT_EQ(first_error(raw_frame(7, body)).code, error_code::string_too_long);
  bytes huge{0xff, 0xff}; // 65535 claimed, nothing follows
  EXPECT_EQ(first_error(raw_frame(7, huge)).code, error_code::string_too_long);
}

TEST(WireMalformed, ErrorCodesHaveNames) {
  EXPECT_STREQ(to_string(error_code::zero_length), "zero_length");
  EXPECT_STREQ(to_string(error_code::length_over_limit), "length_over_limit");
  EXPECT_STREQ(to_string(error_code::unknown_type), "unknown_type");
  EXPECT_STREQ(to_string(error_code::truncated_body), "truncated_body");
  EXPECT_STREQ(to_string(error_code::trailing_bytes), "trailing_bytes");
  EXPECT_STREQ(to_string(error_code::bad_magic), "bad_magic");
  EXPECT_STREQ(to_string(error_code::string_too_long), "string_too_long");
}

TEST(WireMalformed, ReaderStaysFailedAfterError) {
  frame_reader rd(big_max_frame);
  auto bad = raw_frame(5, bytes(27, 0)); // trailing_bytes
  auto good = encode_ping(ping_of(1));
  rd.feed(bad.data(), bad.size());
  rd.feed(good.data(), good.size());
  auto r = rd.next();
  ASSERT_TRUE(std::holds_alternative<decode_error>(r));
  EXPECT_EQ(std::get<decode_error>(r).code, error_code::trailing_bytes);
  auto buffered = rd.buffered();
  rd.feed(good.data(), good.size());
  EXPECT_EQ(rd.buffered(), buffered); // nothing more is buffered
  for (int i = 0; i < 3; ++i) {
    auto again = rd.next();
    ASSERT_TRUE(std::holds_alternative<decode_error>(again));
    EXPECT_EQ(std::get<decode_error>(again).code, error_code::trailing_bytes);
  }
}

TEST(WireMalformed, GoodFramesBeforeAnErrorAreDelivered) {
  auto stream = encode_ping(ping_of(1));
  auto p2 = encode_ping(ping_of(2));
  stream.insert(stream.end(), p2.begin(), p2.end());
  stream.insert(stream.end(), {0, 0, 0, 0});
  frame_reader rd(big_max_frame);
  rd.feed(stream.data(), stream.size());
  EXPECT_TRUE(std::holds_alternative<frame>(rd.next()));
  EXPECT_TRUE(std::holds_alternative<frame>(rd.next()));
  auto r = rd.next();
  ASSERT_TRUE(std::holds_alternative<decode_error>(r));
  EXPECT_EQ(std::get<decode_error>(r).code, error_code::zero_length);
}

TEST(WireMalformed, HttpGarbageIsRejected) {
  std::string http = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  bytes data(http.begin(), http.end());
  // A node's usual limit: "GET " read as a length is far too large.
  frame_reader rd(max_frame_for_payload(65536));
  rd.feed(data.data(), data.size());
  auto r = rd.next();
  ASSERT_TRUE(std::holds_alternative<decode_error>(r));
  EXPECT_EQ(std::get<decode_error>(r).code, error_code::length_over_limit);
  // With a limit that lets the length pass, the type byte '/' is unknown.
  frame_reader wide(0xffffffffu);
  wide.feed(data.data(), data.size());
  auto w = wide.next();
  ASSERT_TRUE(std::holds_alternative<decode_error>(w));
  EXPECT_EQ(std::get<decode_error>(w).code, error_code::unknown_type);
}

TEST(WireMalformed, RandomGarbageNeverCrashes) {
  std::mt19937 rng(777);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<int> len(1, 200);
  int errors = 0;
  for (int round = 0; round < 2000; ++round) {
    bytes data(static_cast<std::size_t>(len(rng)));
    for (auto& b : data)
      b = static_cast<std::uint8_t>(byte(rng));
    // Small lengths make the decoders run on random bodies, too.
    data[0] = data[1] = 0;
    data[2] = static_cast<std::uint8_t>(byte(rng) & 1);
    frame_reader rd(4096);
    rd.feed(data.data(), data.size());
    for (int i = 0; i < 100; ++i) {
      auto r = rd.next();
      if (std::holds_alternative<decode_error>(r)) {
        ++errors;
        break;
      }
      if (is_need_more(r))
        break;
    }
    EXPECT_LE(rd.buffered(), data.size());
  }
  EXPECT_GT(errors, 0);
}

// ---------------------------------------------------------------------------
// Payload limit

TEST(WireLimit, MaxFrameForPayloadAcceptsExactlyNBytes) {
  for (std::size_t n : {0, 1, 100, 65536}) {
    auto max = max_frame_for_payload(n);
    broadcast ok{1, 77, 2, 3, std::string(n, 'p')};
    auto f = decode_one(encode_broadcast(ok), max);
    EXPECT_EQ(std::get<broadcast>(f.body).payload.size(), n);

    broadcast over{1, 77, 2, 3, std::string(n + 1, 'p')};
    auto wire = encode_broadcast(over);
    frame_reader rd(max, broadcast_frame_limit(n));
    rd.feed(wire.data(), header_size); // the header alone is enough to reject
    auto r = rd.next();
    ASSERT_TRUE(std::holds_alternative<decode_error>(r)) << n;
    EXPECT_EQ(std::get<decode_error>(r).code, error_code::length_over_limit) << n;
  }
}

// Largest control frames a peer may legitimately send (length field values).
std::size_t largest_hello_frame() {
  auto h = sample_hello();
  h.cluster = std::string(max_cluster_len, 'c');
  return encode_hello(h).size() - 4;
}

std::size_t largest_reason_frame() {
  return encode_goodbye(std::string(max_reason_len, 'r')).size() - 4;
}

TEST(WireLimit, DefaultPayloadLimitFitsEveryControlFrame) {
  auto max = max_frame_for_payload(65536); // node.max-payload default
  EXPECT_LE(largest_hello_frame(), max);
  EXPECT_LE(largest_reason_frame(), max);
  EXPECT_EQ(broadcast_frame_limit(0), 1 + broadcast_overhead);
}

TEST(WireLimit, SmallPayloadLimitStillFitsEveryControlFrame) {
  // Regression test for a fixed bug (net/wire.cpp:229, max_frame_for_payload): it returns
  // 1 + 18 + max_payload, which main/node.cpp uses as the frame_reader limit. config
  // accepts node.max-payload down to 1, giving a limit of 20 bytes, but a HELLO/WELCOME
  // is 18 + cluster bytes (25 for "lanmesh", 82 for a 64-byte cluster) and a
  // REFUSE/GOODBYE up to 259: such a node rejects every handshake with
  // length_over_limit. Expected: the limit is at least the largest control frame.
  for (std::size_t n : {1, 16, 63}) {
    auto max = max_frame_for_payload(n);
    EXPECT_LE(largest_hello_frame(), max) << "max-payload " << n;
    EXPECT_LE(largest_reason_frame(), max) << "max-payload " << n;
    auto h = sample_hello();
    h.cluster = "lanmesh";
    auto wire = encode_hello(h);
    frame_reader rd(max);
    rd.feed(wire.data(), wire.size());
    EXPECT_TRUE(std::holds_alternative<frame>(rd.next())) << "max-payload " << n;
  }
}

// ---------------------------------------------------------------------------
// Overlay frames: MEMBER, REVERSE, REDIRECT

TEST(WireOverlay, MembersRoundTripEveryField) {
  members m;
  m.flags = members_sync;
  m.records.push_back(
      {0x1111, 0x2222, 3, member_state::alive, 0x7f000001, 50001, 40001, 2, 1, 5, 7});
  m.records.push_back({0x3333, 0x4444, 0, member_state::left, 0, 0, 0, 0, 0, 0});
  m.records.push_back({UINT64_MAX, UINT64_MAX, UINT32_MAX, member_state::unreachable,
                       UINT32_MAX, UINT16_MAX, UINT16_MAX, UINT16_MAX, UINT16_MAX,
                       UINT16_MAX, UINT8_MAX});
  auto wire = encode_members(m);
  EXPECT_EQ(wire.size(), header_size + 2 + 3 * member_record_size);
  auto f = decode_one(wire, big_max_frame);
  ASSERT_EQ(f.type, frame_type::members);
  auto& got = std::get<members>(f.body);
  EXPECT_EQ(got.flags, members_sync);
  ASSERT_EQ(got.records.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i)
    EXPECT_TRUE(got.records[i] == m.records[i]) << i;
}

TEST(WireLayout, MemberRecordCountsItsHopsAfterTheState) {
  members m;
  m.records.push_back({1, 2, 3, member_state::dead, 0x7f000001, 4, 5, 6, 7, 8, 9});
  bytes expected{0,    0, 0, 39, 8, 0, 1, // header, flags, count
                 0,    0, 0, 0,  0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, // node, incarnation
                 0,    0, 0, 3,  2, 9, // version, state, hops
                 0x7f, 0, 0, 1,  0, 4, 0, 5, 0, 6, 0, 7, 0, 8};
  EXPECT_EQ(encode_members(m), expected);
}

TEST(WireOverlay, MembersCountStateAndSizeAreChecked) {
  // More records than a frame may hold.
  bytes over{0, static_cast<std::uint8_t>(max_member_records + 1)};
  over.resize(2 + member_record_size * (max_member_records + 1), 0);
  EXPECT_EQ(first_error(raw_frame(8, over)).code, error_code::count_over_limit);
  // A state that does not exist.
  members m;
  m.records.push_back({1, 1, 0, member_state::alive, 0, 0, 0, 0, 0, 0});
  auto wire = encode_members(m);
  wire[header_size + 2 + 20] = 4; // the state byte
  EXPECT_EQ(first_error(wire).code, error_code::bad_value);
  // Cut inside the record, and one byte too many.
  auto good = encode_members(m);
  bytes body(good.begin() + header_size, good.end());
  EXPECT_EQ(first_error(raw_frame(8, bytes(body.begin(), body.end() - 1))).code,
            error_code::truncated_body);
  body.push_back(0);
  EXPECT_EQ(first_error(raw_frame(8, body)).code, error_code::trailing_bytes);
  // The encoder never writes more than a frame may hold.
  members big;
  big.records.resize(max_member_records + 10);
  EXPECT_EQ(std::get<members>(decode_one(encode_members(big), big_max_frame).body)
                .records.size(),
            max_member_records);
}

TEST(WireOverlay, SyncAndProbeFramesRoundTrip) {
  auto y = std::get<sync>(decode_one(encode_sync({0xabcdef, 17, sync_answer})).body);
  EXPECT_EQ(y.digest, 0xabcdefu);
  EXPECT_EQ(y.count, 17u);
  EXPECT_EQ(y.flags, sync_answer);
  auto q =
      std::get<probe_req>(decode_one(encode_probe_req({9, 8, 0x0a000001, 4242})).body);
  EXPECT_EQ(q.nonce, 9u);
  EXPECT_EQ(q.target, 8u);
  EXPECT_EQ(q.ip, 0x0a000001u);
  EXPECT_EQ(q.probe_port, 4242);
  auto a = std::get<probe_ack>(decode_one(encode_probe_ack({5, 6})).body);
  EXPECT_EQ(a.nonce, 5u);
  EXPECT_EQ(a.target, 6u);
  EXPECT_EQ(first_error(raw_frame(13, bytes(12, 0))).code, error_code::truncated_body);
  EXPECT_EQ(first_error(raw_frame(14, bytes(23, 0))).code, error_code::trailing_bytes);
}

TEST(WireLimit, LargestMembersFrameFitsAnyPayloadLimit) {
  members big;
  big.records.resize(max_member_records);
  EXPECT_LE(encode_members(big).size() - 4, max_frame_for_payload(1));
}

TEST(WireOverlay, ReverseIsAnEmptyFrame) {
  EXPECT_EQ(encode_reverse(), (bytes{0, 0, 0, 1, 9}));
  auto f = decode_one(encode_reverse(), big_max_frame);
  EXPECT_EQ(f.type, frame_type::reverse);
  auto r = decode(frame_type::reverse, reinterpret_cast<const std::uint8_t*>("x"), 1);
  ASSERT_TRUE(std::holds_alternative<decode_error>(r));
  EXPECT_EQ(std::get<decode_error>(r).code, error_code::trailing_bytes);
}

TEST(WireOverlay, RedirectRoundTripAndCountLimit) {
  redirect rd;
  for (std::uint16_t i = 0; i < 3; ++i)
    rd.entries.push_back({0x100u + i, 0x7f000001, static_cast<std::uint16_t>(50000 + i)});
  auto f = decode_one(encode_redirect(rd), big_max_frame);
  auto& got = std::get<redirect>(f.body);
  ASSERT_EQ(got.entries.size(), 3u);
  EXPECT_EQ(got.entries[2].node, 0x102u);
  EXPECT_EQ(got.entries[2].port, 50002);
  // The encoder never writes more than the limit; a decoder rejects a count
  // over it before reading (or allocating for) any entry.
  redirect many;
  many.entries.resize(max_redirects + 5);
  auto enc = encode_redirect(many);
  EXPECT_EQ(enc[5], max_redirects);
  std::uint8_t body[] = {static_cast<std::uint8_t>(max_redirects + 1)};
  auto r = decode(frame_type::redirect, body, sizeof(body));
  ASSERT_TRUE(std::holds_alternative<decode_error>(r));
  EXPECT_EQ(std::get<decode_error>(r).code, error_code::count_over_limit);
  std::uint8_t short_body[] = {1, 0, 0};
  r = decode(frame_type::redirect, short_body, sizeof(short_body));
  ASSERT_TRUE(std::holds_alternative<decode_error>(r));
  EXPECT_EQ(std::get<decode_error>(r).code, error_code::truncated_body);
}

TEST(WireRaw, BroadcastsAreTakenWholeAndOtherFramesStillReturned) {
  // A socket read: two broadcasts, a ping, one more broadcast, half a frame.
  bytes stream;
  for (auto& b :
       {broadcast{1, 77, 10, 0, "a"}, broadcast{2, 77, 20, 3, std::string("b\0c", 3)}}) {
    auto f = encode_broadcast(b);
    stream.insert(stream.end(), f.begin(), f.end());
  }
  auto ping_frame = encode_ping(ping_of(7));
  stream.insert(stream.end(), ping_frame.begin(), ping_frame.end());
  auto last = encode_broadcast({3, 77, 30, 1, "last"});
  stream.insert(stream.end(), last.begin(), last.end());
  auto tail = encode_broadcast({4, 77, 40, 0, "cut"});
  stream.insert(stream.end(), tail.begin(), tail.begin() + 10);

  frame_reader rd(big_max_frame);
  rd.feed(stream.data(), stream.size());
  bytes raw;
  std::size_t n = 0;
  auto r = rd.next(raw, n);
  ASSERT_TRUE(std::holds_alternative<frame>(r));
  EXPECT_EQ(std::get<frame>(r).type, frame_type::ping);
  EXPECT_EQ(n, 2u); // the broadcasts before the ping, nothing after it yet
  std::vector<std::pair<std::uint64_t, std::string>> got;
  auto collect = [&](const broadcast_view& b, const std::uint8_t*, std::size_t) {
    got.emplace_back(b.seq, std::string(b.payload));
  };
  EXPECT_TRUE(for_each_broadcast(raw.data(), raw.size(), collect));
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1].second, std::string("b\0c", 3));
  raw.clear();
  n = 0;
  got.clear();
  EXPECT_TRUE(std::holds_alternative<frame_reader::need_more>(rd.next(raw, n)));
  EXPECT_EQ(n, 1u);
  EXPECT_TRUE(for_each_broadcast(raw.data(), raw.size(), collect));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].first, 30u);
}

TEST(WireRaw, HopsArePatchedInPlaceAndAppendMatchesEncode) {
  bytes out;
  append_broadcast(out, 5, 77, 6, 7, "xyz");
  EXPECT_EQ(out, encode_broadcast({5, 77, 6, 7, "xyz"}));
  set_broadcast_hops(out.data(), 0x1234);
  EXPECT_EQ(std::get<broadcast>(decode_one(out).body).hops, 0x1234);
}

TEST(WireRaw, ShortBroadcastHeaderIsABadFrameAndGarbageStopsTheWalk) {
  frame_reader rd(big_max_frame);
  bytes bad{0, 0, 0, 5, 4, 1, 2, 3, 4}; // a broadcast of 4 body bytes
  rd.feed(bad.data(), bad.size());
  bytes raw;
  std::size_t n = 0;
  auto r = rd.next(raw, n);
  ASSERT_TRUE(std::holds_alternative<decode_error>(r));
  EXPECT_EQ(std::get<decode_error>(r).code, error_code::truncated_body);
  EXPECT_EQ(n, 0u);
  auto good = encode_broadcast({1, 77, 1, 0, "ok"});
  std::size_t seen = 0;
  auto count = [&](const broadcast_view&, const std::uint8_t*, std::size_t) { ++seen; };
  bytes mixed = good;
  auto ping_frame = encode_ping(ping_of(1));
  mixed.insert(mixed.end(), ping_frame.begin(), ping_frame.end());
  EXPECT_FALSE(for_each_broadcast(mixed.data(), mixed.size(), count));
  EXPECT_EQ(seen, 1u);
  EXPECT_FALSE(for_each_broadcast(good.data(), good.size() - 1, count));
}

TEST(WireOverlay, LargestTopologyReplyFitsAnyPayloadLimit) {
  // A node with many links answers /topology with max_topo_links entries; a
  // small node.max-payload must not turn that answer into a bad frame.
  topo_reply r;
  r.links.resize(max_topo_links + 3);
  auto enc = encode_topo_reply(r);
  auto f = decode_one(enc, max_frame_for_payload(1));
  EXPECT_EQ(std::get<topo_reply>(f.body).links.size(), max_topo_links);
}

TEST(WireOverlay, TopologyQueryAndReplyRoundTrip) {
  topo_query q{0xabc, 42, 3};
  auto fq = decode_one(encode_topo_query(q), big_max_frame);
  auto& gq = std::get<topo_query>(fq.body);
  EXPECT_EQ(gq.origin, 0xabcu);
  EXPECT_EQ(gq.seq, 42u);
  EXPECT_EQ(gq.hops, 3);

  topo_reply r;
  r.query_origin = 0xabc;
  r.query_seq = 42;
  r.node = 0xdef;
  r.port = 50001;
  r.links_in = 2;
  r.links_out = 1;
  r.capacity = 5;
  r.links = {{0x1, 1, 250}, {0x2, 0, -1}};
  auto fr = decode_one(encode_topo_reply(r), big_max_frame);
  auto& gr = std::get<topo_reply>(fr.body);
  EXPECT_EQ(gr.node, 0xdefu);
  EXPECT_EQ(gr.capacity, 5);
  ASSERT_EQ(gr.links.size(), 2u);
  EXPECT_EQ(gr.links[0].rtt_us, 250);
  EXPECT_EQ(gr.links[1].rtt_us, -1); // "not measured" survives the trip
  EXPECT_EQ(gr.links[1].dir, 0);
}

TEST(WireOverlay, TopologyReplyLinkCountIsBounded) {
  topo_reply r;
  r.links.resize(max_topo_links + 10);
  auto enc = encode_topo_reply(r);
  auto f = decode_one(enc, big_max_frame);
  EXPECT_EQ(std::get<topo_reply>(f.body).links.size(), max_topo_links);
  // A count byte over the limit is rejected before any link is read.
  enc[4 + 1 + 8 + 8 + 8 + 2 + 2 + 2 + 2] = static_cast<std::uint8_t>(max_topo_links + 1);
  frame_reader rd(big_max_frame);
  rd.feed(enc.data(), enc.size());
  auto res = rd.next();
  ASSERT_TRUE(std::holds_alternative<decode_error>(res));
  EXPECT_EQ(std::get<decode_error>(res).code, error_code::count_over_limit);
}

} // namespace
} // namespace lanmesh::wire

// ---------------------------------------------------------------------------
// The broadcast tree's frames

namespace lanmesh::wire {
namespace {

TEST(WireTree, EveryTreeFrameRoundTrips) {
  std::vector<stream_range> two{{1, 2, 3, 4}, {UINT64_MAX, 9, 10, UINT64_MAX}};
  auto ih = std::get<ihave>(decode_one(encode_tree_frame(frame_type::ihave, two)).body);
  ASSERT_EQ(ih.ranges.size(), 2u);
  EXPECT_EQ(ih.ranges[1].origin, UINT64_MAX);
  EXPECT_EQ(ih.ranges[1].first, 10u);
  EXPECT_EQ(ih.ranges[1].last, UINT64_MAX);
  auto g =
      std::get<graft>(decode_one(encode_tree_frame(frame_type::graft, {two[0]})).body);
  EXPECT_EQ(g.range.first, 3u);
  EXPECT_EQ(g.range.last, 4u);
  auto w =
      std::get<iwant>(decode_one(encode_tree_frame(frame_type::iwant, {two[0]})).body);
  EXPECT_EQ(w.range.epoch, 2u);
  auto n = std::get<nothave>(
      decode_one(encode_tree_frame(frame_type::nothave, {two[1]})).body);
  EXPECT_EQ(n.range.last, UINT64_MAX);
  // PRUNE carries streams only, STREAMS each stream's last.
  auto p = std::get<prune>(decode_one(encode_tree_frame(frame_type::prune, two)).body);
  ASSERT_EQ(p.streams.size(), 2u);
  EXPECT_EQ(p.streams[0].origin, 1u);
  EXPECT_EQ(p.streams[0].epoch, 2u);
  auto st =
      std::get<streams>(decode_one(encode_tree_frame(frame_type::streams, two)).body);
  ASSERT_EQ(st.streams.size(), 2u);
  EXPECT_EQ(st.streams[0].last, 4u);
  EXPECT_EQ(encode_tree_frame(frame_type::prune, two).size(), header_size + 1 + 2 * 16);
  EXPECT_EQ(encode_tree_frame(frame_type::streams, two).size(), header_size + 1 + 2 * 24);
  EXPECT_EQ(encode_tree_frame(frame_type::graft, {two[0]}).size(), header_size + 32);
}

TEST(WireTree, CountsAndSizesAreChecked) {
  bytes over{static_cast<std::uint8_t>(max_tree_entries + 1)};
  over.resize(1 + 32 * (max_tree_entries + 1));
  EXPECT_EQ(first_error(raw_frame(16, over)).code, error_code::count_over_limit);
  EXPECT_EQ(first_error(raw_frame(17, bytes(31, 0))).code, error_code::truncated_body);
  EXPECT_EQ(first_error(raw_frame(17, bytes(33, 0))).code, error_code::trailing_bytes);
  EXPECT_EQ(first_error(raw_frame(21, bytes{1})).code, error_code::truncated_body);
  // In raw mode too: a bad tree frame stops the stream like any bad frame.
  frame_reader rd(big_max_frame);
  auto bad = raw_frame(18, bytes{2, 0, 0});
  rd.feed(bad.data(), bad.size());
  bytes raw;
  std::size_t count = 0;
  EXPECT_TRUE(std::holds_alternative<decode_error>(rd.next(raw, count)));
  // The encoder never writes more entries than a frame may hold.
  std::vector<stream_range> many(max_tree_entries + 5, stream_range{1, 1, 1, 1});
  EXPECT_EQ(std::get<ihave>(decode_one(encode_tree_frame(frame_type::ihave, many)).body)
                .ranges.size(),
            max_tree_entries);
}

TEST(WireTree, TheBroadcastPlaneTravelsRawInOrder) {
  bytes stream;
  auto b = encode_broadcast({1, 2, 3, 0, "x"});
  auto ih = encode_tree_frame(frame_type::ihave, {{1, 2, 4, 9}});
  auto ping_frame = encode_ping(ping_of(1));
  for (auto* f : {&b, &ih, &b, &ping_frame})
    stream.insert(stream.end(), f->begin(), f->end());
  frame_reader rd(big_max_frame);
  rd.feed(stream.data(), stream.size());
  bytes raw;
  std::size_t n = 0;
  auto r = rd.next(raw, n);
  ASSERT_TRUE(std::holds_alternative<frame>(r));
  EXPECT_EQ(std::get<frame>(r).type, frame_type::ping);
  EXPECT_EQ(n, 3u);
  std::vector<std::uint8_t> types;
  EXPECT_TRUE(for_each_frame(
      raw.data(), raw.size(),
      [&](std::uint8_t t, const std::uint8_t*, std::size_t) { types.push_back(t); }));
  EXPECT_EQ(types, (std::vector<std::uint8_t>{4, 16, 4}));
  EXPECT_TRUE(broadcast_plane(16) && broadcast_plane(21) && broadcast_plane(4));
  EXPECT_FALSE(broadcast_plane(5) || broadcast_plane(8) || broadcast_plane(22));
}

} // namespace
} // namespace lanmesh::wire
