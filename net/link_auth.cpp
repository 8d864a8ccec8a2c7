#include "net/link_auth.hpp"

#include <sodium.h>

#include <cstring>

namespace lanmesh::net {

namespace {

constexpr std::uint32_t auth_magic = 0x4c4d5341; // "LMSA"
constexpr std::uint8_t auth_version = 1;

void put_be(std::vector<std::uint8_t>& out, std::uint64_t v, int n) {
  for (int i = n - 1; i >= 0; --i)
    out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

std::uint64_t get_be(const std::uint8_t* p, int n) {
  std::uint64_t v = 0;
  for (int i = 0; i < n; ++i)
    v = (v << 8) | p[i];
  return v;
}

// A length-prefixed handshake message.
std::vector<std::uint8_t> framed(const std::vector<std::uint8_t>& body) {
  std::vector<std::uint8_t> out;
  put_be(out, body.size(), 4);
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

void nonce_of(std::uint64_t counter, unsigned char* nonce) {
  std::memset(nonce, 0, crypto_aead_chacha20poly1305_IETF_NPUBBYTES);
  for (int i = 0; i < 8; ++i)
    nonce[4 + i] = static_cast<unsigned char>(counter >> (8 * (7 - i)));
}

} // namespace

void link_cipher::seal(const std::uint8_t* data, std::size_t size,
                       std::vector<std::uint8_t>& out) {
  while (size > 0) {
    auto n = std::min(size, seal_record);
    auto at = out.size();
    out.resize(at + 4 + n + tag_size);
    auto len = static_cast<std::uint32_t>(n + tag_size);
    for (int i = 0; i < 4; ++i)
      out[at + i] = static_cast<std::uint8_t>(len >> (8 * (3 - i)));
    unsigned char nonce[crypto_aead_chacha20poly1305_IETF_NPUBBYTES];
    nonce_of(sent_++, nonce);
    unsigned long long clen = 0;
    crypto_aead_chacha20poly1305_ietf_encrypt(out.data() + at + 4, &clen, data, n,
                                              nullptr, 0, nullptr, nonce,
                                              send_key_.data());
    data += n;
    size -= n;
  }
}

link_cipher::opened link_cipher::open(std::vector<std::uint8_t>& in,
                                      std::vector<std::uint8_t>& plain) {
  std::size_t pos = 0;
  while (in.size() - pos >= 4) {
    auto len = static_cast<std::size_t>(get_be(in.data() + pos, 4));
    if (len < tag_size || len > max_record + tag_size)
      return opened::bad;
    if (in.size() - pos < 4 + len)
      break;
    auto at = plain.size();
    plain.resize(at + len - tag_size);
    unsigned char nonce[crypto_aead_chacha20poly1305_IETF_NPUBBYTES];
    nonce_of(received_++, nonce);
    unsigned long long mlen = 0;
    if (crypto_aead_chacha20poly1305_ietf_decrypt(plain.data() + at, &mlen, nullptr,
                                                  in.data() + pos + 4, len, nullptr, 0,
                                                  nonce, recv_key_.data()) != 0) {
      plain.resize(at); // nothing of a record that failed its tag
      return opened::bad;
    }
    pos += 4 + len;
  }
  in.erase(in.begin(), in.begin() + static_cast<long>(pos));
  return opened::ok;
}

link_auth::link_auth(role r, keyring_ptr keys, std::uint64_t self_id)
    : role_(r), keys_(std::move(keys)), self_(self_id) {
  crypto_ready();
}

link_auth::outcome link_auth::fail(std::string why) {
  step_ = -1;
  outcome o;
  o.what = outcome::failed;
  o.reason = std::move(why);
  return o;
}

std::vector<std::uint8_t> link_auth::start() {
  if (role_ != role::dialer || !keys_ || keys_->empty())
    return {};
  key_ = &keys_->primary();
  key_hex_ = key_->id_hex();
  randombytes_buf(nonce_d_.data(), nonce_d_.size());
  id_d_ = self_;
  std::vector<std::uint8_t> body;
  put_be(body, auth_magic, 4);
  body.push_back(auth_version);
  body.insert(body.end(), key_->id.begin(), key_->id.end());
  body.insert(body.end(), nonce_d_.begin(), nonce_d_.end());
  put_be(body, id_d_, 8);
  step_ = 1;
  return framed(body);
}

bool link_auth::message(std::vector<std::uint8_t>& body) {
  if (buf_.size() < 4)
    return false;
  auto len = static_cast<std::size_t>(get_be(buf_.data(), 4));
  if (buf_.size() < 4 + len)
    return false;
  body.assign(buf_.begin() + 4, buf_.begin() + 4 + static_cast<long>(len));
  buf_.erase(buf_.begin(), buf_.begin() + 4 + static_cast<long>(len));
  return true;
}

std::array<std::uint8_t, 32> link_auth::mac(char label) const {
  std::vector<std::uint8_t> t{static_cast<std::uint8_t>(label)};
  t.insert(t.end(), key_->id.begin(), key_->id.end());
  t.insert(t.end(), nonce_d_.begin(), nonce_d_.end());
  t.insert(t.end(), nonce_a_.begin(), nonce_a_.end());
  put_be(t, id_d_, 8);
  put_be(t, id_a_, 8);
  std::array<std::uint8_t, 32> out;
  crypto_auth(out.data(), t.data(), t.size(), key_->bytes.data());
  return out;
}

void link_auth::derive() {
  auto one = [&](const char* label) {
    std::vector<std::uint8_t> t(label, label + std::strlen(label));
    t.insert(t.end(), nonce_d_.begin(), nonce_d_.end());
    t.insert(t.end(), nonce_a_.begin(), nonce_a_.end());
    put_be(t, id_d_, 8);
    put_be(t, id_a_, 8);
    key_bytes k;
    crypto_generichash(k.data(), k.size(), t.data(), t.size(), key_->bytes.data(),
                       key_->bytes.size());
    return k;
  };
  auto d2a = one("lanmesh link d->a v1");
  auto a2d = one("lanmesh link a->d v1");
  cipher_ = role_ == role::dialer ? link_cipher(d2a, a2d) : link_cipher(a2d, d2a);
}

link_auth::outcome link_auth::feed(const std::uint8_t* data, std::size_t size) {
  if (step_ < 0)
    return fail("authentication already failed");
  buf_.insert(buf_.end(), data, data + size);
  // A length prefix beyond any handshake message is not a handshake: a peer
  // without a key (its HELLO), another protocol, or noise.
  if (buf_.size() >= 4 && get_be(buf_.data(), 4) > max_message)
    return fail("not a cluster-key handshake (the peer may have no key)");
  std::vector<std::uint8_t> body;
  outcome o;
  if (!keys_ || keys_->empty())
    return fail("no key");
  if (role_ == role::acceptor && step_ == 0) {
    if (!message(body))
      return o;
    if (body.size() != 4 + 1 + key_id_size + nonce_size + 8 ||
        get_be(body.data(), 4) != auth_magic || body[4] != auth_version)
      return fail("not a cluster-key handshake (the peer may have no key)");
    key_id id;
    std::memcpy(id.data(), body.data() + 5, key_id_size);
    key_ = keys_->find(id);
    if (!key_) {
      cluster_key unknown;
      unknown.id = id;
      return fail("the peer's key is not one of ours (key id " + unknown.id_hex() + ")");
    }
    key_hex_ = key_->id_hex();
    std::memcpy(nonce_d_.data(), body.data() + 5 + key_id_size, nonce_size);
    id_d_ = get_be(body.data() + 5 + key_id_size + nonce_size, 8);
    peer_id_ = id_d_;
    id_a_ = self_;
    randombytes_buf(nonce_a_.data(), nonce_a_.size());
    std::vector<std::uint8_t> reply;
    put_be(reply, auth_magic, 4);
    reply.push_back(auth_version);
    reply.insert(reply.end(), key_->id.begin(), key_->id.end());
    reply.insert(reply.end(), nonce_a_.begin(), nonce_a_.end());
    put_be(reply, id_a_, 8);
    auto m = mac('A');
    reply.insert(reply.end(), m.begin(), m.end());
    // An honest dialer cannot send its proof before it has our nonce: bytes
    // already behind AUTH1 are a recorded handshake played back.
    if (!buf_.empty())
      return fail("the peer sent a proof before our challenge (a replayed handshake)");
    o.send = framed(reply);
    step_ = 2;
    return o;
  }
  if (role_ == role::dialer && step_ == 1) {
    if (!message(body))
      return o;
    if (body.size() != 4 + 1 + key_id_size + nonce_size + 8 + mac_size ||
        get_be(body.data(), 4) != auth_magic || body[4] != auth_version ||
        std::memcmp(body.data() + 5, key_->id.data(), key_id_size) != 0)
      return fail("not a cluster-key handshake (the peer may have no key)");
    std::memcpy(nonce_a_.data(), body.data() + 5 + key_id_size, nonce_size);
    id_a_ = get_be(body.data() + 5 + key_id_size + nonce_size, 8);
    peer_id_ = id_a_;
    auto want = mac('A');
    if (sodium_memcmp(want.data(), body.data() + 5 + key_id_size + nonce_size + 8,
                      mac_size) != 0)
      return fail("the peer does not hold the key it named (bad proof)");
    auto m = mac('D');
    std::vector<std::uint8_t> reply(m.begin(), m.end());
    o.send = framed(reply);
    derive();
    step_ = 3;
    o.what = outcome::done;
    return o;
  }
  if (role_ == role::acceptor && step_ == 2) {
    if (!message(body))
      return o;
    auto want = mac('D');
    if (body.size() != mac_size || sodium_memcmp(want.data(), body.data(), mac_size) != 0)
      return fail("the peer's proof is wrong (another key, or a replayed handshake)");
    derive();
    step_ = 3;
    o.what = outcome::done;
    return o;
  }
  return fail("handshake out of order");
}

} // namespace lanmesh::net
