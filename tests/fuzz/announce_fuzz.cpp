// Fuzz target `announce`: the datagrams (net/announce: discovery; net/
// probe_datagram: liveness probes; net/datagram_seal: their cluster-key
// trailer and replay window). The input is one datagram as a socket reads
// it, sealed or not; each is tried every way a node reads datagrams:
//
//  - decode_announcement() and decode_probe(): anything taken re-encodes
//    byte for byte to the datagram (one encoding per message);
//  - open_datagram() under the secret keys (fuzz_common.hpp): never ok,
//    since the fuzzer cannot make a MAC; then, as actors/discovery does,
//    the datagram sealed honestly at a time from the input and opened: ok,
//    the same bytes, decoded as above; a replay of it is refused by the
//    replay window, and one byte changed breaks the seal.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "fuzz_common.hpp"
#include "net/announce.hpp"
#include "net/datagram_seal.hpp"
#include "net/probe_datagram.hpp"

using namespace lanmesh;
using bytes = std::vector<std::uint8_t>;

namespace {

void decode_all(const std::uint8_t* data, std::size_t size) {
  auto a = wire::decode_announcement(data, size);
  if (auto* ann = std::get_if<wire::announcement>(&a)) {
    FUZZ_CHECK(!ann->cluster.empty() && ann->cluster.size() <= 64);
    FUZZ_CHECK(wire::encode_announcement(*ann) == bytes(data, data + size));
    FUZZ_CHECK(size <= wire::max_announce_size);
  } else {
    FUZZ_CHECK(wire::to_string(std::get<wire::announce_error>(a)) !=
               std::string("unknown"));
  }
  auto p = wire::decode_probe(data, size);
  if (auto* probe = std::get_if<wire::probe_datagram>(&p)) {
    FUZZ_CHECK(!probe->cluster.empty() && probe->cluster.size() <= 64);
    FUZZ_CHECK(wire::encode_probe(*probe) == bytes(data, data + size));
  } else {
    FUZZ_CHECK(wire::to_string(std::get<wire::probe_error>(p)) != std::string("unknown"));
  }
}

std::uint64_t be64(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i)
    v = (v << 8) | p[i];
  return v;
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  lanmesh::fuzz::forbid_sockets();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto ring = fuzz::secret_ring();
  decode_all(data, size);

  // As received with keys: the fuzzer's own trailer never passes. The time
  // the receiver takes as now: the trailer's own, when it has one, so that
  // only the MAC stands in the way.
  std::uint64_t now = 1700000000000000;
  if (size >= net::seal_size)
    now = be64(data + size - net::seal_size);
  auto o = net::open_datagram(data, size, *ring, now);
  FUZZ_CHECK(o.verdict != net::seal_verdict::ok);
  FUZZ_CHECK(net::to_string(o.verdict) != std::string("?"));

  // Sealed honestly (as a node sends it), then opened.
  bytes sealed(data, data + size);
  net::seal_datagram(sealed, *ring, now);
  FUZZ_CHECK(sealed.size() == size + net::seal_size);
  auto ok = net::open_datagram(sealed.data(), sealed.size(), *ring, now);
  FUZZ_CHECK(ok.verdict == net::seal_verdict::ok && ok.size == size && ok.time_us == now);
  decode_all(sealed.data(), ok.size);
  // Too far from the receiver's clock.
  auto late = net::open_datagram(sealed.data(), sealed.size(), *ring, now + 60000001);
  FUZZ_CHECK(late.verdict == net::seal_verdict::stale);
  // One byte changed (which one, a function of the input).
  if (!sealed.empty()) {
    auto at = (size * 7 + (size ? data[0] : 0)) % sealed.size();
    sealed[at] ^= 0x01;
    auto bad = net::open_datagram(sealed.data(), sealed.size(), *ring, now);
    FUZZ_CHECK(bad.verdict != net::seal_verdict::ok);
  }

  // The replay window, fed senders and times from the input.
  net::replay_window window(4);
  std::vector<std::pair<std::uint64_t, std::uint64_t>> taken;
  for (std::size_t at = 0; at + 3 <= size; at += 3) {
    std::uint64_t sender = data[at] % 8,
                  t = (std::uint64_t{data[at + 1]} << 8) | data[at + 2];
    bool fresh = window.fresh(sender, t);
    FUZZ_CHECK(window.size() <= 4);
    if (fresh)
      FUZZ_CHECK(!window.fresh(sender, t)); // the same again is a replay
  }
  return 0;
}
