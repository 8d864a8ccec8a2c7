// Writes the seed corpus of the fuzz targets (tools/fuzz.sh --seeds):
//
//   fuzz_seeds OUT_DIR SOURCE_DIR
//
// OUT_DIR/frame: every frame type the wire defines, made by its encoder
// (limits reached: longest cluster and reason, full lists), and streams of
// many; OUT_DIR/announce: announcements of each kind and probe datagrams,
// plain and sealed; OUT_DIR/handshake: scripts of the handshake target
// (real AUTH1/AUTH2 messages under the seed key id, reflections, honest and
// replayed records, plaintext of frames); OUT_DIR/config: the shipped
// config file and variants, and config.dict (every key) beside the corpus.
// File names say what each seed is; the same inputs give the same names.

#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "fuzz_common.hpp"
#include "main/config.hpp"
#include "net/announce.hpp"
#include "net/datagram_seal.hpp"
#include "net/link_auth.hpp"
#include "net/probe_datagram.hpp"
#include "net/wire.hpp"

using namespace lanmesh;
using namespace lanmesh::wire;
using bytes = std::vector<std::uint8_t>;

namespace {

std::string out_dir;
int written = 0;

void write(const std::string& target, const std::string& name, const bytes& b) {
  auto dir = out_dir + "/" + target;
  ::mkdir(dir.c_str(), 0755);
  std::ofstream f(dir + "/" + name, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(b.data()),
          static_cast<std::streamsize>(b.size()));
  if (!f) {
    std::cerr << "fuzz_seeds: cannot write " << dir << "/" << name << "\n";
    std::exit(1);
  }
  ++written;
}

void write(const std::string& target, const std::string& name, const std::string& s) {
  write(target, name, bytes(s.begin(), s.end()));
}

bytes cat(std::initializer_list<bytes> parts) {
  bytes out;
  for (auto& p : parts)
    out.insert(out.end(), p.begin(), p.end());
  return out;
}

hello sample_hello(std::string cluster) {
  hello h;
  h.cluster = std::move(cluster);
  h.node = 0x0123456789abcdef;
  h.incarnation = 1700000000000000;
  h.record_version = 7;
  h.listen_port = 50001;
  h.probe_port = 50002;
  h.flags = hello_tree;
  h.links_in = 2;
  h.links_out = 3;
  h.capacity = 5;
  return h;
}

member_record sample_record(std::uint64_t node, member_state s) {
  member_record r;
  r.node = node;
  r.incarnation = 42;
  r.version = 3;
  r.state = s;
  r.ip = 0x7f000001;
  r.port = 50001;
  r.probe_port = 50002;
  r.links_in = 1;
  r.links_out = 2;
  r.capacity = 6;
  return r;
}

std::vector<stream_range> ranges(std::size_t n) {
  std::vector<stream_range> out;
  for (std::size_t i = 0; i < n; ++i)
    out.push_back({0x1000 + i, 1700000000000000 + i, 1 + i, 10 + i});
  return out;
}

void frames() {
  std::vector<std::pair<std::string, bytes>> all;
  auto add = [&](std::string name, bytes b) {
    write("frame", name, b);
    all.emplace_back(std::move(name), std::move(b));
  };
  add("hello", encode_hello(sample_hello("lanmesh")));
  add("hello-callback-reverse", [] {
    auto h = sample_hello("c");
    h.flags = hello_reverse | hello_callback;
    return encode_hello(h);
  }());
  add("hello-longest-cluster", encode_hello(sample_hello(std::string(64, 'x'))));
  add("welcome", encode_hello(sample_hello("lanmesh"), true));
  add("refuse", encode_refuse("duplicate"));
  add("refuse-longest-reason", encode_refuse(std::string(256, 'r')));
  add("goodbye", encode_goodbye("shutdown"));
  add("goodbye-empty", encode_goodbye(""));
  broadcast b{0xabc, 1700000000000000, 1, 0, "hello, world"};
  add("broadcast", encode_broadcast(b));
  add("broadcast-empty", encode_broadcast({1, 2, 3, 65535, ""}));
  add("broadcast-binary", encode_broadcast({1, 2, 3, 4, std::string("\0\xff\n\x01", 4)}));
  add("ping", encode_ping({1, 2, 3, 4, 5, 6}));
  members m;
  m.records = {
      sample_record(1, member_state::alive), sample_record(2, member_state::dead),
      sample_record(3, member_state::unreachable), sample_record(4, member_state::left)};
  add("members", encode_members(m));
  members full;
  full.flags = members_sync;
  for (std::uint64_t i = 0; i < max_member_records; ++i)
    full.records.push_back(sample_record(i + 1, member_state::alive));
  add("members-full-sync", encode_members(full));
  add("members-empty", encode_members({}));
  add("sync", encode_sync({0xdeadbeef, 12, sync_answer}));
  add("probe-req", encode_probe_req({77, 0x55, 0x7f000001, 50002}));
  add("probe-ack", encode_probe_ack({77, 0x55}));
  add("reverse", encode_reverse());
  redirect rd;
  for (std::size_t i = 0; i < max_redirects; ++i)
    rd.entries.push_back({i + 1, 0x7f000001, static_cast<std::uint16_t>(50000 + i)});
  add("redirect-full", encode_redirect(rd));
  add("topo-query", encode_topo_query({9, 4, 2}));
  topo_reply t{9, 4, 10, 50001, 1, 2, 3, {}};
  t.links = {{1, 0, 250}, {2, 1, -1}};
  add("topo-reply", encode_topo_reply(t));
  for (std::size_t i = 2; i < max_topo_links; ++i)
    t.links.push_back(
        {i + 1, static_cast<std::uint8_t>(i & 1), static_cast<int>(i * 100)});
  add("topo-reply-full", encode_topo_reply(t));
  add("ihave", encode_tree_frame(frame_type::ihave, ranges(3)));
  add("ihave-empty", encode_tree_frame(frame_type::ihave, {}));
  add("ihave-full", encode_tree_frame(frame_type::ihave, ranges(max_tree_entries)));
  add("graft", encode_tree_frame(frame_type::graft, ranges(1)));
  add("prune", encode_tree_frame(frame_type::prune, ranges(2)));
  add("iwant", encode_tree_frame(frame_type::iwant, ranges(1)));
  add("nothave", encode_tree_frame(frame_type::nothave, ranges(1)));
  add("streams", encode_tree_frame(frame_type::streams, ranges(4)));
  add("streams-full", encode_tree_frame(frame_type::streams, ranges(max_tree_entries)));

  // A link's life: HELLO, then traffic of every kind, then GOODBYE.
  bytes life;
  for (auto& [name, f] : all)
    if (name.find("full") == std::string::npos &&
        name.find("longest") == std::string::npos)
      life.insert(life.end(), f.begin(), f.end());
  write("frame", "stream-every-type", life);
  bytes burst;
  for (std::uint64_t seq = 1; seq <= 20; ++seq)
    append_broadcast(burst, 0xabc, 1700000000000000, seq, 1,
                     "line " + std::to_string(seq));
  write("frame", "stream-broadcasts", burst);
  // Hostile shapes: a zero length, a length over any limit, a cut frame.
  write("frame", "bad-zero-length", bytes{0, 0, 0, 0, 1});
  write("frame", "bad-huge-length", bytes{0xff, 0xff, 0xff, 0xff, 4, 0, 0});
  auto cut = encode_hello(sample_hello("lanmesh"));
  cut.resize(cut.size() - 3);
  write("frame", "bad-cut-hello", cut);
  write("frame", "bad-type-6", bytes{0, 0, 0, 1, 6});
}

void datagrams() {
  auto ring = fuzz::secret_ring();
  announcement a;
  a.cluster = "lanmesh";
  a.node = 0x0123456789abcdef;
  a.port = 50001;
  a.links_in = 1;
  a.links_out = 2;
  a.capacity = 5;
  const std::uint64_t now = 1700000000000000;
  for (auto kind :
       {announce_kind::announce, announce_kind::query, announce_kind::answer}) {
    a.kind = kind;
    auto d = encode_announcement(a);
    write("announce", std::string("announcement-") + to_string(kind), d);
    net::seal_datagram(d, *ring, now);
    write("announce", std::string("announcement-") + to_string(kind) + "-sealed", d);
  }
  a.cluster = std::string(64, 'c');
  write("announce", "announcement-longest-cluster", encode_announcement(a));
  probe_datagram p{probe_kind::probe, 1, 2, 99, "lanmesh"};
  auto d = encode_probe(p);
  write("announce", "probe", d);
  net::seal_datagram(d, *ring, now);
  write("announce", "probe-sealed", d);
  p.kind = probe_kind::ack;
  p.cluster = std::string(64, 'p');
  write("announce", "probe-ack-longest-cluster", encode_probe(p));
}

// A script step feeding `b` whole (op 3: u16 length).
bytes feed(const bytes& b) {
  return cat({bytes{3, static_cast<std::uint8_t>(b.size() >> 8),
                    static_cast<std::uint8_t>(b.size() & 0xff)},
              b});
}

void handshakes() {
  using net::link_auth;
  auto ring = fuzz::secret_ring();
  link_auth d(link_auth::role::dialer, ring, 0x1111111111111111);
  link_auth acc(link_auth::role::acceptor, ring, 0x2222222222222222);
  auto auth1 = d.start();
  auto auth2 = acc.feed(auth1.data(), auth1.size()).send;
  bytes mac(32, 0x5a);
  bytes auth3 = cat({bytes{0, 0, 0, 32}, mac});
  // Mode 0, the acceptor: AUTH1, then a wrong AUTH3; then AUTH1 and its own
  // AUTH2's MAC fed back (a reflection); then AUTH1 a byte at a time.
  write("handshake", "acceptor-auth1-auth3", cat({bytes{0}, feed(auth1), feed(auth3)}));
  write("handshake", "acceptor-reflect-mac",
        cat({bytes{0}, feed(auth1), feed(bytes{0, 0, 0, 32}), bytes{1, 57, 32}}));
  bytes slow{0};
  for (auto c : auth1)
    slow.insert(slow.end(), {0, 1, c});
  write("handshake", "acceptor-auth1-bytewise", cat({slow, bytes{2}, feed(auth3)}));
  write("handshake", "acceptor-hello-not-handshake",
        cat({bytes{0}, feed(encode_hello(sample_hello("lanmesh")))}));
  // Mode 1, the dialer: the acceptor's AUTH2 (its MAC over other nonces),
  // and its own AUTH1 fed back.
  write("handshake", "dialer-auth2", cat({bytes{1}, feed(auth2)}));
  write("handshake", "dialer-reflect-auth1", cat({bytes{1}, bytes{1, 0, 57}}));
  // Mode 2, records: honest ones in order, replayed, reordered, cut, and
  // raw bytes right after AUTH3.
  write("handshake", "records-in-order", bytes{2, 2, 0, 2, 1, 2, 2});
  write("handshake", "records-replayed", bytes{2, 2, 0, 2, 0});
  write("handshake", "records-reordered", bytes{2, 2, 1, 2, 0});
  write("handshake", "records-cut", bytes{2, 1, 0, 30, 1, 70, 40});
  write("handshake", "records-raw-after-auth3",
        cat({bytes{2}, feed(cat({bytes{0, 0, 0, 20}, bytes(20, 0)}))}));
  write("handshake", "records-length-over-limit", cat({bytes{2}, feed({0, 1, 0, 17})}));
  // Mode 3: frames as plaintext, sealed and opened in pieces.
  bytes frames =
      cat({encode_hello(sample_hello("lanmesh")), encode_ping({1, 2, 3, 4, 5, 6}),
           encode_broadcast({1, 2, 3, 0, "payload"}),
           encode_tree_frame(frame_type::ihave, ranges(2))});
  write("handshake", "round-trip-frames", cat({bytes{3, 16, 7}, frames}));
  write("handshake", "round-trip-whole", cat({bytes{3, 255, 255}, frames}));
}

void configs(const std::string& source) {
  std::ifstream in(source + "/config/caf-application.conf");
  std::stringstream shipped;
  shipped << in.rdbuf();
  if (shipped.str().empty()) {
    std::cerr << "fuzz_seeds: cannot read " << source << "/config/caf-application.conf\n";
    std::exit(1);
  }
  write("config", "shipped", shipped.str());
  write("config", "shipped-with-caf-groups",
        shipped.str() + "[scheduler]\nmax-threads=2\n[work-stealing]\n"
                        "aggressive-poll-attempts=4\nmoderate-poll-attempts=0\n"
                        "relaxed-sleep-duration=1s\n[logger]\nverbosity='quiet'\n"
                        "[scheduler]\npolicy='sharing'\n");
  write("config", "keys-and-peers",
        "[node]\ncluster=\"a \\\"quoted\\\" ; name\"\nid=\"00ff\"\n"
        "peers=[\"127.0.0.1:50001\", \"localhost:50002\"]\nport-range=\"50000-50100\"\n"
        "[security]\nkeys=[\"" +
            net::generate_key() + "\",\"" + net::generate_key() +
            "\"]\n[metrics]\nlisten=\"localhost:0\"\n[discovery]\ninterface=\"eth0\"\n"
            "group=\"224.0.0.251\"\n");
  write("config", "flood-jsonl-static",
        "[broadcast]\nmode=flood\nhistory-bytes=1024\n[console]\noutput=\"jsonl\"\n"
        "[overlay]\nmanage=false\ntarget-degree=8\nmax-degree=8\nheartbeat=10\n"
        "dead-after=20\n[log]\nlevel=off\nfile=\"/tmp/x.log\"\n");
  write("config", "bad-unknown-key", "[node]\nno-such-key=1\n");
  write("config", "bad-caf-key", "[scheduler]\nmax-threads=\"many\"\n");
  write("config", "bad-caf-unknown", "[scheduler]\nmax-thread=2\n");
  write("config", "bad-header", "[node\ncluster=x\n");
  write("config", "bad-cross-rule", "[node]\nredial-min=9000\nredial-max=10\n");

  // The keys, for libFuzzer's -dict: every key name, groups and values.
  std::string dict;
  auto help = config_help();
  for (std::size_t at = 0; (at = help.find("  --", at)) != std::string::npos;) {
    auto end = help.find("=...", at);
    auto key = help.substr(at + 4, end - at - 4);
    auto dot = key.find('.');
    dict += "\"" + key.substr(dot + 1) + "=\"\n\"[" + key.substr(0, dot) + "]\"\n";
    at = end;
  }
  dict += "\"[scheduler]\"\n\"max-threads=\"\n\"[work-stealing]\"\n\"[logger]\"\n"
          "\"true\"\n\"false\"\n\"127.0.0.1:1\"\n\"239.255.77.77\"\n";
  std::ofstream(out_dir + "/config.dict") << dict;
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: fuzz_seeds OUT_DIR SOURCE_DIR\n";
    return 2;
  }
  out_dir = argv[1];
  ::mkdir(out_dir.c_str(), 0755);
  frames();
  datagrams();
  handshakes();
  configs(argv[2]);
  std::cout << "fuzz_seeds: " << written << " seeds in " << out_dir << "\n";
  return 0;
}
