#include "actors/supervisor.hpp"

#include <arpa/inet.h>

#include <boost/asio/ip/address.hpp>
#include <climits>
#include <map>
#include <optional>
#include <random>
#include <unordered_map>
#include <unordered_set>

#include "actors/logging.hpp"
#include "actors/proto/liveness.hpp"
#include "actors/proto/overlay_policy.hpp"

namespace lanmesh {

namespace {

using clock = std::chrono::steady_clock;

/// Why and to whom an outbound dial goes.
struct dial_info {
  node_id expected = 0; // the node we expect to answer, if known
  int target = -1;      // index into configured targets, or -1
  std::uint8_t flags = 0;
  std::string reason;
};

struct conn_record {
  caf::actor actor;
  link_writer write; // the router's way into this link's session
  direction dir = direction::in;
  std::string dialed; // outbound: the address dialed
  dial_info info;     // outbound: why
  bool up = false;    // registered at least once
  clock::time_point since = clock::now();
  std::string addr; // the peer's listening address, once known
  std::int64_t rtt_us = -1;
  clock::time_point rtt_at{};
};

// A configured peer address and its re-dial schedule.
struct dial_target {
  host_port addr;
  node_id peer = 0; // learned from its handshake
  bool in_flight = false;
  bool is_self = false;
  std::chrono::milliseconds backoff{0};
};

std::string ipv4_string(std::uint32_t ip) {
  in_addr a{};
  a.s_addr = htonl(ip);
  char buf[INET_ADDRSTRLEN];
  return inet_ntop(AF_INET, &a, buf, sizeof(buf)) ? buf : "";
}

std::uint32_t ipv4_of(const std::string& host_port_text) {
  auto hp = parse_host_port(host_port_text);
  in_addr a{};
  if (!hp || inet_pton(AF_INET, hp->host.c_str(), &a) != 1)
    return 0;
  return ntohl(a.s_addr);
}

// A topology snapshot being gathered.
struct gather {
  caf::typed_response_promise<topology_snapshot> rp;
  topology_snapshot snap;
  std::unordered_set<node_id> waiting;
  clock::time_point start = clock::now();
};

struct state {
  caf::event_based_actor* self;
  supervisor_settings settings;
  boost::asio::io_context* ioc;
  router_actor router;
  console_actor console;
  caf::actor discovery;
  link_table table;
  overlay_policy policy;
  overlay_evidence evidence; // relayed MEMBER floods, for silent links
  std::unordered_map<conn_id, conn_record> conns;
  std::vector<dial_target> targets;
  std::unordered_map<std::string, dial_info> dialing; // addr -> dial in flight
  std::unordered_set<conn_id> dropping;               // links told to go, not closed yet
  node_id invite_next = 0; // ask this node to dial us in the next MEMBER flood
  conn_id next_conn = 1;
  bool stopping = false;
  std::optional<caf::typed_response_promise<bool>> shutdown_rp;
  supervisor_stats stats;
  std::map<std::string, std::uint64_t> bad_by_rule;
  std::map<std::uint64_t, gather> gathers; // by query seq
  std::shared_ptr<spdlog::logger> log = logging::get("supervisor");

  state(caf::event_based_actor* s, supervisor_settings cfg, boost::asio::io_context* io,
        router_actor r, console_actor c)
      : self(s), settings(std::move(cfg)), ioc(io), router(std::move(r)),
        console(std::move(c)), table(settings.link->self),
        policy(settings.link->self, make_params(settings)) {
    for (auto& p : settings.peers)
      targets.push_back(dial_target{p});
  }

  static overlay_params make_params(const supervisor_settings& s) {
    overlay_params p;
    p.target_degree = s.target_degree;
    p.max_degree = s.max_degree;
    p.reach_timeout = 3 * s.alive_interval;
    p.ask_interval = s.alive_interval;
    p.seed = s.seed;
    return p;
  }

  node_id self_id() const { return settings.link->self; }

  std::uint16_t capacity() const {
    auto deg = table.size();
    return static_cast<std::uint16_t>(
        deg >= settings.max_degree ? 0 : settings.max_degree - deg);
  }

  bool target_linked(const dial_target& t) const {
    return t.peer != 0 && table.linked(t.peer);
  }

  // Links as the policy sees them: registered links, plus dials in flight as
  // outbound links (so it never dials past out <= in while they complete).
  std::vector<link_view> link_views() const {
    std::vector<link_view> out;
    for (auto& [peer, e] : table.links())
      out.push_back({peer, e.dir});
    for (auto& [_, d] : dialing)
      if (d.expected != 0 && !table.linked(d.expected))
        out.push_back({d.expected, direction::out});
    return out;
  }

  std::unordered_set<node_id> pending() const {
    std::unordered_set<node_id> out;
    for (auto& [_, d] : dialing)
      if (d.expected != 0)
        out.insert(d.expected);
    return out;
  }

  void spawn_connection(session_ptr session, direction dir, std::string dialed,
                        dial_info info) {
    connection_args args;
    args.settings = settings.link;
    args.session = std::move(session);
    args.conn = next_conn++;
    args.dir = dir;
    args.dialed = dialed;
    args.hello_flags = info.flags;
    args.supervisor = caf::actor_cast<caf::actor>(self);
    args.router = router;
    auto id = args.conn;
    auto session_handle = args.session;
    auto actor = self->spawn(connection, std::move(args));
    self->monitor(actor);
    conn_record rec;
    rec.actor = actor;
    rec.write = [s = std::move(session_handle)](std::vector<net::shared_bytes> frames) {
      s->send_data(std::move(frames));
    };
    rec.dir = dir;
    rec.dialed = std::move(dialed);
    rec.info = std::move(info);
    conns.emplace(id, std::move(rec));
  }

  // Dials `addr`; the result comes back as a `dialed` message.
  void dial(const std::string& addr, dial_info info) {
    auto hp = parse_host_port(addr);
    if (!hp || dialing.count(addr) || stopping)
      return;
    stats.dials += 1;
    if (info.target < 0)
      log->info("dialing {} at {}: {}", to_hex(info.expected), addr, info.reason);
    dialing.emplace(addr, info);
    boost::asio::ip::tcp::endpoint ep(boost::asio::ip::make_address(hp->host), hp->port);
    auto handle = caf::actor_cast<caf::actor>(self);
    net::async_dial(*ioc, ep, settings.link->handshake_timeout, settings.max_payload,
                    [handle, addr](std::shared_ptr<net::tcp_session> s, std::string err) {
                      caf::anon_send(handle, dialed_atom::value, addr, std::move(s),
                                     std::move(err));
                    });
  }

  // A dial (or its handshake) to `addr` ended without a link.
  void dial_ended(const std::string& addr, const std::string& why, bool failed) {
    auto it = dialing.find(addr);
    if (it == dialing.end())
      return;
    auto info = it->second;
    dialing.erase(it);
    if (failed) {
      if (info.expected != 0) {
        policy.dial_failed(info.expected, clock::now());
        log->info("dial of {} at {} failed: {}", to_hex(info.expected), addr, why);
      }
      if (discovery && info.expected != 0)
        self->send(discovery, forget_atom::value, info.expected);
    }
    if (info.target >= 0) {
      auto i = static_cast<std::size_t>(info.target);
      targets[i].in_flight = false;
      if (why == std::string("refused by peer: ") + refuse_self) {
        targets[i].is_self = true;
        log->warn("configured peer {} is this node; not dialing it again",
                  targets[i].addr.to_string());
      }
      schedule_redial(i);
    }
  }

  // Schedules the next dial of configured target `i` after its backoff.
  void schedule_redial(std::size_t i) {
    auto& t = targets[i];
    if (stopping || t.is_self || t.in_flight || target_linked(t))
      return;
    t.backoff = t.backoff.count() == 0 ? settings.redial_min
                                       : std::min(t.backoff * 2, settings.redial_max);
    log->debug("re-dial {} in {} ms", t.addr.to_string(), t.backoff.count());
    self->delayed_send(self, t.backoff, dial_atom::value, static_cast<std::uint64_t>(i));
  }

  // Tells discovery this node's load, which goes into its announcements.
  void report_load() {
    if (discovery)
      self->send(discovery, load_atom::value,
                 static_cast<std::uint16_t>(table.count(direction::in)),
                 static_cast<std::uint16_t>(table.count(direction::out)), capacity());
  }

  // This node's MEMBER record, flooded over the overlay by the router.
  void flood_member() {
    wire::member m;
    m.port = settings.link->listen_port;
    m.links_in = static_cast<std::uint16_t>(table.count(direction::in));
    m.links_out = static_cast<std::uint16_t>(table.count(direction::out));
    m.capacity = capacity();
    m.want_from = std::exchange(invite_next, 0);
    if (!table.links().empty())
      self->send(router, member_atom::value, m);
  }

  // Runs the overlay policy once and carries out what it decides.
  void maintain() {
    if (stopping)
      return;
    auto links = link_views();
    auto actions = policy.decide(links, pending(), clock::now());
    // Unmanaged: a static topology from node.peers; only an isolated node
    // with discovery links up (discovery's first dial).
    if (!settings.manage && (!links.empty() || !discovery))
      return;
    for (auto& a : actions) {
      if (auto* d = std::get_if<overlay_policy::dial>(&a)) {
        stats.redials += 1;
        dial(d->addr, dial_info{d->id, -1, 0, d->reason});
      } else if (auto* inv = std::get_if<overlay_policy::invite>(&a)) {
        log->info("asking {} to dial us (in {}, out {})", to_hex(inv->target),
                  table.count(direction::in), table.count(direction::out));
        invite_next = inv->target;
        flood_member();
      } else if (auto* r = std::get_if<overlay_policy::reverse>(&a)) {
        if (auto* e = table.find(r->peer)) {
          auto it = conns.find(e->conn);
          if (it != conns.end()) {
            log->info("asking {} to reverse our link (in {}, out {})", to_hex(r->peer),
                      table.count(direction::in), table.count(direction::out));
            self->send(it->second.actor, send_atom::value,
                       std::make_shared<const net::bytes>(wire::encode_reverse()));
          }
        }
      } else if (auto* dr = std::get_if<overlay_policy::drop>(&a)) {
        // The policy counts dials still in flight as links, and a link being
        // dropped stays in the table until it has closed. A drop must be
        // justified by established links alone, not yet going: once two
        // drops in a row on account of pending dials left a node with no
        // link for 30 ms, and a broadcast it sent then reached nobody.
        std::size_t est_in = 0, est_out = 0;
        for (auto& [_, l] : table.links())
          if (!dropping.count(l.conn))
            ++(l.dir == direction::in ? est_in : est_out);
        if (est_out <= est_in + 1 || est_in + est_out <= settings.target_degree)
          continue;
        if (auto* e = table.find(dr->peer)) {
          auto it = conns.find(e->conn);
          if (it != conns.end()) {
            dropping.insert(e->conn);
            log->info("dropping link to {}: {}", to_hex(dr->peer), dr->reason);
            self->send(router, retire_atom::value, dr->peer, it->second.actor,
                       dr->reason);
          }
        }
      }
    }
  }

  void handle_closed(const link_closed& c) {
    dropping.erase(c.conn);
    auto it = conns.find(c.conn);
    if (!c.bad_frame.empty()) {
      bad_by_rule[c.bad_frame] += 1;
      if (c.bad_frame == "handshake_timeout")
        stats.handshake_timeouts += 1;
      else
        stats.bad_frames += 1;
    }
    if (c.reason.rfind("refused", 0) == 0 || c.reason == "duplicate" ||
        c.reason == "full")
      stats.refused += 1;
    if (auto gone = table.remove(c.conn)) {
      log->info("peer {} down ({}): {}", to_hex(gone->peer), to_string(gone->dir),
                c.reason);
      if (it != conns.end())
        self->send(router, link_down_atom::value, gone->peer, it->second.actor);
      self->send(console, ev_peer_down{gone->peer, c.reason});
      report_load();
    }
    if (it != conns.end() && it->second.dir == direction::out)
      dial_ended(it->second.dialed, c.reason, !it->second.up && c.reason != "duplicate");
    // Configured peers not linked now (one may have been reached inbound) get
    // their re-dial; the policy fills the degree back up at once.
    for (std::size_t i = 0; i < targets.size(); ++i)
      schedule_redial(i);
    maintain();
  }

  register_reply register_link(const link_offer& o) {
    auto it = conns.find(o.conn);
    if (it == conns.end() || stopping)
      return {"node stopping", nullptr};
    auto& rec = it->second;
    rec.addr = o.addr;
    for (auto& t : targets) {
      if (t.addr.to_string() == o.addr) {
        t.peer = o.peer;
        t.backoff = std::chrono::milliseconds(0);
      }
    }
    if (o.addr.empty() && !table.linked(o.peer)) {
      // A dialer that does not serve gets at most one link in the overlay.
      auto* m = policy.find(o.peer);
      if (m && m->load() > 0) {
        log->info("peer {} does not serve and has a link already: refused",
                  to_hex(o.peer));
        return {"non-serving peer linked elsewhere", nullptr};
      }
    }
    if (!table.linked(o.peer) && table.size() >= settings.max_degree) {
      // Full: refuse, but name less loaded nodes to try instead.
      wire::redirect rd;
      for (auto& m : policy.redirect_targets(o.peer, 4))
        rd.entries.push_back({m.id, ipv4_of(m.addr), parse_host_port(m.addr)->port});
      log->info("peer {} ({}) refused: full ({} links); redirected to {} node(s)",
                to_hex(o.peer), o.addr, table.size(), rd.entries.size());
      return {"full", rd.entries.empty() ? nullptr
                                         : std::make_shared<const net::bytes>(
                                               wire::encode_redirect(rd))};
    }
    auto d = table.offer(o.conn, o.peer, o.dir, o.reverse);
    if (o.dir == direction::out && d.what != link_table::verdict::refuse) {
      dialing.erase(rec.dialed);
      policy.dial_succeeded(o.peer);
    }
    switch (d.what) {
    case link_table::verdict::accept:
      rec.up = true;
      rec.since = clock::now();
      log->info("peer {} up ({}, {}){}", to_hex(o.peer), to_string(o.dir), o.addr,
                rec.info.reason.empty() ? "" : ": " + rec.info.reason);
      self->send(router, link_up_atom::value, o.peer, rec.actor, rec.write);
      self->send(console, ev_peer_up{o.peer, o.addr, o.dir});
      report_load();
      flood_member(); // neighbours learn the new load at once
      return {};
    case link_table::verdict::replace: {
      log->info("peer {}: link {} replaces {} ({})", to_hex(o.peer), to_string(o.dir),
                to_string(d.retired->dir),
                o.reverse ? "reversed on request" : "dialed by smaller id");
      rec.up = true;
      auto old = conns.find(d.retired->conn);
      if (old != conns.end()) {
        rec.since = old->second.since;
        self->send(router, replace_atom::value, o.peer, rec.actor, rec.write,
                   old->second.actor, o.dir == direction::out);
      }
      report_load();
      flood_member();
      return {};
    }
    case link_table::verdict::refuse:
      log->info("peer {}: second link ({}) refused as duplicate", to_hex(o.peer),
                to_string(o.dir));
      if (o.dir == direction::out)
        dialing.erase(rec.dialed); // linked already: not a failure
      // We dialed this loser; the peer dialed the winner and retires the
      // loser once it registers the winner. Until then the loser may still
      // be the peer's only link to us: keep it open, silent.
      if (o.dir == direction::out && table.find(o.peer)->dir == direction::in)
        return {"standby", nullptr};
      return {"duplicate", nullptr};
    }
    return {"duplicate", nullptr};
  }

  // This node's answer to a topology query.
  wire::topo_reply own_record(const wire::topo_query& q) const {
    wire::topo_reply r;
    r.query_origin = q.origin;
    r.query_seq = q.seq;
    r.node = self_id();
    r.port = settings.link->listen_port;
    r.links_in = static_cast<std::uint16_t>(table.count(direction::in));
    r.links_out = static_cast<std::uint16_t>(table.count(direction::out));
    r.capacity = capacity();
    for (auto& [peer, e] : table.links()) {
      auto it = conns.find(e.conn);
      auto rtt = it == conns.end() ? -1 : it->second.rtt_us;
      r.links.push_back(
          {peer, static_cast<std::uint8_t>(e.dir == direction::out ? 1 : 0),
           static_cast<std::int32_t>(std::min<std::int64_t>(rtt, INT32_MAX))});
      if (r.links.size() == wire::max_topo_links)
        break;
    }
    return r;
  }

  void finish_gather(std::uint64_t seq) {
    auto it = gathers.find(seq);
    if (it == gathers.end())
      return;
    auto& g = it->second;
    g.snap.took_ms =
        std::chrono::duration<double, std::milli>(clock::now() - g.start).count();
    log->info("topology snapshot: {} of {} node(s) answered in {:.1f} ms",
              g.snap.answers.size(), g.snap.known.size(), g.snap.took_ms);
    g.rp.deliver(std::move(g.snap));
    gathers.erase(it);
  }

  void finish_shutdown_if_done() {
    if (shutdown_rp && conns.empty()) {
      shutdown_rp->deliver(true);
      shutdown_rp.reset();
    }
  }
};

} // namespace

caf::behavior supervisor(caf::event_based_actor* self, supervisor_settings settings,
                         boost::asio::io_context* ioc, router_actor router,
                         console_actor console) {
  auto st = std::make_shared<state>(self, std::move(settings), ioc, std::move(router),
                                    std::move(console));

  self->set_down_handler([st](caf::down_msg& dm) {
    for (auto& [id, rec] : st->conns) {
      if (rec.actor.address() == dm.source) {
        auto conn = id;
        // Normally `final` came first; a crash skips it.
        st->handle_closed(link_closed{conn, "connection actor died", {}});
        st->conns.erase(conn);
        st->finish_shutdown_if_done();
        return;
      }
    }
  });

  for (std::size_t i = 0; i < st->targets.size(); ++i)
    self->send(self, dial_atom::value, static_cast<std::uint64_t>(i));
  self->send(st->router, wire_atom::value, caf::actor_cast<caf::actor>(self));
  self->delayed_send(self, st->settings.maintain_interval, maintain_atom::value);
  self->delayed_send(self, st->settings.alive_interval, alive_atom::value);
  st->report_load();

  return {
      [=](wire_atom, caf::actor discovery) {
        st->discovery = std::move(discovery);
        st->report_load();
      },
      [=](inbound_atom, session_ptr& session) {
        if (st->stopping) {
          session->abort("node stopping");
          return;
        }
        st->spawn_connection(std::move(session), direction::in, {}, {});
      },
      [=](dial_atom, std::uint64_t i) {
        auto& t = st->targets[i];
        if (st->stopping || t.is_self || t.in_flight || st->target_linked(t))
          return;
        t.in_flight = true;
        st->dial(t.addr.to_string(),
                 dial_info{t.peer, static_cast<int>(i), 0, "configured peer"});
      },
      [=](dialed_atom, const std::string& addr, session_ptr& session,
          const std::string& err) {
        if (!session) {
          st->stats.dial_failures += 1;
          st->log->info("dial {} failed: {}", addr, err);
          st->dial_ended(addr, err, true);
          st->maintain();
          return;
        }
        auto it = st->dialing.find(addr);
        if (st->stopping || it == st->dialing.end()) {
          session->abort("node stopping");
          return;
        }
        st->spawn_connection(std::move(session), direction::out, addr, it->second);
      },
      [=](register_atom, const link_offer& o) { return st->register_link(o); },
      [=](const link_closed& c) { st->handle_closed(c); },
      [=](final_atom, conn_id conn, const link_counters& counters) {
        st->stats.traffic += counters;
        st->conns.erase(conn);
        st->finish_shutdown_if_done();
      },
      [=](candidates_atom, std::vector<candidate>& cands) {
        auto now = clock::now();
        for (auto& c : cands)
          st->policy.heard(c.id, c.addr(), c.links_in, c.links_out, c.capacity, false,
                           now);
        st->maintain();
      },
      [=](member_atom, const wire::member& m) {
        auto addr = m.ip != 0 && m.port != 0
                        ? ipv4_string(m.ip) + ":" + std::to_string(m.port)
                        : std::string{};
        auto now = clock::now();
        st->policy.heard(m.origin, addr, m.links_in, m.links_out, m.capacity, true, now);
        st->evidence.heard(m.origin, m.hops, now);
        if (st->settings.manage && m.want_from == st->self_id() && !addr.empty() &&
            st->policy.accept_invite(st->link_views(), m.origin))
          st->dial(addr, dial_info{m.origin, -1, 0, "invited by " + to_hex(m.origin)});
      },
      [=](reverse_atom, conn_id conn, node_id peer) {
        auto it = st->conns.find(conn);
        if (it == st->conns.end() || !st->settings.manage ||
            !st->policy.accept_reverse(st->link_views(), peer))
          return;
        st->dial(it->second.addr, dial_info{peer, -1, wire::hello_reverse,
                                            "reverse requested by " + to_hex(peer)});
      },
      [=](redirect_atom, const std::vector<wire::redirect_entry>& entries) {
        auto now = clock::now();
        for (auto& e : entries)
          if (e.node != st->self_id() && e.ip != 0 && e.port != 0)
            st->policy.heard(e.node, ipv4_string(e.ip) + ":" + std::to_string(e.port), 0,
                             0, 1, false, now);
        st->log->info("redirected to {} node(s)", entries.size());
      },
      [=](rtt_atom, conn_id conn, std::int64_t rtt_us) {
        auto it = st->conns.find(conn);
        if (it != st->conns.end()) {
          it->second.rtt_us = rtt_us;
          it->second.rtt_at = clock::now();
        }
        st->stats.rtt_hist.observe(rtt_us);
      },
      [=](heard_atom, node_id peer) -> std::int64_t {
        // A connection whose link fell silent asks whether the peer still
        // floods over other links (actors/proto/liveness.hpp).
        auto ago = st->evidence.since(peer, clock::now());
        if (!ago)
          return -1;
        return std::chrono::duration_cast<std::chrono::milliseconds>(*ago).count();
      },
      [=](maintain_atom) {
        st->evidence.expire(clock::now(), st->settings.link->dead_after);
        st->maintain();
        self->delayed_send(self, st->settings.maintain_interval, maintain_atom::value);
      },
      [=](alive_atom) {
        st->flood_member();
        self->delayed_send(self, st->settings.alive_interval, alive_atom::value);
      },
      [=](topology_atom) {
        // Ask every node over the overlay; answers come back along the
        // query's path. Done when all known nodes answered, or at the timeout.
        wire::topo_query q{
            st->self_id(),
            std::random_device{}() | (std::uint64_t{std::random_device{}()} << 32), 0};
        auto& g = st->gathers[q.seq];
        g.rp = self->make_response_promise<topology_snapshot>();
        g.snap.asker = st->self_id();
        g.snap.answers.push_back(st->own_record(q));
        g.snap.known.emplace_back(st->self_id(), st->settings.self_addr);
        for (auto& [id, m] : st->policy.members()) {
          g.snap.known.emplace_back(id, m.addr);
          g.waiting.insert(id);
        }
        for (auto& [peer, e] : st->table.links()) {
          if (!st->policy.find(peer)) {
            auto it = st->conns.find(e.conn);
            g.snap.known.emplace_back(peer, it == st->conns.end() ? "" : it->second.addr);
            g.waiting.insert(peer);
          }
        }
        auto rp = g.rp;
        if (g.waiting.empty()) {
          st->finish_gather(q.seq);
          return rp;
        }
        self->send(st->router, topology_atom::value, q);
        self->delayed_send(self, st->settings.topology_timeout, topology_atom::value,
                           q.seq, caf::timeout_atom::value);
        return rp;
      },
      [=](topology_atom, std::uint64_t seq, caf::timeout_atom) {
        st->finish_gather(seq);
      },
      [=](topology_atom, const wire::topo_query& q, node_id) {
        self->send(st->router, topology_atom::value, st->own_record(q));
      },
      [=](topology_atom, wire::topo_reply& r) {
        auto it = st->gathers.find(r.query_seq);
        if (it == st->gathers.end())
          return; // late: the snapshot is out already
        auto& g = it->second;
        for (auto& a : g.snap.answers)
          if (a.node == r.node)
            return;                     // repeated
        if (!g.waiting.erase(r.node)) { // a node we did not know of yet
          auto* m = st->policy.find(r.node);
          g.snap.known.emplace_back(r.node, m ? m->addr : std::string{});
        }
        g.snap.answers.push_back(std::move(r));
        if (g.waiting.empty())
          st->finish_gather(it->first);
      },
      [=](caf::get_atom, peers_atom) {
        std::vector<peer_info> out;
        auto now = clock::now();
        for (auto& [peer, e] : st->table.links()) {
          auto it = st->conns.find(e.conn);
          if (it == st->conns.end())
            continue;
          auto& rec = it->second;
          auto ms = [&](clock::time_point t) {
            return std::chrono::duration_cast<std::chrono::milliseconds>(now - t).count();
          };
          out.push_back(peer_info{peer, rec.addr, e.dir, ms(rec.since), rec.rtt_us,
                                  rec.rtt_us < 0 ? -1 : ms(rec.rtt_at)});
        }
        return out;
      },
      [=](caf::get_atom, member_atom) {
        // For `lanmesh members`: this node, then every node it knows of.
        auto now = clock::now();
        std::vector<member_entry> out;
        out.push_back(
            member_entry{st->self_id(), st->settings.self_addr, "self",
                         static_cast<std::uint16_t>(st->table.count(direction::in)),
                         static_cast<std::uint16_t>(st->table.count(direction::out)),
                         st->capacity(), -1});
        auto reach = 3 * st->settings.alive_interval;
        for (auto& [id, m] : st->policy.members()) {
          auto last = std::max(m.heard_overlay, m.heard_any);
          std::string status = st->table.linked(id)             ? "linked"
                               : now - m.heard_overlay <= reach ? "alive"
                                                                : "unreachable";
          out.push_back(member_entry{
              id, m.addr, status, m.links_in, m.links_out, m.capacity,
              std::chrono::duration_cast<std::chrono::milliseconds>(now - last).count()});
        }
        for (auto& [peer, e] : st->table.links()) {
          if (st->policy.find(peer))
            continue; // listed above
          auto it = st->conns.find(e.conn);
          out.push_back(member_entry{peer, it == st->conns.end() ? "" : it->second.addr,
                                     "linked", 0, 0, 0, -1});
        }
        return out;
      },
      [=](caf::get_atom, stats_atom) {
        auto rp = self->make_response_promise<supervisor_stats>();
        auto acc = std::make_shared<supervisor_stats>(st->stats);
        acc->links_in = st->table.count(direction::in);
        acc->links_out = st->table.count(direction::out);
        for (auto& [rule, n] : st->bad_by_rule)
          acc->bad_by_rule.emplace_back(rule, n);
        for (auto& [peer, e] : st->table.links()) {
          auto it = st->conns.find(e.conn);
          acc->rtt_us.emplace_back(peer, it == st->conns.end() ? -1 : it->second.rtt_us);
        }
        auto pending = std::make_shared<std::size_t>(st->conns.size());
        if (*pending == 0) {
          rp.deliver(*acc);
          return rp;
        }
        for (auto& [_, rec] : st->conns) {
          self->request(rec.actor, std::chrono::seconds(1), caf::get_atom::value,
                        stats_atom::value)
              .then(
                  [=](const link_counters& c) mutable {
                    acc->traffic += c;
                    if (--*pending == 0)
                      rp.deliver(*acc);
                  },
                  [=](caf::error&) mutable {
                    if (--*pending == 0)
                      rp.deliver(*acc);
                  });
        }
        return rp;
      },
      [=](shutdown_atom) {
        // Say goodbye on every link; answer once all have closed, or at the
        // deadline, when the remaining connection actors are killed.
        st->stopping = true;
        st->shutdown_rp = self->make_response_promise<bool>();
        for (auto& [_, rec] : st->conns)
          self->send(rec.actor, retire_atom::value, std::string("goodbye"));
        auto rp = *st->shutdown_rp;
        st->finish_shutdown_if_done();
        self->delayed_send(self,
                           st->settings.link->linger + std::chrono::milliseconds(100),
                           shutdown_atom::value, caf::timeout_atom::value);
        return rp;
      },
      [=](shutdown_atom, caf::timeout_atom) {
        for (auto& [_, rec] : st->conns)
          self->send_exit(rec.actor, caf::exit_reason::user_shutdown);
        if (st->shutdown_rp) {
          st->shutdown_rp->deliver(true);
          st->shutdown_rp.reset();
        }
      },
  };
}

} // namespace lanmesh
