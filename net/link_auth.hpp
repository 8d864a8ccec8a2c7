#pragma once
// A link's cluster-key handshake and its sealed records, sans-IO: bytes in,
// bytes out, no sockets (net/tcp_session runs them; tests and the fuzzer
// drive them directly).
//
// Handshake (before HELLO, both ends holding keyrings):
//   dialer   -> AUTH1: magic "LMSA", version, key id, nonce_d (32 random
//                      bytes), the dialer's node id
//   acceptor -> AUTH2: magic, version, key id, nonce_a, the acceptor's node
//                      id, mac_a = HMAC(K, "A" | transcript)
//   dialer   -> AUTH3: mac_d = HMAC(K, "D" | transcript)
// where K is the key the dialer named (the acceptor must hold it) and the
// transcript is key id | nonce_d | nonce_a | id_d | id_a. Each side proves
// it holds K over nonces the other chose fresh, so a recorded handshake
// replayed gets nowhere; K never crosses the wire. Each direction then has
// a key of its own, BLAKE2b keyed by K over a label and the transcript.
//
// Records: after the handshake the byte stream each way is cut into records
// of at most 64 KiB: u32 length (big-endian) | ChaCha20-Poly1305 (IETF)
// ciphertext and tag, the nonce a counter of the direction's records. The
// frames inside are the plain frames of net/wire. A tampered, reordered,
// replayed or cut record fails its tag: the link closes.
//
// HMAC-SHA-512-256 (crypto_auth) proves the key, BLAKE2b (crypto_generichash)
// derives the link's keys, ChaCha20-Poly1305 (crypto_aead_chacha20poly1305_ietf)
// seals and authenticates every frame.

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "net/keyring.hpp"

namespace lanmesh::net {

/// Sealed records each way after a handshake.
class link_cipher {
public:
  static constexpr std::size_t max_record = 65536; // plaintext bytes a record may hold
  /// What this side puts in one record: well under a 64 KiB socket read, so
  /// a read holds whole records and the frames of each are taken at once
  /// (records of 64 KiB always straddled two reads: their frames waited for
  /// the second, and the rest of every read was moved to the buffer's front).
  static constexpr std::size_t seal_record = 16384;
  static constexpr std::size_t tag_size = 16;

  link_cipher() = default;
  link_cipher(const key_bytes& send_key, const key_bytes& recv_key)
      : send_key_(send_key), recv_key_(recv_key) {}

  /// Seals `size` bytes of the stream into records appended to `out`.
  void seal(const std::uint8_t* data, std::size_t size, std::vector<std::uint8_t>& out);

  enum class opened { ok, bad };
  /// Opens every whole record at the front of `in` (and removes them),
  /// appending their plaintext to `plain`. `bad`: a record failed its tag
  /// or its length is impossible; the link must close.
  opened open(std::vector<std::uint8_t>& in, std::vector<std::uint8_t>& plain);

private:
  key_bytes send_key_{}, recv_key_{};
  std::uint64_t sent_ = 0, received_ = 0;
};

class link_auth {
public:
  enum class role { dialer, acceptor };
  struct outcome {
    enum what_t { more, done, failed } what = more;
    std::vector<std::uint8_t> send; // to write now (also when failed: nothing)
    std::string reason;             // failed: why, for the log
  };

  link_auth(role r, keyring_ptr keys, std::uint64_t self_id);

  /// What the dialer sends first (AUTH1); nothing for the acceptor.
  std::vector<std::uint8_t> start();
  /// Bytes from the peer. Consumes what the handshake needs; once done, the
  /// bytes after the handshake are in `rest()` (the first records).
  outcome feed(const std::uint8_t* data, std::size_t size);

  std::vector<std::uint8_t> take_rest() { return std::move(buf_); }
  link_cipher cipher() const { return cipher_; }
  /// The node id the peer authenticated with (its HELLO must say the same).
  std::uint64_t peer_id() const { return peer_id_; }
  const std::string& key_id_hex() const { return key_hex_; }

  static constexpr std::size_t nonce_size = 32;
  static constexpr std::size_t mac_size = 32;
  /// Largest handshake message: a longer length prefix is an attack or noise.
  static constexpr std::size_t max_message = 128;

private:
  outcome fail(std::string why);
  bool message(std::vector<std::uint8_t>& body); // a whole length-prefixed message
  std::array<std::uint8_t, 32> mac(char label) const;
  void derive();

  role role_;
  keyring_ptr keys_;
  std::uint64_t self_;
  int step_ = 0;
  const cluster_key* key_ = nullptr;
  std::array<std::uint8_t, nonce_size> nonce_d_{}, nonce_a_{};
  std::uint64_t id_d_ = 0, id_a_ = 0, peer_id_ = 0;
  std::vector<std::uint8_t> buf_;
  link_cipher cipher_;
  std::string key_hex_;
};

} // namespace lanmesh::net
