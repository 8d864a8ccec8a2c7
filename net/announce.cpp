#include "net/announce.hpp"

namespace lanmesh::wire {

const char* to_string(announce_kind k) {
  switch (k) {
  case announce_kind::announce:
    return "announce";
  case announce_kind::query:
    return "query";
  case announce_kind::answer:
    return "answer";
  }
  return "unknown";
}

const char* to_string(announce_error e) {
  switch (e) {
  case announce_error::oversized:
    return "oversized";
  case announce_error::truncated:
    return "truncated";
  case announce_error::bad_magic:
    return "bad_magic";
  case announce_error::bad_version:
    return "bad_version";
  case announce_error::bad_kind:
    return "bad_kind";
  case announce_error::bad_cluster:
    return "bad_cluster";
  case announce_error::trailing_bytes:
    return "trailing_bytes";
  }
  return "unknown";
}

announce_result decode_announcement(const std::uint8_t* p, std::size_t n) {
  if (n > max_announce_size)
    return announce_error::oversized;
  std::size_t off = 0;
  auto take = [&](std::size_t k, std::uint64_t& v) {
    if (k > n - off)
      return false;
    v = 0;
    for (std::size_t i = 0; i < k; ++i)
      v = (v << 8) | p[off + i];
    off += k;
    return true;
  };
  std::uint64_t magic = 0, version = 0, kind = 0, len = 0;
  if (!take(4, magic))
    return announce_error::truncated;
  if (magic != announce_magic)
    return announce_error::bad_magic;
  if (!take(1, version) || !take(1, kind) || !take(1, len))
    return announce_error::truncated;
  if (version != announce_version)
    return announce_error::bad_version;
  if (kind < 1 || kind > 3)
    return announce_error::bad_kind;
  if (len == 0 || len > 64)
    return announce_error::bad_cluster;
  if (len > n - off)
    return announce_error::truncated;
  announcement a;
  a.kind = static_cast<announce_kind>(kind);
  a.cluster.assign(reinterpret_cast<const char*>(p + off), len);
  off += len;
  std::uint64_t node = 0, port = 0, in = 0, out = 0, cap = 0;
  if (!take(8, node) || !take(2, port) || !take(2, in) || !take(2, out) || !take(2, cap))
    return announce_error::truncated;
  if (off != n)
    return announce_error::trailing_bytes;
  a.node = node;
  a.port = static_cast<std::uint16_t>(port);
  a.links_in = static_cast<std::uint16_t>(in);
  a.links_out = static_cast<std::uint16_t>(out);
  a.capacity = static_cast<std::uint16_t>(cap);
  return a;
}

std::vector<std::uint8_t> encode_announcement(const announcement& a) {
  std::vector<std::uint8_t> out;
  out.reserve(max_announce_size);
  auto put = [&](std::uint64_t v, int k) {
    for (int i = k - 1; i >= 0; --i)
      out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  };
  auto cluster = a.cluster.substr(0, 64);
  put(announce_magic, 4);
  put(announce_version, 1);
  put(static_cast<std::uint8_t>(a.kind), 1);
  put(cluster.size(), 1);
  out.insert(out.end(), cluster.begin(), cluster.end());
  put(a.node, 8);
  put(a.port, 2);
  put(a.links_in, 2);
  put(a.links_out, 2);
  put(a.capacity, 2);
  return out;
}

} // namespace lanmesh::wire
