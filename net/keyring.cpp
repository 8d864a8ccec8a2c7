#include "net/keyring.hpp"

#include <sodium.h>

#include <cstring>

namespace lanmesh::net {

bool crypto_ready() {
  static const bool ok = sodium_init() >= 0;
  return ok;
}

std::string cluster_key::id_hex() const {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (auto b : id) {
    out += digits[b >> 4];
    out += digits[b & 0xf];
  }
  return out;
}

std::string generate_key() {
  crypto_ready();
  key_bytes k;
  randombytes_buf(k.data(), k.size());
  char b64[sodium_base64_ENCODED_LEN(key_size, sodium_base64_VARIANT_ORIGINAL)];
  sodium_bin2base64(b64, sizeof(b64), k.data(), k.size(), sodium_base64_VARIANT_ORIGINAL);
  sodium_memzero(k.data(), k.size());
  return b64;
}

std::optional<cluster_key> parse_key(const std::string& base64) {
  if (!crypto_ready() || base64.size() != 44)
    return std::nullopt;
  cluster_key k;
  std::size_t len = 0;
  if (sodium_base642bin(k.bytes.data(), k.bytes.size(), base64.data(), base64.size(),
                        nullptr, &len, nullptr, sodium_base64_VARIANT_ORIGINAL) != 0 ||
      len != key_size)
    return std::nullopt;
  static const char label[] = "lanmesh key id v1";
  std::array<std::uint8_t, crypto_generichash_BYTES_MIN> h;
  crypto_generichash(h.data(), h.size(), reinterpret_cast<const unsigned char*>(label),
                     sizeof(label) - 1, k.bytes.data(), k.bytes.size());
  std::memcpy(k.id.data(), h.data(), key_id_size);
  return k;
}

const cluster_key* keyring::find(const key_id& id) const {
  for (auto& k : keys_)
    if (sodium_memcmp(k.id.data(), id.data(), key_id_size) == 0)
      return &k;
  return nullptr;
}

} // namespace lanmesh::net
