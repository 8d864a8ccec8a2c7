// Fuzz target `handshake`: the cluster-key handshake and the sealed records
// of a link (net/link_auth), both roles, as net/tcp_session drives them. The
// keys are random bytes drawn at start (fuzz_common.hpp), so the fuzzer can
// never hold a proof or a record tag: whatever of its bytes is taken as
// authenticated is a forgery, and the target crashes on it.
//
// The first byte picks the mode:
//   0  acceptor: the input is a script of the dialer's bytes (AUTH1, AUTH3);
//   1  dialer (after its AUTH1): a script of the acceptor's bytes (AUTH2);
//   2  records: after an honest handshake, a script of bytes the acceptor
//      reads as records (the first piece right after AUTH3, in the same
//      read); the script may also replay, reorder and cut honest records:
//      what comes out must be a prefix of the honest plaintext;
//   3  round trip: the rest of the input is plaintext the dialer seals in
//      pieces and the acceptor opens in other pieces: it must come out
//      whole and the same, then goes to the frame reader as a link's would.
// A script is a list of steps, each `op` then its operands: op&3 = 0: feed
// u8 n and n bytes; 1: feed back a slice (u8 offset, u8 n) of what the
// side under test sent (mode 2: of the honest records); 2: feed nothing
// (mode 2: the honest record u8 i % 3); 3: feed u16 n and n bytes.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_common.hpp"
#include "net/link_auth.hpp"
#include "net/wire.hpp"

using namespace lanmesh;
using namespace lanmesh::net;
using bytes = std::vector<std::uint8_t>;

namespace {

constexpr std::uint64_t dialer_id = 0x1111111111111111;
constexpr std::uint64_t acceptor_id = 0x2222222222222222;

// The next piece of a script: bytes to feed (possibly none); false at its end.
bool next_piece(fuzz::input& in, const bytes& echo_source, bytes& piece, int& op_kind) {
  if (in.empty())
    return false;
  auto op = in.u8();
  op_kind = op & 3;
  piece.clear();
  switch (op_kind) {
  case 0:
    piece = in.take(in.u8());
    break;
  case 1: {
    std::size_t off = in.u8(), n = in.u8();
    if (off < echo_source.size()) {
      n = std::min(n, echo_source.size() - off);
      piece.assign(echo_source.begin() + static_cast<long>(off),
                   echo_source.begin() + static_cast<long>(off + n));
    }
    break;
  }
  case 2:
    break;
  default:
    piece = in.take(in.u16());
    break;
  }
  return true;
}

// One side of a handshake against the script: it must never be done.
void against_script(link_auth::role role, fuzz::input& in) {
  link_auth side(role, fuzz::secret_ring(),
                 role == link_auth::role::dialer ? dialer_id : acceptor_id);
  bytes sent = side.start();
  if (role == link_auth::role::dialer)
    FUZZ_CHECK(sent.size() == 4 + 4 + 1 + key_id_size + link_auth::nonce_size + 8);
  else
    FUZZ_CHECK(sent.empty());
  bool failed = false;
  bytes piece;
  int kind = 0;
  while (next_piece(in, sent, piece, kind)) {
    auto o = side.feed(piece.data(), piece.size());
    FUZZ_CHECK(o.what != link_auth::outcome::done); // a proof without the key
    if (failed) {
      FUZZ_CHECK(o.what == link_auth::outcome::failed); // failed stays failed
      FUZZ_CHECK(o.send.empty());
    }
    if (o.what == link_auth::outcome::failed) {
      FUZZ_CHECK(!o.reason.empty());
      FUZZ_CHECK(o.send.empty());
      failed = true;
    }
    if (!o.send.empty()) {
      // Only the acceptor answers before it is done: AUTH2, once.
      FUZZ_CHECK(role == link_auth::role::acceptor);
      FUZZ_CHECK(sent.empty());
      FUZZ_CHECK(o.send.size() == 4 + 4 + 1 + key_id_size + link_auth::nonce_size + 8 +
                                      link_auth::mac_size);
      sent = o.send;
    }
  }
}

struct linked {
  link_cipher dialer, acceptor;
  bytes rest; // what the acceptor read after AUTH3
};

// An honest handshake; `after` travels in the same read as AUTH3.
linked honest(const bytes& after) {
  link_auth d(link_auth::role::dialer, fuzz::secret_ring(), dialer_id);
  link_auth a(link_auth::role::acceptor, fuzz::secret_ring(), acceptor_id);
  auto auth1 = d.start();
  auto o1 = a.feed(auth1.data(), auth1.size());
  FUZZ_CHECK(o1.what == link_auth::outcome::more && !o1.send.empty());
  auto o2 = d.feed(o1.send.data(), o1.send.size());
  FUZZ_CHECK(o2.what == link_auth::outcome::done && !o2.send.empty());
  FUZZ_CHECK(d.peer_id() == acceptor_id);
  bytes auth3 = o2.send;
  auth3.insert(auth3.end(), after.begin(), after.end());
  auto o3 = a.feed(auth3.data(), auth3.size());
  FUZZ_CHECK(o3.what == link_auth::outcome::done && o3.send.empty());
  FUZZ_CHECK(a.peer_id() == dialer_id);
  FUZZ_CHECK(d.take_rest().empty());
  return {d.cipher(), a.cipher(), a.take_rest()};
}

bool is_prefix(const bytes& a, const bytes& of) {
  return a.size() <= of.size() && std::equal(a.begin(), a.end(), of.begin());
}

// Mode 2: records from the script, honest ones among them.
void records(fuzz::input& in) {
  // The script first: its honest pieces name records sealed only once the
  // handshake has drawn its nonces, so they are resolved after it.
  struct step {
    int kind;
    bytes raw;             // kinds 0 and 3
    std::size_t off, n, i; // kind 1: a slice of all records; kind 2: record i
  };
  std::vector<step> script;
  while (!in.empty()) {
    step s{in.u8() & 3, {}, 0, 0, 0};
    if (s.kind == 0)
      s.raw = in.take(in.u8());
    else if (s.kind == 1) {
      s.off = in.u8();
      s.n = in.u8();
    } else if (s.kind == 2)
      s.i = in.u8() % 3;
    else
      s.raw = in.take(in.u16());
    script.push_back(std::move(s));
  }
  // A raw first piece arrives in the same read as AUTH3 (link_auth's rest).
  bytes after;
  std::size_t start = 0;
  if (!script.empty() && (script[0].kind == 0 || script[0].kind == 3)) {
    after = script[0].raw;
    start = 1;
  }
  auto link = honest(after);

  const bytes plain[3] = {bytes(40, 'a'), bytes(1, 'b'), bytes(300, 'c')};
  bytes honest_plain, recs[3], all;
  for (int i = 0; i < 3; ++i) {
    honest_plain.insert(honest_plain.end(), plain[i].begin(), plain[i].end());
    link.dialer.seal(plain[i].data(), plain[i].size(), recs[i]); // records 0, 1, 2
    all.insert(all.end(), recs[i].begin(), recs[i].end());
  }
  bytes got, inbox = link.rest;
  bool bad = link.acceptor.open(inbox, got) == link_cipher::opened::bad;
  FUZZ_CHECK(is_prefix(got, honest_plain));
  for (std::size_t i = start; i < script.size() && !bad; ++i) {
    auto& s = script[i];
    bytes piece = s.raw;
    if (s.kind == 1 && s.off < all.size())
      piece.assign(all.begin() + static_cast<long>(s.off),
                   all.begin() +
                       static_cast<long>(s.off + std::min(s.n, all.size() - s.off)));
    else if (s.kind == 2)
      piece = recs[s.i];
    inbox.insert(inbox.end(), piece.begin(), piece.end());
    bad = link.acceptor.open(inbox, got) == link_cipher::opened::bad;
    // Nothing forged, replayed, reordered or cut gets through.
    FUZZ_CHECK(is_prefix(got, honest_plain));
    if (!bad)
      FUZZ_CHECK(inbox.size() < 4 + link_cipher::max_record + link_cipher::tag_size);
  }
}

// Mode 3: plaintext sealed and opened in pieces.
void round_trip(fuzz::input& in) {
  std::size_t seal_step = in.u8() + 1, open_step = in.u8() + 1;
  auto plain = in.rest();
  auto link = honest({});
  bytes sealed;
  for (std::size_t at = 0; at < plain.size(); at += seal_step)
    link.dialer.seal(plain.data() + at, std::min(seal_step, plain.size() - at), sealed);
  bytes inbox, got;
  for (std::size_t at = 0; at < sealed.size(); at += open_step) {
    auto n = std::min(open_step, sealed.size() - at);
    inbox.insert(inbox.end(), sealed.begin() + static_cast<long>(at),
                 sealed.begin() + static_cast<long>(at + n));
    FUZZ_CHECK(link.acceptor.open(inbox, got) == link_cipher::opened::ok);
  }
  FUZZ_CHECK(inbox.empty());
  FUZZ_CHECK(got == plain);
  // What a link does with it next.
  wire::frame_reader reader(wire::max_frame_for_payload(65536),
                            wire::broadcast_frame_limit(65536));
  reader.feed(got.data(), got.size());
  bytes raw;
  std::size_t raw_frames = 0;
  for (int i = 0; i < 1000; ++i) {
    auto v = reader.next(raw, raw_frames);
    if (!std::holds_alternative<wire::frame>(v))
      break;
  }
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  lanmesh::fuzz::forbid_sockets();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::input in(data, size);
  switch (in.u8() % 4) {
  case 0:
    against_script(link_auth::role::acceptor, in);
    break;
  case 1:
    against_script(link_auth::role::dialer, in);
    break;
  case 2:
    records(in);
    break;
  default:
    round_trip(in);
    break;
  }
  return 0;
}
