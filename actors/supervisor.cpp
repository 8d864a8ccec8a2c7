#include "actors/supervisor.hpp"

#include <boost/asio/ip/address.hpp>
#include <map>
#include <optional>
#include <unordered_map>

#include "actors/logging.hpp"

namespace lanmesh {

namespace {

using clock = std::chrono::steady_clock;

/// How long a discovered candidate that failed (refused, unreachable) is not
/// dialed again.
constexpr auto candidate_cooldown = std::chrono::seconds(5);

struct conn_record {
  caf::actor actor;
  direction dir = direction::in;
  std::string dialed;   // outbound: the address dialed
  int target = -1;      // outbound to a configured peer: index into targets
  node_id expected = 0; // outbound to a discovered candidate: its id
  bool up = false;      // was registered at least once
  clock::time_point since = clock::now();
  std::string addr; // the peer's listening address, once known
};

// A configured peer address and its re-dial schedule.
struct dial_target {
  host_port addr;
  node_id peer = 0; // learned from its handshake
  bool in_flight = false;
  bool is_self = false;
  std::chrono::milliseconds backoff{0};
};

struct state {
  supervisor_settings settings;
  boost::asio::io_context* ioc;
  router_actor router;
  console_actor console;
  caf::actor discovery;
  link_table table;
  std::unordered_map<conn_id, conn_record> conns;
  std::vector<dial_target> targets;
  std::vector<candidate> candidates;                       // latest from discovery
  std::unordered_map<std::string, node_id> dialing;        // addr -> candidate in flight
  std::unordered_map<node_id, clock::time_point> cooldown; // failed candidates
  conn_id next_conn = 1;
  bool stopping = false;
  std::optional<caf::typed_response_promise<bool>> shutdown_rp;
  supervisor_stats stats;
  std::map<std::string, std::uint64_t> bad_by_rule;
  std::shared_ptr<spdlog::logger> log = logging::get("supervisor");

  state(supervisor_settings s, boost::asio::io_context* io, router_actor r,
        console_actor c, caf::actor d)
      : settings(std::move(s)), ioc(io), router(std::move(r)), console(std::move(c)),
        discovery(std::move(d)), table(settings.link->self) {}

  bool target_linked(const dial_target& t) const {
    return t.peer != 0 && table.linked(t.peer);
  }

  std::uint16_t capacity() const {
    auto deg = table.size();
    return static_cast<std::uint16_t>(
        deg >= settings.max_degree ? 0 : settings.max_degree - deg);
  }
};

} // namespace

caf::behavior supervisor(caf::event_based_actor* self, supervisor_settings settings,
                         boost::asio::io_context* ioc, router_actor router,
                         console_actor console) {
  auto st = std::make_shared<state>(std::move(settings), ioc, std::move(router),
                                    std::move(console), caf::actor{});
  for (auto& p : st->settings.peers)
    st->targets.push_back(dial_target{p});

  auto spawn_connection = [self, st](session_ptr session, direction dir,
                                     std::string dialed, int target, node_id expected) {
    connection_args args;
    args.settings = st->settings.link;
    args.session = std::move(session);
    args.conn = st->next_conn++;
    args.dir = dir;
    args.dialed = dialed;
    args.supervisor = caf::actor_cast<caf::actor>(self);
    args.router = st->router;
    auto id = args.conn;
    auto actor = self->spawn(connection, std::move(args));
    self->monitor(actor);
    conn_record rec;
    rec.actor = actor;
    rec.dir = dir;
    rec.dialed = std::move(dialed);
    rec.target = target;
    rec.expected = expected;
    st->conns.emplace(id, std::move(rec));
  };

  // Dials `addr`; the result comes back as a `dialed` message.
  auto dial = [self, st](const std::string& addr, int target, node_id expected) {
    auto hp = parse_host_port(addr);
    if (!hp)
      return;
    st->stats.dials += 1;
    boost::asio::ip::tcp::endpoint ep(boost::asio::ip::make_address(hp->host), hp->port);
    auto handle = caf::actor_cast<caf::actor>(self);
    net::async_dial(*st->ioc, ep, st->settings.link->handshake_timeout,
                    st->settings.max_payload,
                    [handle, addr, target, expected](std::shared_ptr<net::tcp_session> s,
                                                     std::string err) {
                      caf::anon_send(handle, dialed_atom::value, addr, target, expected,
                                     std::move(s), std::move(err));
                    });
  };

  // Tells discovery this node's load, which goes into its announcements.
  auto report_load = [self, st] {
    if (st->discovery)
      self->send(st->discovery, load_atom::value,
                 static_cast<std::uint16_t>(st->table.count(direction::in)),
                 static_cast<std::uint16_t>(st->table.count(direction::out)),
                 st->capacity());
  };

  // Dials the least loaded candidates while below the target degree.
  auto dial_candidates = [self, st, dial] {
    if (st->stopping)
      return;
    auto now = clock::now();
    auto have = st->table.size() + st->dialing.size();
    for (auto& c : st->candidates) {
      if (have >= st->settings.target_degree)
        break;
      auto addr = c.addr();
      auto cd = st->cooldown.find(c.id);
      if (cd != st->cooldown.end() && cd->second > now)
        continue;
      if (c.capacity == 0 || st->table.linked(c.id) || st->dialing.count(addr))
        continue;
      st->log->info("discovered {} at {}, load {} (in {}, out {}), capacity {}: dialing",
                    to_hex(c.id), addr, c.load(), c.links_in, c.links_out, c.capacity);
      st->dialing.emplace(addr, c.id);
      dial(addr, -1, c.id);
      ++have;
    }
  };

  // Schedules the next dial of configured target `i` after its backoff.
  auto schedule_redial = [self, st](std::size_t i) {
    auto& t = st->targets[i];
    if (st->stopping || t.is_self || t.in_flight || st->target_linked(t))
      return;
    t.backoff = t.backoff.count() == 0 ? st->settings.redial_min
                                       : std::min(t.backoff * 2, st->settings.redial_max);
    st->log->debug("re-dial {} in {} ms", t.addr.to_string(), t.backoff.count());
    self->delayed_send(self, t.backoff, dial_atom::value, static_cast<std::uint64_t>(i));
  };

  // A discovered candidate could not be linked: rest it and tell discovery.
  auto candidate_failed = [self, st](const std::string& addr, node_id id,
                                     const std::string& why) {
    st->dialing.erase(addr);
    if (id == 0)
      return;
    st->log->info("candidate {} at {} failed: {}", to_hex(id), addr, why);
    st->cooldown[id] = clock::now() + candidate_cooldown;
    if (st->discovery)
      self->send(st->discovery, forget_atom::value, id);
  };

  auto finish_shutdown_if_done = [st] {
    if (st->shutdown_rp && st->conns.empty()) {
      st->shutdown_rp->deliver(true);
      st->shutdown_rp.reset();
    }
  };

  auto handle_closed = [self, st, schedule_redial, candidate_failed, dial_candidates,
                        report_load](const link_closed& c) {
    auto it = st->conns.find(c.conn);
    if (!c.bad_frame.empty()) {
      st->bad_by_rule[c.bad_frame] += 1;
      if (c.bad_frame == "handshake_timeout")
        st->stats.handshake_timeouts += 1;
      else
        st->stats.bad_frames += 1;
    }
    if (c.reason.rfind("refused", 0) == 0 || c.reason == "duplicate" ||
        c.reason == "full")
      st->stats.refused += 1;
    if (auto gone = st->table.remove(c.conn)) {
      st->log->info("peer {} down ({}): {}", to_hex(gone->peer), to_string(gone->dir),
                    c.reason);
      if (it != st->conns.end())
        self->send(st->router, link_down_atom::value, gone->peer, it->second.actor);
      self->send(st->console, ev_peer_down{gone->peer, c.reason});
      report_load();
    }
    if (it != st->conns.end()) {
      auto& rec = it->second;
      if (rec.expected != 0 && st->dialing.count(rec.dialed))
        candidate_failed(rec.dialed, rec.expected, c.reason);
      if (rec.target >= 0) {
        auto i = static_cast<std::size_t>(rec.target);
        auto& t = st->targets[i];
        t.in_flight = false;
        rec.target = -1;
        if (c.reason == std::string("refused by peer: ") + refuse_self) {
          t.is_self = true;
          st->log->warn("configured peer {} is this node; not dialing it again",
                        t.addr.to_string());
        }
      }
    }
    // Any configured peer not linked now (it may have been reached inbound)
    // gets its re-dial; discovered candidates fill the degree back up.
    for (std::size_t i = 0; i < st->targets.size(); ++i)
      schedule_redial(i);
    dial_candidates();
  };

  self->set_down_handler([st, handle_closed, finish_shutdown_if_done](caf::down_msg& dm) {
    for (auto& [id, rec] : st->conns) {
      if (rec.actor.address() == dm.source) {
        auto conn = id;
        // Normally `final` came first; a crash skips it.
        handle_closed(link_closed{conn, "connection actor died", {}});
        st->conns.erase(conn);
        finish_shutdown_if_done();
        return;
      }
    }
  });

  for (std::size_t i = 0; i < st->targets.size(); ++i)
    self->send(self, dial_atom::value, static_cast<std::uint64_t>(i));
  report_load();

  return {
      [=](wire_atom, caf::actor discovery) {
        st->discovery = std::move(discovery);
        report_load();
      },
      [=](inbound_atom, session_ptr& session) {
        if (st->stopping) {
          session->abort("node stopping");
          return;
        }
        spawn_connection(std::move(session), direction::in, {}, -1, 0);
      },
      [=](dial_atom, std::uint64_t i) {
        auto& t = st->targets[i];
        if (st->stopping || t.is_self || t.in_flight || st->target_linked(t))
          return;
        t.in_flight = true;
        st->log->info("dialing configured peer {}", t.addr.to_string());
        dial(t.addr.to_string(), static_cast<int>(i), 0);
      },
      [=](dialed_atom, const std::string& addr, int target, node_id expected,
          session_ptr& session, const std::string& err) {
        if (!session) {
          st->stats.dial_failures += 1;
          st->log->info("dial {} failed: {}", addr, err);
          if (target >= 0) {
            st->targets[static_cast<std::size_t>(target)].in_flight = false;
            schedule_redial(static_cast<std::size_t>(target));
          } else {
            candidate_failed(addr, expected, err);
            dial_candidates();
          }
          return;
        }
        if (st->stopping) {
          session->abort("node stopping");
          return;
        }
        spawn_connection(std::move(session), direction::out, addr, target, expected);
      },
      [=](register_atom, const link_offer& o) -> std::string {
        auto it = st->conns.find(o.conn);
        if (it == st->conns.end() || st->stopping)
          return "node stopping";
        auto& rec = it->second;
        rec.addr = o.addr;
        for (auto& t : st->targets) {
          if (t.addr.to_string() == o.addr) {
            t.peer = o.peer;
            t.backoff = std::chrono::milliseconds(0);
          }
        }
        if (!st->table.linked(o.peer) && st->table.size() >= st->settings.max_degree) {
          st->log->info("peer {} ({}) refused: full ({} links)", to_hex(o.peer), o.addr,
                        st->table.size());
          return "full";
        }
        auto d = st->table.offer(o.conn, o.peer, o.dir);
        if (d.what != link_table::verdict::refuse && rec.expected != 0)
          st->dialing.erase(rec.dialed);
        switch (d.what) {
        case link_table::verdict::accept:
          rec.up = true;
          rec.since = clock::now();
          st->log->info("peer {} up ({}, {})", to_hex(o.peer), to_string(o.dir), o.addr);
          self->send(st->router, link_up_atom::value, o.peer, rec.actor);
          self->send(st->console, ev_peer_up{o.peer, o.addr, o.dir});
          report_load();
          return {};
        case link_table::verdict::replace: {
          st->log->info("peer {}: link {} replaces {} (dialed by smaller id)",
                        to_hex(o.peer), to_string(o.dir), to_string(d.retired->dir));
          rec.up = true;
          auto old = st->conns.find(d.retired->conn);
          if (old != st->conns.end()) {
            rec.since = old->second.since;
            self->send(st->router, replace_atom::value, o.peer, rec.actor,
                       old->second.actor, o.dir == direction::out);
          }
          report_load();
          return {};
        }
        case link_table::verdict::refuse:
          st->log->info("peer {}: second link ({}) refused as duplicate", to_hex(o.peer),
                        to_string(o.dir));
          if (rec.expected != 0)
            st->dialing.erase(rec.dialed); // linked already: not a failure
          // We dialed this loser; the peer dialed the winner and retires the
          // loser once it registers the winner. Until then the loser may still
          // be the peer's only link to us: keep it open, silent.
          if (o.dir == direction::out && st->table.find(o.peer)->dir == direction::in)
            return "standby";
          return "duplicate";
        }
        return "duplicate";
      },
      [=](const link_closed& c) { handle_closed(c); },
      [=](final_atom, conn_id conn, const link_counters& counters) {
        st->stats.traffic += counters;
        st->conns.erase(conn);
        finish_shutdown_if_done();
      },
      [=](candidates_atom, std::vector<candidate>& cands) {
        st->candidates = std::move(cands);
        dial_candidates();
      },
      [=](caf::get_atom, peers_atom) {
        std::vector<peer_info> out;
        auto now = clock::now();
        for (auto& [peer, e] : st->table.links()) {
          auto it = st->conns.find(e.conn);
          if (it == st->conns.end())
            continue;
          auto age = std::chrono::duration_cast<std::chrono::milliseconds>(
              now - it->second.since);
          out.push_back(peer_info{peer, it->second.addr, e.dir, age.count()});
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
        finish_shutdown_if_done();
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
