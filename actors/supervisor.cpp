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
#include "actors/proto/beat_grid.hpp"

namespace lanmesh {

namespace {

using clock = std::chrono::steady_clock;

/// Why and to whom an outbound dial goes.
struct dial_info {
  node_id expected = 0; // the node we expect to answer, if known
  int target = -1;      // index into configured targets, or -1
  std::uint8_t flags = 0;
  std::string reason;
  bool callback() const { return (flags & wire::hello_callback) != 0; }
  /// Membership's re-dial of an unreachable member: not an overlay link in
  /// the making (see link_views).
  bool reconnect = false;
};

struct conn_record {
  caf::actor actor;
  session_ptr session;
  link_writer write; // the router's way into this link's session
  direction dir = direction::in;
  std::string dialed; // outbound: the address dialed
  dial_info info;     // outbound: why
  bool up = false;    // registered at least once
  bool loopback = false;
  node_id peer = 0; // once the handshake named it
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

std::string addr_of(std::uint32_t ip, std::uint16_t port) {
  return ipv4_string(ip) + ":" + std::to_string(port);
}

link_end end_of(const link_closed& c) {
  if (c.reason == "reset")
    return link_end::reset;
  if (c.reason == "timeout")
    return c.peer_alive ? link_end::timeout_alive : link_end::timeout_unreachable;
  if (c.reason == "goodbye" || c.reason == "rebalance" || c.reason == "trim")
    return link_end::goodbye;
  return link_end::other;
}

struct state {
  caf::event_based_actor* self;
  supervisor_settings settings;
  boost::asio::io_context* ioc;
  router_actor router;
  console_actor console;
  caf::actor discovery;
  std::size_t reported_size = 0; // members alive, as discovery last heard it
  link_table table;
  overlay_policy policy;
  membership members;
  probe_tracker probes;
  topology_gather gathers;
  std::map<std::uint64_t, caf::typed_response_promise<topology_snapshot>> gather_rps;
  std::unordered_map<conn_id, conn_record> conns;
  std::vector<dial_target> targets;
  std::unordered_map<std::string, dial_info> dialing; // addr -> dial in flight
  std::unordered_set<conn_id> dropping;               // links told to go, not closed yet
  conn_id next_conn = 1;
  bool stopping = false;
  clock::time_point wake_at = clock::time_point::max();
  std::optional<caf::typed_response_promise<bool>> shutdown_rp;
  supervisor_stats stats;
  std::map<std::string, std::uint64_t> bad_by_rule;
  std::shared_ptr<spdlog::logger> log = logging::get("supervisor");

  state(caf::event_based_actor* s, supervisor_settings cfg, boost::asio::io_context* io,
        router_actor r, console_actor c)
      : self(s), settings(std::move(cfg)), ioc(io), router(std::move(r)),
        console(std::move(c)), table(settings.link->self),
        policy(settings.link->self, settings.overlay),
        members(own_record(settings), settings.membership), probes(settings.probes) {
    for (auto& p : settings.peers)
      targets.push_back(dial_target{p});
  }

  static member_record own_record(const supervisor_settings& s) {
    member_record r;
    r.node = s.link->self;
    r.incarnation = s.link->record->incarnation.load();
    r.port = s.link->listen_port;
    r.probe_port = s.link->probe_port;
    r.capacity = static_cast<std::uint16_t>(s.overlay.max_degree);
    return r;
  }

  node_id self_id() const { return settings.link->self; }

  std::uint16_t capacity() const {
    auto deg = table.size();
    auto max = settings.overlay.max_degree;
    return static_cast<std::uint16_t>(deg >= max ? 0 : max - deg);
  }

  bool target_linked(const dial_target& t) const {
    return t.peer != 0 && table.linked(t.peer);
  }

  // Links as the policy sees them: registered links, plus dials in flight as
  // outbound links (so it never dials past out <= in while they complete);
  // a callback dial asks for an inbound link and is not one.
  std::vector<link_view> link_views() const {
    std::vector<link_view> out;
    for (auto& [peer, e] : table.links())
      out.push_back({peer, e.dir});
    // A dial in flight counts as an outbound link, so that the policy does
    // not dial for the same slot twice; membership's re-dials of unreachable
    // members do not: they go on for overlay.reconnect-for (120 s), one a
    // second, and a node whose neighbours all vanished silently counted
    // them as its links and dialed nobody alive for as long (the
    // simulator's silent crash of half the nodes left the overlay in
    // pieces). If such a member comes back, its link is one more, and the
    // policy trims.
    for (auto& [_, d] : dialing)
      if (d.expected != 0 && !d.callback() && !d.reconnect && !table.linked(d.expected))
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

  std::unordered_set<node_id> dropping_peers() const {
    std::unordered_set<node_id> out;
    for (auto& [peer, e] : table.links())
      if (dropping.count(e.conn))
        out.insert(peer);
    return out;
  }

  std::vector<node_id> neighbours() const {
    std::vector<node_id> out;
    for (auto& [peer, _] : table.links())
      out.push_back(peer);
    return out;
  }

  // A membership or probe frame straight into the session of the link to
  // `peer`. Held by the session until the link is open: a link registered
  // here may not have sent its WELCOME yet, and nothing may precede it.
  void send_control(node_id peer, net::bytes frame) {
    auto* e = table.find(peer);
    if (!e)
      return;
    auto it = conns.find(e->conn);
    if (it != conns.end())
      it->second.session->send_data(
          {std::make_shared<const net::bytes>(std::move(frame))});
  }

  // Keeps one wake-up pending for the earliest of the membership's and the
  // probes' timers.
  void arm() {
    auto at = std::min(members.next_wakeup(), probes.next_wakeup());
    if (at == clock::time_point::max() || at >= wake_at)
      return;
    wake_at = at;
    self->delayed_send(self, std::max(at - clock::now(), clock::duration::zero()),
                       wake_atom::value);
  }

  void run(const membership::commands& cmds) {
    for (auto& c : cmds) {
      if (auto* r = std::get_if<membership::send_records>(&c)) {
        wire::members m{static_cast<std::uint8_t>(r->sync ? wire::members_sync : 0),
                        r->records};
        send_control(r->to, wire::encode_members(m));
      } else if (auto* y = std::get_if<membership::send_sync>(&c)) {
        send_control(y->to, wire::encode_sync(y->body));
      } else if (auto* k = std::get_if<membership::confirm>(&c)) {
        // Is its process gone? Its port refuses if so.
        auto handle = caf::actor_cast<caf::actor>(self);
        auto id = k->id;
        boost::asio::ip::tcp::endpoint ep(boost::asio::ip::address_v4(k->ip), k->port);
        net::async_check_port(*ioc, ep, std::chrono::milliseconds(500),
                              [handle, id](net::port_check r) {
                                caf::anon_send(handle, confirm_atom::value, id,
                                               r == net::port_check::refused,
                                               r == net::port_check::timeout);
                              });
      } else if (auto* rc = std::get_if<membership::reconnect>(&c)) {
        if (!table.linked(rc->id) && !stopping)
          dial(addr_of(rc->ip, rc->port),
               dial_info{rc->id, -1, 0,
                         "reconnecting: " + to_hex(rc->id) + " went silent", true},
               std::chrono::milliseconds(1000));
      } else if (auto* ch = std::get_if<membership::changed>(&c)) {
        if (ch->state == member_state::alive) {
          log->info("member {} ({}) joined", to_hex(ch->id), ch->addr);
        } else {
          log->info("member {} ({}) {}", to_hex(ch->id), ch->addr,
                    wire::to_string(ch->state));
          policy.forget(ch->id);
          if (discovery && ch->state != member_state::unreachable)
            self->send(discovery, forget_atom::value, ch->id);
        }
        self->send(console, ev_member{ch->id, ch->state, ch->addr});
      }
    }
    // A refutation raises this node's incarnation; HELLOs say so from now on.
    settings.link->record->incarnation.store(members.self().incarnation);
    settings.link->record->version.store(members.self().version);
    arm();
  }

  void run(const probe_tracker::commands& cmds) {
    for (auto& c : cmds) {
      if (auto* u = std::get_if<probe_tracker::udp_probe>(&c)) {
        if (settings.probe_socket)
          settings.probe_socket->send_probe(u->ip, u->port, u->to, u->nonce);
      } else if (auto* a = std::get_if<probe_tracker::ask>(&c)) {
        send_control(a->via, wire::encode_probe_req(a->req));
      } else if (auto* n = std::get_if<probe_tracker::answer>(&c)) {
        send_control(n->to, wire::encode_probe_ack(n->ack));
      }
    }
    arm();
  }

  void spawn_connection(session_ptr session, direction dir, std::string dialed,
                        dial_info info) {
    connection_args args;
    args.settings = settings.link;
    args.session = session;
    args.conn = next_conn++;
    args.dir = dir;
    args.dialed = dialed;
    args.hello_flags = info.flags;
    args.supervisor = caf::actor_cast<caf::actor>(self);
    args.router = router;
    auto id = args.conn;
    auto actor = self->spawn(connection, std::move(args));
    self->monitor(actor);
    conn_record rec;
    rec.actor = actor;
    rec.session = session;
    rec.write = [s = session](std::vector<net::shared_bytes> frames) {
      s->send_data(std::move(frames));
    };
    rec.dir = dir;
    rec.dialed = std::move(dialed);
    rec.info = std::move(info);
    conns.emplace(id, std::move(rec));
  }

  // Dials `addr`; the result comes back as a `dialed` message.
  void dial(const std::string& addr, dial_info info,
            std::chrono::milliseconds timeout = std::chrono::milliseconds(0)) {
    auto hp = parse_host_port(addr);
    if (!hp || dialing.count(addr) || stopping)
      return;
    stats.dials += 1;
    if (info.target < 0)
      log->info("dialing {} at {}: {}", to_hex(info.expected), addr, info.reason);
    dialing.emplace(addr, info);
    boost::asio::ip::tcp::endpoint ep(boost::asio::ip::make_address(hp->host), hp->port);
    auto handle = caf::actor_cast<caf::actor>(self);
    net::async_dial(
        *ioc, ep, timeout.count() > 0 ? timeout : settings.link->handshake_timeout,
        settings.max_payload,
        [handle, addr](std::shared_ptr<net::tcp_session> s, std::string err) {
          caf::anon_send(handle, dialed_atom::value, addr, std::move(s), std::move(err));
        });
  }

  // A dial (or its handshake) to `addr` ended without a link.
  void dial_ended(const std::string& addr, const std::string& why, bool failed) {
    auto it = dialing.find(addr);
    if (it == dialing.end())
      return;
    auto info = it->second;
    dialing.erase(it);
    bool called_back = why == "refused by peer: callback";
    if (failed && !called_back && info.expected != 0) {
      policy.dial_failed(info.expected, clock::now());
      log->info("dial of {} at {} failed: {}", to_hex(info.expected), addr, why);
      if (why == net::connection_refused)
        run(members.dial_refused(info.expected, ipv4_of(addr),
                                 parse_host_port(addr)->port, clock::now()));
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

  // The node's load changed: its heartbeats, its HELLOs, its membership
  // record (news if it matters) and discovery's announcements say so.
  void update_load() {
    auto in = static_cast<std::uint16_t>(table.count(direction::in));
    auto out = static_cast<std::uint16_t>(table.count(direction::out));
    auto& rec = *settings.link->record;
    rec.links_in.store(in);
    rec.links_out.store(out);
    rec.capacity.store(capacity());
    run(members.set_load(in, out, capacity(), clock::now()));
    if (discovery)
      self->send(discovery, load_atom::value, in, out, capacity());
  }

  // Runs the overlay policy once and carries out what it decides.
  void maintain() {
    if (stopping)
      return;
    if (discovery && members.alive() + 1 != reported_size) {
      reported_size = members.alive() + 1; // and this node
      self->send(discovery, cluster_size_atom::value,
                 static_cast<std::uint64_t>(reported_size));
    }
    auto links = link_views();
    auto actions = policy.decide(links, pending(), dropping_peers(), members.members(),
                                 clock::now());
    // Unmanaged: a static topology from node.peers; only an isolated node
    // with discovery links up (discovery's first dial).
    if (!settings.manage && (!links.empty() || !discovery))
      return;
    for (auto& a : actions) {
      if (auto* d = std::get_if<overlay_policy::dial>(&a)) {
        stats.redials += 1;
        dial(d->addr, dial_info{d->id, -1, 0, d->reason});
      } else if (auto* inv = std::get_if<overlay_policy::invite>(&a)) {
        dial(inv->addr,
             dial_info{inv->target, -1, wire::hello_callback,
                       "asking it to dial us (in " +
                           std::to_string(table.count(direction::in)) + ", out " +
                           std::to_string(table.count(direction::out)) + ")"});
      } else if (auto* r = std::get_if<overlay_policy::reverse>(&a)) {
        if (auto* e = table.find(r->peer)) {
          log->info("asking {} to reverse our link (in {}, out {})", to_hex(r->peer),
                    table.count(direction::in), table.count(direction::out));
          send_control(r->peer, wire::encode_reverse());
          (void)e;
        }
      } else if (auto* dr = std::get_if<overlay_policy::drop>(&a)) {
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
      else if (c.bad_frame == "auth_failed")
        stats.auth_failures += 1;
      else
        stats.bad_frames += 1;
    }
    if (c.reason.rfind("refused", 0) == 0 || c.reason == "duplicate" ||
        c.reason == "full" || c.reason == "callback" || c.reason == "callback declined")
      stats.refused += 1;
    if (auto gone = table.remove(c.conn)) {
      log->info("peer {} down ({}): {}", to_hex(gone->peer), to_string(gone->dir),
                c.reason);
      if (it != conns.end())
        self->send(router, link_down_atom::value, gone->peer, it->second.actor);
      self->send(console, ev_peer_down{gone->peer, c.reason});
      probes.clear(gone->peer);
      run(members.link_down(gone->peer, end_of(c), clock::now()));
      update_load();
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
    auto now = clock::now();
    rec.addr = o.addr;
    rec.loopback = o.loopback;
    rec.peer = o.peer;
    for (auto& t : targets) {
      if (t.addr.to_string() == o.addr) {
        t.peer = o.peer;
        t.backoff = std::chrono::milliseconds(0);
      }
    }
    if (o.dir == direction::out && rec.info.expected != 0 &&
        rec.info.expected != o.peer) {
      // Another node answers where we expected this one: it is gone.
      log->info("{} answered at {} where {} was expected", to_hex(o.peer), rec.dialed,
                to_hex(rec.info.expected));
      run(members.dial_refused(rec.info.expected, ipv4_of(rec.dialed),
                               parse_host_port(rec.dialed)->port, now));
    }
    link_request req;
    req.peer = o.peer;
    req.dir = o.dir;
    req.serves = o.record.port != 0;
    req.peer_load = std::uint32_t{o.record.links_in} + o.record.links_out;
    req.reverse = o.reverse;
    req.callback = o.callback;
    auto adm =
        policy.admit(req, link_views(), table.linked(o.peer), members.members(), now);
    if (adm.what == overlay_policy::admission::refuse) {
      if (adm.reason != "full") {
        log->info("peer {} ({}) refused: {}", to_hex(o.peer), o.addr, adm.reason);
        return {adm.reason, nullptr};
      }
      // Full: refuse, but name less loaded nodes to try instead.
      wire::redirect rd;
      for (auto& m : adm.redirect)
        if (!o.loopback && loopback_ip(ipv4_of(m.addr)))
          continue; // a loopback address means nothing on the peer's machine
        else
          rd.entries.push_back({m.id, ipv4_of(m.addr), parse_host_port(m.addr)->port});
      log->info("peer {} ({}) refused: full ({} links); redirected to {} node(s)",
                to_hex(o.peer), o.addr, table.size(), rd.entries.size());
      return {"full", rd.entries.empty() ? nullptr
                                         : std::make_shared<const net::bytes>(
                                               wire::encode_redirect(rd))};
    }
    if (adm.what == overlay_policy::admission::call_back) {
      log->info("peer {} asks for an inbound link: dialing it back", to_hex(o.peer));
      if (!o.addr.empty())
        dial(o.addr, dial_info{o.peer, -1, 0, "invited by " + to_hex(o.peer)});
      return {"callback", nullptr};
    }
    if (o.reverse && !adm.reverse)
      log->warn("peer {} ({}): reverse flag ignored: we did not ask it to reverse",
                to_hex(o.peer), o.addr);
    auto d = table.offer(o.conn, o.peer, o.dir, adm.reverse);
    // The dial of a configured peer is over (linked, or a duplicate): when
    // this link ends, the target is dialed again (dial_ended no longer sees
    // the dial, its entry goes below).
    if (o.dir == direction::out && rec.info.target >= 0)
      targets[static_cast<std::size_t>(rec.info.target)].in_flight = false;
    if (o.dir == direction::out && d.what != link_table::verdict::refuse) {
      dialing.erase(rec.dialed);
      policy.dial_succeeded(o.peer);
    }
    switch (d.what) {
    case link_table::verdict::accept:
      rec.up = true;
      rec.since = now;
      log->info("peer {} up ({}, {}){}", to_hex(o.peer), to_string(o.dir), o.addr,
                rec.info.reason.empty() ? "" : ": " + rec.info.reason);
      self->send(router, link_up_atom::value, o.peer, rec.actor, rec.write);
      self->send(console, ev_peer_up{o.peer, o.addr, o.dir});
      run(members.link_up(o.record, o.loopback, o.dir == direction::out, now));
      update_load();
      return {};
    case link_table::verdict::replace: {
      log->info("peer {}: link {} replaces {} ({})", to_hex(o.peer), to_string(o.dir),
                to_string(d.retired->dir),
                adm.reverse ? "reversed on request" : "dialed by smaller id");
      rec.up = true;
      auto old = conns.find(d.retired->conn);
      if (old != conns.end()) {
        rec.since = old->second.since;
        self->send(router, replace_atom::value, o.peer, rec.actor, rec.write,
                   old->second.actor, o.dir == direction::out);
      }
      update_load();
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
    auto snap = gathers.take(seq, clock::now());
    auto rp = gather_rps.find(seq);
    if (!snap || rp == gather_rps.end())
      return;
    log->info("topology snapshot: {} of {} node(s) answered in {:.1f} ms",
              snap->answers.size(), snap->known.size(), snap->took_ms);
    rp->second.deliver(std::move(*snap));
    gather_rps.erase(rp);
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
        st->handle_closed(link_closed{conn, "connection actor died", {}, false});
        st->conns.erase(conn);
        st->finish_shutdown_if_done();
        return;
      }
    }
  });

  if (st->settings.probe_socket) {
    auto handle = caf::actor_cast<caf::actor>(self);
    st->settings.probe_socket->start(
        st->self_id(), st->settings.link->cluster,
        [handle](std::uint64_t from, std::uint64_t nonce) {
          caf::anon_send(handle, udp_ack_atom::value, from, nonce);
        },
        st->settings.link->keys);
    self->attach_functor([s = st->settings.probe_socket] { s->close(); });
  }
  for (std::size_t i = 0; i < st->targets.size(); ++i)
    self->send(self, dial_atom::value, static_cast<std::uint64_t>(i));
  self->send(st->router, wire_atom::value, caf::actor_cast<caf::actor>(self));
  self->delayed_send(self, st->settings.maintain_interval, maintain_atom::value);
  st->update_load();

  return {
      [=](wire_atom, caf::actor discovery) {
        st->discovery = std::move(discovery);
        st->update_load();
      },
      [=](inbound_atom, session_ptr& session) {
        if (st->stopping) {
          session->abort("node stopping");
          return;
        }
        std::size_t pending = 0;
        for (auto& [id, c] : st->conns)
          pending += c.dir == direction::in && c.peer == 0 ? 1 : 0;
        if (pending >= st->settings.max_pending) {
          st->stats.pending_refused += 1;
          // Logged at the first and then every 100th, so a flood does not
          // flood the log.
          if (st->stats.pending_refused % 100 == 1)
            st->log->warn("{} inbound links still in their handshake (node.max-pending): "
                          "closing {}:{} at once ({} so far)",
                          pending, session->remote().address().to_string(),
                          session->remote().port(), st->stats.pending_refused);
          session->abort("too many pending handshakes");
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
          auto it = st->dialing.find(addr);
          if (it != st->dialing.end() && st->discovery && it->second.expected != 0)
            self->send(st->discovery, forget_atom::value, it->second.expected);
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
          st->policy.hint(c.id, c.addr(), c.links_in, c.links_out, c.capacity, now);
        st->maintain();
      },
      [=](members_atom, conn_id, node_id peer, wire::members& m) {
        if (!st->table.linked(peer))
          return;
        st->run(st->members.received(peer, m.records, (m.flags & wire::members_sync) != 0,
                                     clock::now()));
      },
      [=](sync_atom, conn_id, node_id peer, const wire::sync& y) {
        if (!st->table.linked(peer))
          return;
        st->run(st->members.sync_received(peer, y, clock::now()));
      },
      [=](suspect_atom, conn_id, node_id peer, bool on) {
        if (!on) {
          st->probes.clear(peer);
          return;
        }
        auto* m = st->members.find(peer);
        std::uint32_t ip = m ? m->rec.ip : 0;
        std::uint16_t port = m ? m->rec.probe_port : 0;
        st->log->info("link to {} silent: probing it ({} other neighbour(s) asked)",
                      to_hex(peer),
                      std::min(st->settings.probes.indirect, st->table.size() - 1));
        st->run(st->probes.suspect(peer, ip, port, st->neighbours(), clock::now()));
      },
      [=](heard_atom, node_id peer) -> std::int64_t {
        // A connection whose link fell silent asks whether its peer answered
        // a probe (actors/proto/liveness.hpp).
        auto ago = st->probes.heard(peer, clock::now());
        if (!ago)
          return -1;
        return std::chrono::duration_cast<std::chrono::milliseconds>(*ago).count();
      },
      [=](probe_req_atom, conn_id conn, node_id peer, const wire::probe_req& r) {
        auto it = st->conns.find(conn);
        bool loopback = it != st->conns.end() && it->second.loopback;
        if (st->table.linked(peer))
          st->run(st->probes.request(peer, r, loopback, clock::now()));
      },
      [=](probe_ack_atom, conn_id, node_id peer, const wire::probe_ack& a) {
        st->probes.neighbour_answer(peer, a, clock::now());
      },
      [=](udp_ack_atom, std::uint64_t from, std::uint64_t nonce) {
        st->run(st->probes.udp_answer(from, nonce, clock::now()));
      },
      [=](confirm_atom, node_id id, bool refused, bool timed_out) {
        if (refused)
          st->log->info("{}'s port refused: its process is gone", to_hex(id));
        st->run(st->members.confirmed(id, refused, timed_out, clock::now()));
        st->maintain();
      },
      [=](peer_load_atom, node_id peer, std::uint16_t in, std::uint16_t out,
          std::uint16_t cap) { st->members.peer_load(peer, in, out, cap); },
      [=](wake_atom) {
        auto now = clock::now();
        if (now < st->wake_at)
          return st->arm(); // an older wake-up; the right one is pending
        st->wake_at = clock::time_point::max();
        st->run(st->members.tick(now));
        auto via = [&](node_id) { return st->neighbours(); };
        st->run(st->probes.tick(via, now));
      },
      [=](reverse_atom, conn_id conn, node_id peer) {
        auto it = st->conns.find(conn);
        if (it == st->conns.end() || !st->settings.manage ||
            !st->policy.accept_reverse(st->link_views(), peer))
          return;
        st->dial(it->second.addr, dial_info{peer, -1, wire::hello_reverse,
                                            "reverse requested by " + to_hex(peer)});
      },
      [=](redirect_atom, const std::vector<wire::redirect_entry>& entries,
          bool loopback) {
        auto now = clock::now();
        std::size_t taken = 0;
        for (auto& e : entries) {
          if (e.node == st->self_id() || e.port == 0 || !possible_member_ip(e.ip) ||
              (loopback_ip(e.ip) && !loopback))
            continue;
          st->policy.hint(e.node, addr_of(e.ip, e.port), 0, 0, 1, now);
          ++taken;
        }
        st->log->info("redirected to {} node(s)", taken);
      },
      [=](redirect_atom, bool) {
        st->stats.redirects_rejected += 1;
        st->log->warn(
            "REDIRECT on a link this node did not dial, or after its handshake: "
            "ignored");
      },
      [=](rtt_atom, conn_id conn, std::int64_t rtt_us) {
        auto it = st->conns.find(conn);
        if (it != st->conns.end()) {
          it->second.rtt_us = rtt_us;
          it->second.rtt_at = clock::now();
          // The tree's graft waits follow the link's round trip.
          if (it->second.peer != 0)
            self->send(st->router, rtt_atom::value, it->second.peer, rtt_us);
        }
        st->stats.rtt_hist.observe(rtt_us); // lanmesh_link_rtt_seconds
      },
      [=](maintain_atom) {
        st->maintain();
        // On the node's beat grid (the links' heartbeats share it).
        auto now = clock::now();
        self->delayed_send(self,
                           next_beat<clock>(now, st->settings.maintain_interval,
                                            st->settings.link->self) -
                               now,
                           maintain_atom::value);
      },
      [=](topology_atom) {
        // Ask every node over the overlay; answers come back along the
        // query's path. Done when all known nodes answered, or at the timeout.
        wire::topo_query q{
            st->self_id(),
            std::random_device{}() | (std::uint64_t{std::random_device{}()} << 32), 0};
        std::vector<std::pair<node_id, std::string>> known;
        for (auto& [id, m] : st->members.members())
          if (m.alive() || m.linked)
            known.emplace_back(id, m.addr());
        for (auto& [peer, e] : st->table.links()) {
          if (!st->members.find(peer)) {
            auto it = st->conns.find(e.conn);
            known.emplace_back(peer, it == st->conns.end() ? "" : it->second.addr);
          }
        }
        auto rp = self->make_response_promise<topology_snapshot>();
        st->gather_rps.emplace(q.seq, rp);
        if (st->gathers.begin(q.seq, st->self_id(), st->settings.self_addr,
                              st->own_record(q), std::move(known), clock::now())) {
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
        auto* m = st->members.find(r.node);
        auto seq = r.query_seq;
        if (st->gathers.answer(std::move(r), m ? m->addr() : std::string{}))
          st->finish_gather(seq);
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
          auto traffic = rec.session->counters();
          out.push_back(peer_info{peer, rec.addr, e.dir, ms(rec.since), rec.rtt_us,
                                  rec.rtt_us < 0 ? -1 : ms(rec.rtt_at), traffic.queued,
                                  traffic.frames_in, traffic.frames_out});
        }
        return out;
      },
      [=](caf::get_atom, members_atom) {
        std::vector<member_info> out;
        auto now = clock::now();
        for (auto& [id, m] : st->members.members()) {
          member_info i;
          i.id = id;
          i.addr = m.addr();
          i.state = m.rec.state;
          i.incarnation = m.rec.incarnation;
          i.links_in = m.rec.links_in;
          i.links_out = m.rec.links_out;
          i.capacity = m.rec.capacity;
          i.linked = st->table.linked(id);
          i.changed_ms =
              std::chrono::duration_cast<std::chrono::milliseconds>(now - m.changed)
                  .count();
          out.push_back(std::move(i));
        }
        return out;
      },
      [=](caf::get_atom, stats_atom) {
        auto rp = self->make_response_promise<supervisor_stats>();
        auto acc = std::make_shared<supervisor_stats>(st->stats);
        acc->links_in = st->table.count(direction::in);
        acc->links_out = st->table.count(direction::out);
        acc->members = st->members.alive();
        acc->membership = st->members.stats();
        acc->probes = st->probes.stats();
        if (st->settings.probe_socket) {
          auto u = st->settings.probe_socket->stats();
          acc->udp_sent = u.sent;
          acc->udp_answered = u.answered;
          acc->udp_bad = u.bad;
          acc->udp_foreign = u.foreign;
        }
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
        // Tell every neighbour this node leaves (they pass it on), then say
        // goodbye on every link; answer once all have closed, or at the
        // deadline, when the remaining connection actors are killed.
        st->run(st->members.leave(clock::now()));
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
