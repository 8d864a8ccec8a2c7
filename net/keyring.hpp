#pragma once
// The cluster's keys (security.keys): 32 random bytes each, written in
// standard base64 (44 characters). The first key is the primary: it
// authenticates this node's handshakes and seals its datagrams; every key
// is accepted from others, so a cluster rotates keys by rolling restarts
// ([K1,K2] -> [K2,K1] -> [K2]) without a moment where two nodes share none.
// A key is named on the wire only by its id, 8 bytes derived from it: it
// never travels itself. libsodium does every primitive.

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace lanmesh::net {

constexpr std::size_t key_size = 32;
constexpr std::size_t key_id_size = 8;

using key_bytes = std::array<std::uint8_t, key_size>;
using key_id = std::array<std::uint8_t, key_id_size>;

struct cluster_key {
  key_bytes bytes{};
  key_id id{}; // BLAKE2b of the key under a fixed label: names it, reveals nothing
  std::string id_hex() const;
};

/// Starts libsodium once; false if it cannot (then no key can be used).
bool crypto_ready();

/// A new key: 32 random bytes in standard base64.
std::string generate_key();

/// Parses one key in standard base64; nullopt unless it is 32 bytes exactly.
std::optional<cluster_key> parse_key(const std::string& base64);

/// The keys of a node, the primary first. Immutable: a change of keys at run
/// time makes a new keyring (sessions keep the one they started with).
class keyring {
public:
  keyring() = default;
  explicit keyring(std::vector<cluster_key> keys) : keys_(std::move(keys)) {}
  bool empty() const { return keys_.empty(); }
  const cluster_key& primary() const { return keys_.front(); }
  const cluster_key* find(const key_id& id) const;
  const std::vector<cluster_key>& keys() const { return keys_; }

private:
  std::vector<cluster_key> keys_;
};

using keyring_ptr = std::shared_ptr<const keyring>;

} // namespace lanmesh::net

namespace lanmesh::net {

/// The node's current keyring, read by every thread, replaced at run time
/// (`lanmesh keys`): readers take a snapshot, a writer swaps the pointer.
class keyring_holder {
public:
  explicit keyring_holder(keyring_ptr k = std::make_shared<const keyring>())
      : k_(std::move(k)) {}
  keyring_ptr get() const { return std::atomic_load(&k_); }
  void set(keyring_ptr k) { std::atomic_store(&k_, std::move(k)); }

private:
  keyring_ptr k_;
};

} // namespace lanmesh::net
