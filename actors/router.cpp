#include "actors/router.hpp"

#include <map>
#include <random>
#include <unordered_map>

#include "actors/delivery_lines.hpp"
#include "actors/logging.hpp"
#include "actors/proto/seen_cache.hpp"

namespace lanmesh {

namespace {

using clock_t = std::chrono::steady_clock;
constexpr std::size_t max_topo_paths = 256;
constexpr auto topo_path_ttl = std::chrono::seconds(30);

struct state {
  router_settings settings;
  relay_host host;       // the relay and its thread
  caf::actor supervisor; // receives topology questions and answers for this node
  seen_cache seen;
  std::uint64_t next_seq;
  struct link {
    caf::actor conn;   // told to retire or stand by
    link_writer write; // frames go straight to the session
  };
  std::unordered_map<node_id, link> links;
  router_stats stats;
  // Reverse paths of topology queries: (asker, seq) -> the peer it came from,
  // so answers go back hop by hop instead of being flooded. Bounded.
  std::map<std::pair<node_id, std::uint64_t>, std::pair<node_id, clock_t::time_point>>
      topo_paths;
  std::shared_ptr<spdlog::logger> log = logging::get("router");

  state(router_settings s, relay_host r)
      : settings(s), host(std::move(r)), seen(s.seen_max_entries, s.seen_max_age),
        // This node's stream is numbered from 1; a restart is a new stream
        // (a new epoch), so ids never repeat.
        next_seq(1) {}

  // Sends one encoded frame to every link but `except` and the origin.
  std::uint64_t flood(const net::bytes& frame, node_id origin, node_id except) {
    auto bytes = std::make_shared<const net::bytes>(frame);
    std::uint64_t n = 0;
    for (auto& [peer, l] : links) {
      if (peer == except || peer == origin)
        continue;
      l.write({bytes});
      ++n;
    }
    return n;
  }

  // Runs `task` on the relay's thread, after every task given before.
  template <class F> void on_relay(F task) {
    host.run([fast = host.fast_path, task = std::move(task)]() mutable { task(*fast); });
  }

  // Sends a topology answer one hop back along the path its query came; an
  // answer to an unknown or expired query is dropped.
  void send_back(const wire::topo_reply& r, node_id except) {
    auto path = topo_paths.find({r.query_origin, r.query_seq});
    if (path == topo_paths.end() || path->second.first == except)
      return;
    auto link = links.find(path->second.first);
    if (link != links.end())
      link->second.write(
          {std::make_shared<const net::bytes>(wire::encode_topo_reply(r))});
  }
};

} // namespace

router_actor::behavior_type router(router_actor::pointer, router_settings settings,
                                   relay_host host) {
  auto st = std::make_shared<state>(settings, std::move(host));
  return {
      [=](link_up_atom, node_id peer, caf::actor conn, link_writer& write) {
        st->links[peer] = {std::move(conn), write};
        st->on_relay([peer, write = std::move(write)](broadcast_plane& r) mutable {
          r.set_link(peer, std::move(write), clock_t::now());
        });
        st->log->debug("link to {} added ({} links)", to_hex(peer), st->links.size());
      },
      [=](replace_atom, node_id peer, caf::actor fresh, link_writer& write,
          caf::actor old, bool retire_old) {
        st->links[peer] = {std::move(fresh), write};
        // Sent from the relay's thread once it writes to the new link: this
        // message is ordered after every frame the router or the relay
        // already gave `old`, so none of them is cut off. The node that
        // dialed the winning link retires the loser; the other side only stops
        // sending on it and waits for that goodbye, so neither side is ever
        // without a link to the peer.
        st->on_relay([peer, write = std::move(write), old = std::move(old),
                      retire_old](broadcast_plane& r) mutable {
          r.set_link(peer, std::move(write), clock_t::now());
          if (retire_old)
            caf::anon_send(old, retire_atom::value, std::string("duplicate"));
          else
            caf::anon_send(old, standby_atom::value);
        });
        st->log->info("link to {} replaced (duplicate pair)", to_hex(peer));
      },
      [=](link_down_atom, node_id peer, caf::actor conn) {
        auto it = st->links.find(peer);
        if (it != st->links.end() && it->second.conn == conn) {
          st->links.erase(it);
          st->on_relay([peer](broadcast_plane& r) { r.drop_link(peer, clock_t::now()); });
        }
      },
      [=](broadcast_atom, std::vector<std::string>& payloads)
          -> caf::result<std::vector<std::string>, std::int64_t> {
        for (auto& p : payloads)
          if (p.size() > st->settings.max_payload)
            return caf::make_error(caf::sec::invalid_argument,
                                   "payload of " + std::to_string(p.size()) +
                                       " bytes over node.max-payload " +
                                       std::to_string(st->settings.max_payload));
        // Numbered here, stamped before any frame of them leaves the node,
        // carried on the broadcast plane's thread (which numbers them alike:
        // tasks run there in the order given).
        auto ts = unix_micros();
        std::vector<std::string> ids;
        ids.reserve(payloads.size());
        auto first = st->next_seq;
        for (std::size_t i = 0; i < payloads.size(); ++i)
          ids.push_back(
              msg_id_string(st->settings.self, st->settings.epoch, st->next_seq++));
        st->stats.sent += payloads.size();
        st->on_relay([payloads = std::move(payloads), first](broadcast_plane& r) mutable {
          r.publish(std::move(payloads), first, clock_t::now());
        });
        return {std::move(ids), ts};
      },
      [=](rtt_atom, node_id peer, std::int64_t rtt_us) {
        st->on_relay([peer, rtt_us](broadcast_plane& r) {
          r.rtt(peer, std::chrono::microseconds(rtt_us));
        });
      },
      [=](inbound_broadcasts& in) {
        // Broadcasts a link received before its handshake was done (later
        // ones go from the session to the relay directly).
        st->on_relay([in = std::move(in)](broadcast_plane& r) {
          r.inbound(in.from, in.frames->data(), in.frames->size(), clock_t::now());
        });
      },
      [=](wire_atom, caf::actor supervisor) { st->supervisor = std::move(supervisor); },
      [=](retire_atom, node_id peer, caf::actor conn, std::string& reason) {
        // Through the router and the relay's thread, so the goodbye follows
        // every frame either already handed to that link.
        auto it = st->links.find(peer);
        bool ours = it != st->links.end() && it->second.conn == conn;
        if (ours)
          st->links.erase(it);
        st->on_relay([peer, ours, conn = std::move(conn),
                      reason = std::move(reason)](broadcast_plane& r) mutable {
          if (ours)
            r.drop_link(peer, clock_t::now());
          caf::anon_send(conn, retire_atom::value, std::move(reason));
        });
      },
      [=](topology_atom, wire::topo_query& q) {
        // This node's own question: flood it.
        st->seen.insert({q.origin, q.seq}, clock_t::now());
        st->flood(wire::encode_topo_query(q), q.origin, 0);
      },
      [=](topology_atom, wire::topo_query& q, node_id from) {
        auto now = clock_t::now();
        if (q.origin == st->settings.self || !st->seen.insert({q.origin, q.seq}, now))
          return;
        for (auto it = st->topo_paths.begin(); it != st->topo_paths.end();)
          it = now - it->second.second > topo_path_ttl ? st->topo_paths.erase(it)
                                                       : std::next(it);
        if (st->topo_paths.size() >= max_topo_paths)
          st->topo_paths.erase(st->topo_paths.begin());
        st->topo_paths[{q.origin, q.seq}] = {from, now};
        q.hops += 1;
        st->flood(wire::encode_topo_query(q), q.origin, from);
        if (st->supervisor)
          caf::anon_send(st->supervisor, topology_atom::value, q, from);
      },
      [=](topology_atom, wire::topo_reply& r, node_id from) {
        // An answer on its way back to the asker.
        if (r.query_origin == st->settings.self) {
          if (st->supervisor)
            caf::anon_send(st->supervisor, topology_atom::value, std::move(r));
          return;
        }
        st->send_back(r, from);
      },
      [=](topology_atom, wire::topo_reply& r) {
        // This node's own answer: back to the neighbour the query came from.
        st->send_back(r, 0);
      },
      [=](caf::get_atom, stats_atom) {
        auto out = st->stats;
        out.plane = st->host.fast_path->stats();
        out.links = st->links.size();
        out.mode = st->settings.mode;
        return out;
      },
  };
}

} // namespace lanmesh
