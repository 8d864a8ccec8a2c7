#include "actors/proto/link_table.hpp"

namespace lanmesh {

const char* to_string(direction d) {
  return d == direction::in ? "in" : "out";
}

link_table::decision link_table::offer(conn_id conn, node_id peer, direction dir,
                                       bool reverse) {
  link_entry fresh{conn, peer, dir};
  auto it = by_peer_.find(peer);
  if (it == by_peer_.end()) {
    by_peer_.emplace(peer, fresh);
    return {verdict::accept, std::nullopt};
  }
  // Two links to one peer. Same dialer twice: keep the older one. Otherwise the
  // link dialed by the smaller id wins, which both ends compute alike.
  if ((reverse && it->second.dir != dir) || dialer(fresh) < dialer(it->second)) {
    auto old = it->second;
    it->second = fresh;
    return {verdict::replace, old};
  }
  return {verdict::refuse, std::nullopt};
}

std::optional<link_entry> link_table::remove(conn_id conn) {
  for (auto it = by_peer_.begin(); it != by_peer_.end(); ++it) {
    if (it->second.conn == conn) {
      auto e = it->second;
      by_peer_.erase(it);
      return e;
    }
  }
  return std::nullopt;
}

const link_entry* link_table::find(node_id peer) const {
  auto it = by_peer_.find(peer);
  return it == by_peer_.end() ? nullptr : &it->second;
}

std::size_t link_table::count(direction d) const {
  std::size_t n = 0;
  for (auto& [_, e] : by_peer_)
    n += e.dir == d ? 1 : 0;
  return n;
}

} // namespace lanmesh
