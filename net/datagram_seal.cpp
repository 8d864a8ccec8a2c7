#include "net/datagram_seal.hpp"

#include <sodium.h>

#include <algorithm>
#include <chrono>
#include <cstring>

namespace lanmesh::net {

const char* to_string(seal_verdict v) {
  switch (v) {
  case seal_verdict::ok:
    return "ok";
  case seal_verdict::missing:
    return "no cluster-key seal";
  case seal_verdict::unknown_key:
    return "sealed with a key not ours";
  case seal_verdict::bad_mac:
    return "bad seal";
  case seal_verdict::stale:
    return "sealed too far from our clock";
  }
  return "?";
}

void seal_datagram(std::vector<std::uint8_t>& d, const keyring& keys,
                   std::uint64_t now_us) {
  if (keys.empty() || !crypto_ready())
    return;
  auto& k = keys.primary();
  for (int i = 7; i >= 0; --i)
    d.push_back(static_cast<std::uint8_t>(now_us >> (8 * i)));
  d.insert(d.end(), k.id.begin(), k.id.end());
  std::uint8_t mac[crypto_auth_BYTES];
  crypto_auth(mac, d.data(), d.size(), k.bytes.data());
  d.insert(d.end(), mac, mac + sizeof(mac));
}

opened_datagram open_datagram(const std::uint8_t* d, std::size_t n, const keyring& keys,
                              std::uint64_t now_us, std::uint64_t max_skew_us) {
  opened_datagram o;
  if (n < seal_size || !crypto_ready())
    return o;
  auto body = n - seal_size;
  std::uint64_t t = 0;
  for (int i = 0; i < 8; ++i)
    t = (t << 8) | d[body + i];
  key_id id;
  std::memcpy(id.data(), d + body + 8, key_id_size);
  auto* k = keys.find(id);
  if (!k) {
    o.verdict = seal_verdict::unknown_key;
    return o;
  }
  if (crypto_auth_verify(d + body + 8 + key_id_size, d, body + 8 + key_id_size,
                         k->bytes.data()) != 0) {
    o.verdict = seal_verdict::bad_mac;
    return o;
  }
  auto skew = t > now_us ? t - now_us : now_us - t;
  if (skew > max_skew_us) {
    o.verdict = seal_verdict::stale;
    return o;
  }
  o.verdict = seal_verdict::ok;
  o.size = body;
  o.time_us = t;
  return o;
}

std::uint64_t seal_clock::next() {
  auto now =
      static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count());
  last_ = std::max(now, last_ + 1);
  return last_;
}

bool replay_window::fresh(std::uint64_t sender, std::uint64_t time_us) {
  auto it = last_.find(sender);
  if (it != last_.end()) {
    if (time_us <= it->second)
      return false;
    it->second = time_us;
    return true;
  }
  if (last_.size() >= max_) {
    auto oldest = std::min_element(last_.begin(), last_.end(),
                                   [](auto& a, auto& b) { return a.second < b.second; });
    last_.erase(oldest);
  }
  last_.emplace(sender, time_us);
  return true;
}

} // namespace lanmesh::net
