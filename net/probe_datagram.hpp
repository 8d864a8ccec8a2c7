#pragma once
// Liveness probe datagrams (UDP, unicast). Sans-IO: bytes in, messages out.
//
//   u32 magic "LMSP" | u8 version | u8 kind | u64 from | u64 to | u64 nonce |
//   u8 cluster length | cluster
//
// A node whose TCP link to a peer has fallen silent asks "are you there?"
// over UDP, directly and through other neighbours (SWIM's indirect probe):
// a datagram does not wait behind a TCP stream stalled by packet loss. The
// prober learns the peer is alive only from an ACK that names the nonce it
// sent. Cluster and both ids let a node ignore probes meant for another.

#include <cstddef>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace lanmesh::wire {

constexpr std::uint32_t probe_magic = 0x4c4d5350; // "LMSP"
constexpr std::uint8_t probe_version = 1;
constexpr std::size_t max_probe_size = 4 + 1 + 1 + 8 + 8 + 8 + 1 + 64;

enum class probe_kind : std::uint8_t { probe = 1, ack = 2 };

struct probe_datagram {
  probe_kind kind = probe_kind::probe;
  std::uint64_t from = 0;
  std::uint64_t to = 0;
  std::uint64_t nonce = 0;
  std::string cluster;
};

enum class probe_error : std::uint8_t {
  oversized,
  truncated,
  bad_magic,
  bad_version,
  bad_kind,
  bad_cluster,
  trailing_bytes
};

const char* to_string(probe_error e);

using probe_result = std::variant<probe_error, probe_datagram>;

probe_result decode_probe(const std::uint8_t* data, std::size_t size);

std::vector<std::uint8_t> encode_probe(const probe_datagram& p);

} // namespace lanmesh::wire
