#include "actors/proto/node_id.hpp"

#include <random>

namespace lanmesh {

node_id random_node_id() {
  std::random_device rd;
  std::uint64_t id = 0;
  while (id == 0)
    id = (std::uint64_t{rd()} << 32) | rd();
  return id;
}

void append_hex(std::string& out, std::uint64_t value) {
  static constexpr char digits[] = "0123456789abcdef";
  char buf[16];
  for (int i = 15; i >= 0; --i, value >>= 4)
    buf[i] = digits[value & 0xf];
  out.append(buf, sizeof(buf));
}

std::string to_hex(std::uint64_t value) {
  std::string out;
  append_hex(out, value);
  return out;
}

std::optional<node_id> parse_node_id(const std::string& text) {
  if (text.empty() || text.size() > 16)
    return std::nullopt;
  std::uint64_t v = 0;
  for (char c : text) {
    int d;
    if (c >= '0' && c <= '9')
      d = c - '0';
    else if (c >= 'a' && c <= 'f')
      d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F')
      d = c - 'A' + 10;
    else
      return std::nullopt;
    v = (v << 4) | static_cast<std::uint64_t>(d);
  }
  if (v == 0)
    return std::nullopt;
  return v;
}

} // namespace lanmesh
