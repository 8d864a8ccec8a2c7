#pragma once
// Datagrams under the cluster key (discovery and liveness probes), sans-IO.
// With keys, every datagram ends in a trailer: u64 time (us since the Unix
// epoch) | key id | HMAC-SHA-512-256 over the datagram, time and key id.
// A receiver with keys drops a datagram without a trailer, under a key it
// does not hold, with a wrong MAC, or timed too far from its own clock; a
// replay window per sender drops one not newer than the last it took from
// that sender. Forged and replayed announcements thus cost nothing but the
// counter that notes them.

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "net/keyring.hpp"

namespace lanmesh::net {

constexpr std::size_t seal_size = 8 + key_id_size + 32;

/// Appends the trailer, sealed with the keyring's primary key.
void seal_datagram(std::vector<std::uint8_t>& d, const keyring& keys,
                   std::uint64_t now_us);

enum class seal_verdict { ok, missing, unknown_key, bad_mac, stale };
const char* to_string(seal_verdict v);

struct opened_datagram {
  seal_verdict verdict = seal_verdict::missing;
  std::size_t size = 0;      // of the datagram without its trailer
  std::uint64_t time_us = 0; // its sender's clock
};

/// Checks the trailer of `d`; ok: the first `size` bytes are the datagram.
opened_datagram open_datagram(const std::uint8_t* d, std::size_t n, const keyring& keys,
                              std::uint64_t now_us, std::uint64_t max_skew_us = 60000000);

/// Microseconds since the Unix epoch for seals, strictly increasing, so two
/// datagrams of one sender never share a time (the replay window keeps both).
class seal_clock {
public:
  std::uint64_t next();

private:
  std::uint64_t last_ = 0;
};

/// The last time taken from each sender: a datagram not newer is a replay.
/// Bounded: the sender heard of longest ago makes room.
class replay_window {
public:
  explicit replay_window(std::size_t max_senders = 4096) : max_(max_senders) {}
  bool fresh(std::uint64_t sender, std::uint64_t time_us);
  std::size_t size() const { return last_.size(); }

private:
  std::size_t max_;
  std::unordered_map<std::uint64_t, std::uint64_t> last_;
};

} // namespace lanmesh::net
