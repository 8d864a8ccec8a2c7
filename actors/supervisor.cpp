#include "actors/supervisor.hpp"

#include <boost/asio/ip/address.hpp>
#include <map>
#include <optional>
#include <unordered_map>

#include "actors/logging.hpp"

namespace lanmesh {

namespace {

using clock = std::chrono::steady_clock;

struct conn_record {
  caf::actor actor;
  direction dir;
  int target = -1; // index into targets for outbound links to configured peers
  clock::time_point since = clock::now();
  std::string addr; // the peer's listening address, once known
};

// A configured peer address and its re-dial schedule.
struct dial_target {
  host_port addr;
  node_id peer = 0;     // learned from its handshake
  bool in_flight = false;
  bool is_self = false;
  std::chrono::milliseconds backoff{0};
};

struct state {
  supervisor_settings settings;
  boost::asio::io_context* ioc;
  router_actor router;
  console_actor console;
  link_table table;
  std::unordered_map<conn_id, conn_record> conns;
  std::vector<dial_target> targets;
  conn_id next_conn = 1;
  bool stopping = false;
  std::optional<caf::typed_response_promise<bool>> shutdown_rp;
  supervisor_stats stats;
  std::map<std::string, std::uint64_t> bad_by_rule;
  std::shared_ptr<spdlog::logger> log = logging::get("supervisor");

  state(supervisor_settings s, boost::asio::io_context* io, router_actor r, console_actor c)
      : settings(std::move(s)),
        ioc(io),
        router(std::move(r)),
        console(std::move(c)),
        table(settings.link->self) {}

  bool target_linked(const dial_target& t) const { return t.peer != 0 && table.linked(t.peer); }
};

} // namespace

caf::behavior supervisor(caf::event_based_actor* self, supervisor_settings settings,
                         boost::asio::io_context* ioc, router_actor router,
                         console_actor console) {
  auto st = std::make_shared<state>(std::move(settings), ioc, std::move(router),
                                    std::move(console));
  for (auto& p : st->settings.peers)
    st->targets.push_back(dial_target{p});

  auto spawn_connection = [self, st](session_ptr session, direction dir, int target) {
    connection_args args;
    args.settings = st->settings.link;
    args.session = std::move(session);
    args.conn = st->next_conn++;
    args.dir = dir;
    if (target >= 0)
      args.dialed = st->targets[static_cast<std::size_t>(target)].addr.to_string();
    args.supervisor = caf::actor_cast<caf::actor>(self);
    args.router = st->router;
    auto id = args.conn;
    auto actor = self->spawn(connection, std::move(args));
    self->monitor(actor);
    st->conns.emplace(id, conn_record{actor, dir, target, clock::now(), {}});
  };

  // Schedules the next dial of target `i` after its backoff, doubling it.
  auto schedule_redial = [self, st](std::size_t i) {
    auto& t = st->targets[i];
    if (st->stopping || t.is_self || t.in_flight || st->target_linked(t))
      return;
    t.backoff = t.backoff.count() == 0 ? st->settings.redial_min
                                       : std::min(t.backoff * 2, st->settings.redial_max);
    st->log->debug("re-dial {} in {} ms", t.addr.to_string(), t.backoff.count());
    self->delayed_send(self, t.backoff, dial_atom::value, static_cast<std::uint64_t>(i));
  };

  auto handle_closed = [self, st, schedule_redial](const link_closed& c) {
    auto it = st->conns.find(c.conn);
    if (!c.bad_frame.empty()) {
      st->bad_by_rule[c.bad_frame] += 1;
      if (c.bad_frame == "handshake_timeout")
        st->stats.handshake_timeouts += 1;
      else
        st->stats.bad_frames += 1;
    }
    if (c.reason.rfind("refused", 0) == 0 || c.reason == "duplicate")
      st->stats.refused += 1;
    if (auto gone = st->table.remove(c.conn)) {
      st->log->info("peer {} down ({}): {}", to_hex(gone->peer), to_string(gone->dir),
                    c.reason);
      if (it != st->conns.end())
        self->send(st->router, link_down_atom::value, gone->peer, it->second.actor);
      self->send(st->console, ev_peer_down{gone->peer, c.reason});
    }
    if (it != st->conns.end() && it->second.target >= 0) {
      auto i = static_cast<std::size_t>(it->second.target);
      auto& t = st->targets[i];
      t.in_flight = false;
      it->second.target = -1;
      if (c.reason == std::string("refused by peer: ") + refuse_self) {
        t.is_self = true;
        st->log->warn("configured peer {} is this node; not dialing it again",
                      t.addr.to_string());
      }
      schedule_redial(i);
    }
    // A peer whose link died may also be a configured target reached inbound.
    for (std::size_t i = 0; i < st->targets.size(); ++i)
      if (!st->targets[i].in_flight && !st->target_linked(st->targets[i]))
        schedule_redial(i);
  };

  auto finish_shutdown_if_done = [st] {
    if (st->shutdown_rp && st->conns.empty()) {
      st->shutdown_rp->deliver(true);
      st->shutdown_rp.reset();
    }
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

  return {
      [=](inbound_atom, session_ptr& session) {
        if (st->stopping) {
          session->abort("node stopping");
          return;
        }
        spawn_connection(std::move(session), direction::in, -1);
      },
      [=](dial_atom, std::uint64_t i) {
        auto& t = st->targets[i];
        if (st->stopping || t.is_self || t.in_flight || st->target_linked(t))
          return;
        t.in_flight = true;
        st->stats.dials += 1;
        st->log->info("dialing configured peer {}", t.addr.to_string());
        boost::asio::ip::tcp::endpoint ep(boost::asio::ip::make_address(t.addr.host),
                                          t.addr.port);
        auto handle = caf::actor_cast<caf::actor>(self);
        net::async_dial(*st->ioc, ep, st->settings.link->handshake_timeout,
                        st->settings.max_frame,
                        [handle, i](std::shared_ptr<net::tcp_session> s, std::string err) {
                          caf::anon_send(handle, dialed_atom::value, i, std::move(s),
                                         std::move(err));
                        });
      },
      [=](dialed_atom, std::uint64_t i, session_ptr& session, std::string& err) {
        auto& t = st->targets[i];
        if (!session) {
          t.in_flight = false;
          st->stats.dial_failures += 1;
          st->log->info("dial {} failed: {}", t.addr.to_string(), err);
          schedule_redial(i);
          return;
        }
        if (st->stopping) {
          session->abort("node stopping");
          return;
        }
        spawn_connection(std::move(session), direction::out, static_cast<int>(i));
      },
      [=](register_atom, const link_offer& o) -> bool {
        auto it = st->conns.find(o.conn);
        if (it == st->conns.end() || st->stopping)
          return false;
        it->second.addr = o.addr;
        for (auto& t : st->targets) {
          if (t.addr.to_string() == o.addr) {
            t.peer = o.peer;
            t.backoff = std::chrono::milliseconds(0);
          }
        }
        auto d = st->table.offer(o.conn, o.peer, o.dir);
        switch (d.what) {
          case link_table::verdict::accept:
            it->second.since = clock::now();
            st->log->info("peer {} up ({}, {})", to_hex(o.peer), to_string(o.dir), o.addr);
            self->send(st->router, link_up_atom::value, o.peer, it->second.actor);
            self->send(st->console, ev_peer_up{o.peer, o.addr, o.dir});
            return true;
          case link_table::verdict::replace: {
            st->log->info("peer {}: link {} replaces {} (dialed by smaller id)",
                          to_hex(o.peer), to_string(o.dir), to_string(d.retired->dir));
            auto old = st->conns.find(d.retired->conn);
            if (old != st->conns.end()) {
              it->second.since = old->second.since;
              self->send(st->router, replace_atom::value, o.peer, it->second.actor,
                         old->second.actor);
            }
            return true;
          }
          case link_table::verdict::refuse:
            st->log->info("peer {}: second link ({}) refused as duplicate", to_hex(o.peer),
                          to_string(o.dir));
            return false;
        }
        return false;
      },
      [=](const link_closed& c) { handle_closed(c); },
      [=](final_atom, conn_id conn, const link_counters& counters) {
        st->stats.traffic += counters;
        st->conns.erase(conn);
        finish_shutdown_if_done();
      },
      [=](caf::get_atom, peers_atom) {
        std::vector<peer_info> out;
        auto now = clock::now();
        for (auto& [peer, e] : st->table.links()) {
          auto it = st->conns.find(e.conn);
          if (it == st->conns.end())
            continue;
          auto age = std::chrono::duration_cast<std::chrono::milliseconds>(now - it->second.since);
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
        self->delayed_send(self, st->settings.link->linger + std::chrono::milliseconds(100),
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
