#pragma once
// Discovery datagrams (UDP multicast). Sans-IO: bytes in, messages out.
//
// Every datagram is one message:
//   u32 magic "LMSD" | u8 version | u8 kind | u8 cluster length | cluster |
//   u64 node id | u16 TCP listen port | u16 links in | u16 links out | u16 capacity
// Kinds: ANNOUNCE (periodic, to the group, only while the node has capacity),
// QUERY (a newcomer asks the group who is there), ANSWER (sent back to the
// querier's own socket, not to the group). The receiver takes the sender's
// address from the datagram's source, never from the body. Magic, version and
// cluster let a node ignore strangers on the same group and port.

#include <cstddef>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace lanmesh::wire {

constexpr std::uint32_t announce_magic = 0x4c4d5344; // "LMSD"
constexpr std::uint8_t announce_version = 1;
/// No valid datagram is longer: a longer one is rejected unread.
constexpr std::size_t max_announce_size = 4 + 1 + 1 + 1 + 64 + 8 + 2 * 4;

enum class announce_kind : std::uint8_t { announce = 1, query = 2, answer = 3 };

const char* to_string(announce_kind k);

struct announcement {
  announce_kind kind = announce_kind::announce;
  std::string cluster;
  std::uint64_t node = 0;
  std::uint16_t port = 0;
  std::uint16_t links_in = 0;
  std::uint16_t links_out = 0;
  std::uint16_t capacity = 0; // how many more links this node accepts
};

enum class announce_error : std::uint8_t {
  oversized,
  truncated,
  bad_magic,
  bad_version,
  bad_kind,
  bad_cluster, // empty or over 64 bytes
  trailing_bytes,
};

const char* to_string(announce_error e);

using announce_result = std::variant<announce_error, announcement>;

announce_result decode_announcement(const std::uint8_t* data, std::size_t size);

std::vector<std::uint8_t> encode_announcement(const announcement& a);

} // namespace lanmesh::wire
