#include "net/probe_datagram.hpp"

namespace lanmesh::wire {

const char* to_string(probe_error e) {
  switch (e) {
  case probe_error::oversized:
    return "oversized";
  case probe_error::truncated:
    return "truncated";
  case probe_error::bad_magic:
    return "bad_magic";
  case probe_error::bad_version:
    return "bad_version";
  case probe_error::bad_kind:
    return "bad_kind";
  case probe_error::bad_cluster:
    return "bad_cluster";
  case probe_error::trailing_bytes:
    return "trailing_bytes";
  }
  return "unknown";
}

probe_result decode_probe(const std::uint8_t* data, std::size_t size) {
  if (size > max_probe_size)
    return probe_error::oversized;
  std::size_t off = 0;
  auto be = [&](std::size_t n, std::uint64_t& v) {
    if (size - off < n)
      return false;
    v = 0;
    for (std::size_t i = 0; i < n; ++i)
      v = (v << 8) | data[off + i];
    off += n;
    return true;
  };
  std::uint64_t magic = 0, version = 0, kind = 0, len = 0;
  if (!be(4, magic))
    return probe_error::truncated;
  if (magic != probe_magic)
    return probe_error::bad_magic;
  if (!be(1, version))
    return probe_error::truncated;
  if (version != probe_version)
    return probe_error::bad_version;
  if (!be(1, kind))
    return probe_error::truncated;
  if (kind != 1 && kind != 2)
    return probe_error::bad_kind;
  probe_datagram p;
  p.kind = static_cast<probe_kind>(kind);
  if (!be(8, p.from) || !be(8, p.to) || !be(8, p.nonce) || !be(1, len))
    return probe_error::truncated;
  if (len == 0 || len > 64)
    return probe_error::bad_cluster;
  if (size - off < len)
    return probe_error::truncated;
  p.cluster.assign(reinterpret_cast<const char*>(data + off), len);
  off += len;
  if (off != size)
    return probe_error::trailing_bytes;
  return p;
}

std::vector<std::uint8_t> encode_probe(const probe_datagram& p) {
  std::vector<std::uint8_t> out;
  out.reserve(31 + p.cluster.size());
  auto be = [&](std::uint64_t v, int n) {
    for (int i = n - 1; i >= 0; --i)
      out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  };
  be(probe_magic, 4);
  be(probe_version, 1);
  be(static_cast<std::uint8_t>(p.kind), 1);
  be(p.from, 8);
  be(p.to, 8);
  be(p.nonce, 8);
  auto n = std::min<std::size_t>(p.cluster.size(), 64);
  be(n, 1);
  out.insert(out.end(), p.cluster.begin(), p.cluster.begin() + static_cast<long>(n));
  return out;
}

} // namespace lanmesh::wire
