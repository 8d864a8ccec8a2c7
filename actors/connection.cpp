#include "actors/connection.hpp"

#include "actors/logging.hpp"
#include "actors/proto/beat_grid.hpp"
#include "actors/proto/liveness.hpp"
#include "actors/text_escape.hpp"

#include <algorithm>
#include <cstdlib>
#include <optional>

namespace lanmesh {

namespace {

using clock = std::chrono::steady_clock;

enum class phase {
  handshake,   // waiting for HELLO (in) or WELCOME (out)
  registering, // hello exchanged; the supervisor decides if this link stays
  established,
  standby, // lost a duplicate tie-break; silent until the peer retires it
  closing, // goodbye sent or received; draining until EOF
};

struct state {
  connection_args args;
  std::shared_ptr<spdlog::logger> log;
  phase ph = phase::handshake;
  node_id peer = 0;
  std::string peer_addr; // the peer's listening address
  clock::time_point last_rx = clock::now();
  std::uint32_t out_of_order = 0; // TCP's count at the last look
  bool reported = false;          // link_closed sent
  // The peer's last heartbeat: its nonce and when it came (for the echo).
  std::uint64_t peer_nonce = 0;
  clock::time_point peer_nonce_at{};
  // The peer's load as last told to the supervisor.
  std::uint16_t peer_in = 0, peer_out = 0, peer_cap = 0;
  bool suspect = false;       // the supervisor is probing the peer
  std::int64_t told_rtt = -1; // the round trip last told to the supervisor, us
  int rtt_skipped = 0;
  // Silent past dead-after but kept on the probes' word: since when.
  std::optional<clock::time_point> waiting_since;
  bool vouched = false; // probes were answered during this silence
  clock::time_point check_at = clock::time_point::max(); // next look armed
  // The session's last read when its silence watch fired; a later read
  // has armed the watch again.
  clock::time_point watch_read{};
  clock::time_point seen_read{}; // the session's last read at the last look
};

link_counters counters_of(const net::tcp_session& s) {
  auto t = s.counters();
  return {t.frames_in, t.frames_out, t.bytes_in, t.bytes_out};
}

std::uint64_t now_ns() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        clock::now().time_since_epoch())
                                        .count());
}

bool is_membership_frame(wire::frame_type t) {
  using ft = wire::frame_type;
  return t == ft::members || t == ft::sync || t == ft::probe_req || t == ft::probe_ack ||
         t == ft::topo_query || t == ft::topo_reply;
}

} // namespace

std::string check_hello(const link_settings& s, const wire::hello& h) {
  if (h.version != wire::version)
    return "incompatible version " + std::to_string(h.version) + " (ours " +
           std::to_string(wire::version) + ")";
  if (h.cluster != s.cluster)
    return "cluster mismatch: " + escape_text(h.cluster) + " (ours " + s.cluster + ")";
  if (h.node == s.self)
    return refuse_self;
  if (((h.flags & wire::hello_tree) != 0) != s.tree)
    return std::string("broadcast mode mismatch: ") +
           ((h.flags & wire::hello_tree) ? "tree" : "flood") + " (ours " +
           (s.tree ? "tree" : "flood") + ")";
  return {};
}

wire::hello make_hello(const link_settings& s, std::uint8_t flags) {
  wire::hello h;
  h.cluster = s.cluster;
  h.node = s.self;
  h.incarnation = s.record->incarnation.load();
  h.record_version = s.record->version.load();
  h.listen_port = s.listen_port;
  h.probe_port = s.probe_port;
  h.flags = static_cast<std::uint8_t>(flags | (s.tree ? wire::hello_tree : 0));
  h.links_in = s.record->links_in.load();
  h.links_out = s.record->links_out.load();
  h.capacity = s.record->capacity.load();
  return h;
}

caf::behavior connection(caf::event_based_actor* self, connection_args args) {
  auto st = std::make_shared<state>();
  st->args = std::move(args);
  st->log = logging::get("connection");
  auto& a = st->args;
  auto remote = a.session->remote();
  auto remote_ip = remote.address().to_string();
  auto tag = std::string(to_string(a.dir)) + " " + remote_ip + ":" +
             std::to_string(remote.port());

  auto send_frame = [st](net::shared_bytes bytes) {
    st->args.session->send(std::move(bytes));
  };
  auto make = [](net::bytes b) {
    return std::make_shared<const net::bytes>(std::move(b));
  };

  // Tells the supervisor once that this link no longer carries traffic.
  auto report = [self, st](std::string reason, std::string bad_frame = {},
                           bool peer_alive = false) {
    if (st->reported)
      return;
    st->reported = true;
    self->send(st->args.supervisor,
               link_closed{st->args.conn, reason, bad_frame, peer_alive});
  };
  // Sends `last` (goodbye/refuse), then drains until the peer closes.
  auto close_gracefully = [self, st, report, tag](net::bytes last, std::string reason,
                                                  std::string bad_frame = {}) {
    if (st->ph == phase::closing)
      return;
    st->log->info("link {} peer {} closing: {}", tag, to_hex(st->peer), reason);
    st->ph = phase::closing;
    st->args.session->close_gracefully(
        std::make_shared<const net::bytes>(std::move(last)), st->args.settings->linger);
    report(std::move(reason), std::move(bad_frame));
  };
  // The session ended: report and die.
  auto finish = [self, st, report](std::string reason) {
    report(std::move(reason));
    self->send(st->args.supervisor, final_atom::value, st->args.conn,
               counters_of(*st->args.session));
    self->quit();
  };

  // Session callbacks run on the I/O thread: they only post to this actor.
  auto handle = caf::actor_cast<caf::actor>(self);
  net::tcp_session::handlers h;
  h.on_frame = [handle](wire::frame f) { caf::anon_send(handle, std::move(f)); };
  h.on_bad_input = [handle](wire::decode_error e) {
    caf::anon_send(handle, bad_input_atom::value, std::move(e));
  };
  h.on_closed = [handle](std::string reason) {
    caf::anon_send(handle, closed_atom::value, std::move(reason));
  };
  h.on_auth_failed = [handle](std::string reason) {
    caf::anon_send(handle, auth_atom::value, std::move(reason));
  };
  if (a.settings->keys) {
    if (auto ring = a.settings->keys->get(); !ring->empty())
      a.session->require_key(a.dir == direction::out ? net::link_auth::role::dialer
                                                     : net::link_auth::role::acceptor,
                             std::move(ring), a.settings->self);
  }
  a.session->start(std::move(h));
  // If this actor is killed, its socket goes too (and with it the handlers
  // that hold this actor: no reference cycle survives shutdown).
  self->attach_functor(
      [session = a.session] { session->abort("connection actor exited"); });

  if (a.dir == direction::out)
    send_frame(make(wire::encode_hello(make_hello(*a.settings, a.hello_flags))));
  self->delayed_send(self, a.settings->handshake_timeout, hs_timeout_atom::value);

  // A handshake completed at the wire level: ask the supervisor if it stays.
  auto offer = [self, st, tag, make, send_frame, close_gracefully](const wire::hello& h) {
    st->peer = h.node;
    auto addr = st->args.session->remote().address();
    auto ip = addr.to_string();
    // A peer that does not serve (listen port 0) has no address to dial.
    st->peer_addr = st->args.dir == direction::out ? st->args.dialed
                    : h.listen_port == 0           ? std::string{}
                                         : ip + ":" + std::to_string(h.listen_port);
    st->ph = phase::registering;
    auto flags = st->args.dir == direction::in ? h.flags : st->args.hello_flags;
    link_offer o;
    o.conn = st->args.conn;
    o.peer = h.node;
    o.dir = st->args.dir;
    o.addr = st->peer_addr;
    o.reverse = (flags & wire::hello_reverse) != 0;
    o.callback = (flags & wire::hello_callback) != 0;
    o.loopback = addr.is_loopback();
    o.record.node = h.node;
    o.record.incarnation = h.incarnation;
    o.record.version = h.record_version;
    o.record.ip = addr.is_v4() ? addr.to_v4().to_uint() : 0;
    o.record.port = h.listen_port;
    o.record.probe_port = h.probe_port;
    o.record.links_in = h.links_in;
    o.record.links_out = h.links_out;
    o.record.capacity = h.capacity;
    st->peer_in = h.links_in;
    st->peer_out = h.links_out;
    st->peer_cap = h.capacity;
    self->request(st->args.supervisor, caf::infinite, register_atom::value, o)
        .then([self, st, tag, make, send_frame,
               close_gracefully](const register_reply& r) {
          if (st->ph != phase::registering)
            return;
          auto& refusal = r.refusal;
          if (r.redirect)
            send_frame(r.redirect);
          if (refusal == "standby") {
            self->send(self, standby_atom::value);
            return;
          }
          if (!refusal.empty()) { // "duplicate", "full", "callback", ...
            close_gracefully(st->args.dir == direction::in
                                 ? wire::encode_refuse(refusal)
                                 : wire::encode_goodbye(refusal),
                             refusal);
            return;
          }
          if (st->args.dir == direction::in)
            send_frame(make(wire::encode_hello(make_hello(*st->args.settings, 0), true)));
          st->ph = phase::established;
          // From here the router and the relay write to the session
          // directly, after our WELCOME, and the peer's broadcasts go to the
          // relay on the I/O thread, where the sink runs.
          st->args.session->open();
          st->args.session->route_broadcasts(
              [fast = st->args.settings->fast_path,
               peer = st->peer](net::shared_bytes frames, std::size_t) {
                fast->inbound(peer, frames->data(), frames->size(),
                              std::chrono::steady_clock::now());
              });
          st->log->info("link {} up with peer {} ({})", tag, to_hex(st->peer),
                        st->peer_addr);
          // The session watches for silence on the I/O thread: the peer's
          // heartbeats keep it quiet; a silence a sixth of a heartbeat too
          // long is looked at here (actors/proto/liveness).
          auto handle = caf::actor_cast<caf::actor>(self);
          st->args.session->watch_silence(
              st->args.settings->suspect_after, [handle](net::tcp_session::liveness l) {
                caf::anon_send(handle, probe_atom::value,
                               static_cast<std::uint64_t>(l.unread), l.out_of_order,
                               l.last_read, true);
              });
          self->send(self, tick_atom::value);
        });
  };

  // A frame that breaks the protocol's order: count it like a bad frame.
  auto protocol_error = [self, st, tag, close_gracefully](const std::string& what) {
    st->log->warn("link {} peer {}: protocol error: {}", tag, to_hex(st->peer), what);
    close_gracefully(wire::encode_goodbye("protocol error: " + what),
                     "bad frame: unexpected_frame", "unexpected_frame");
  };

  // Arms one look at the link for `at` unless an earlier one is armed.
  auto look_at = [self, st](clock::time_point at) {
    if (at >= st->check_at)
      return;
    st->check_at = at;
    self->delayed_send(self, std::max(at - clock::now(), clock::duration::zero()),
                       probe_atom::value);
  };

  return {
      [=](wire::frame& f) {
        st->last_rx = clock::now();
        if (is_membership_frame(f.type)) {
          // Membership, probes and topology: only between nodes that have
          // completed the handshake (the supervisor registers the link
          // before any of these reach it: same sender, in order).
          if (st->ph == phase::handshake) {
            protocol_error("membership frame before handshake");
            return;
          }
          if (st->ph == phase::closing)
            return;
          auto peer = st->peer;
          auto conn = st->args.conn;
          auto& sup = st->args.supervisor;
          switch (f.type) {
          case wire::frame_type::members:
            self->send(sup, members_atom::value, conn, peer,
                       std::move(std::get<wire::members>(f.body)));
            return;
          case wire::frame_type::sync:
            self->send(sup, sync_atom::value, conn, peer, std::get<wire::sync>(f.body));
            return;
          case wire::frame_type::probe_req:
            self->send(sup, probe_req_atom::value, conn, peer,
                       std::get<wire::probe_req>(f.body));
            return;
          case wire::frame_type::probe_ack:
            self->send(sup, probe_ack_atom::value, conn, peer,
                       std::get<wire::probe_ack>(f.body));
            return;
          case wire::frame_type::topo_query:
            self->send(st->args.router, topology_atom::value,
                       std::get<wire::topo_query>(f.body), peer);
            return;
          case wire::frame_type::topo_reply:
            self->send(st->args.router, topology_atom::value,
                       std::move(std::get<wire::topo_reply>(f.body)), peer);
            return;
          default:
            return;
          }
        }
        switch (f.type) {
        case wire::frame_type::hello:
        case wire::frame_type::welcome: {
          bool expected =
              st->ph == phase::handshake &&
              (f.type == wire::frame_type::hello) == (st->args.dir == direction::in);
          if (!expected) {
            if (st->ph != phase::closing)
              protocol_error("unexpected hello/welcome");
            return;
          }
          auto& h = std::get<wire::hello>(f.body);
          // Under the cluster key a peer proved an id: its HELLO must carry
          // it, or one key holder could speak for another node.
          if (auto proved = st->args.session->authenticated_peer();
              proved != 0 && proved != h.node) {
            st->log->warn("link {}: HELLO says node {} but the handshake proved {}", tag,
                          to_hex(h.node), to_hex(proved));
            st->ph = phase::closing;
            st->args.session->abort("hello id differs from the authenticated id");
            report("authentication failed: hello id differs from the authenticated id",
                   "auth_failed");
            return;
          }
          if (auto why = check_hello(*st->args.settings, h); !why.empty()) {
            st->peer = h.node;
            close_gracefully(st->args.dir == direction::in ? wire::encode_refuse(why)
                                                           : wire::encode_goodbye(why),
                             "refused: " + why);
            return;
          }
          offer(h);
          return;
        }
        case wire::frame_type::refuse: {
          auto& r = std::get<wire::refuse>(f.body);
          st->log->info("link {}: refused by peer: {}", tag, escape_text(r.reason));
          if (st->ph == phase::closing)
            return;
          st->ph = phase::closing; // the peer closes; we drain, for a while
          st->args.session->close_gracefully(nullptr, st->args.settings->linger);
          report(r.reason == "duplicate" ? "duplicate"
                                         : "refused by peer: " + escape_text(r.reason));
          return;
        }
        case wire::frame_type::goodbye: {
          auto& g = std::get<wire::goodbye>(f.body);
          st->log->info("link {} peer {}: goodbye ({})", tag, to_hex(st->peer),
                        escape_text(g.reason));
          // Overlay maintenance reasons are shown as such; any other leave is
          // a goodbye.
          auto reason =
              g.reason == "duplicate" || g.reason == "rebalance" || g.reason == "trim"
                  ? g.reason
                  : std::string("goodbye");
          close_gracefully(wire::encode_goodbye(reason), reason);
          return;
        }
        case wire::frame_type::broadcast:
          // Accepted once hellos were exchanged, even on a link that is being
          // retired: every frame the peer wrote before its goodbye counts.
          if (st->ph == phase::handshake) {
            protocol_error("broadcast before handshake");
            return;
          }
          // Only until the session routes broadcasts itself (established).
          {
            auto& b = std::get<wire::broadcast>(f.body);
            auto frames = std::make_shared<net::bytes>();
            wire::append_broadcast(*frames, b.origin, b.epoch, b.seq, b.hops, b.payload);
            self->send(st->args.router,
                       inbound_broadcasts{std::move(frames), 1, st->peer});
          }
          return;
        case wire::frame_type::ihave:
        case wire::frame_type::graft:
        case wire::frame_type::prune:
        case wire::frame_type::iwant:
        case wire::frame_type::nothave:
        case wire::frame_type::streams: {
          // The tree's frames, likewise, until the session routes them.
          if (st->ph == phase::handshake) {
            protocol_error("broadcast tree frame before handshake");
            return;
          }
          std::vector<wire::stream_range> ranges;
          std::visit(
              [&](auto& body) {
                using T = std::decay_t<decltype(body)>;
                if constexpr (std::is_same_v<T, wire::ihave>)
                  ranges = body.ranges;
                else if constexpr (std::is_same_v<T, wire::prune> ||
                                   std::is_same_v<T, wire::streams>)
                  ranges = body.streams;
                else if constexpr (std::is_same_v<T, wire::graft> ||
                                   std::is_same_v<T, wire::iwant> ||
                                   std::is_same_v<T, wire::nothave>)
                  ranges = {body.range};
              },
              f.body);
          auto frames =
              std::make_shared<net::bytes>(wire::encode_tree_frame(f.type, ranges));
          self->send(st->args.router, inbound_broadcasts{std::move(frames), 1, st->peer});
          return;
        }
        case wire::frame_type::ping: {
          if (st->ph == phase::handshake) {
            protocol_error("heartbeat before handshake");
            return;
          }
          auto& p = std::get<wire::ping>(f.body);
          st->peer_nonce = p.nonce;
          st->peer_nonce_at = st->last_rx;
          // Our own heartbeat's echo: the round trip, less the time the peer
          // held it.
          auto now = now_ns();
          auto held = std::uint64_t{p.echo_delay_us} * 1000;
          if (p.echo != 0 && p.echo <= now && now - p.echo >= held) {
            // Told to the supervisor when it moved by a tenth, or every ten
            // heartbeats: one actor message less per heartbeat.
            auto rtt = static_cast<std::int64_t>((now - p.echo - held) / 1000);
            auto moved = std::abs(rtt - st->told_rtt) * 10 > st->told_rtt;
            if (moved || ++st->rtt_skipped >= 10) {
              st->told_rtt = rtt;
              st->rtt_skipped = 0;
              self->send(st->args.supervisor, rtt_atom::value, st->args.conn, rtt);
            }
          }
          if (p.links_in != st->peer_in || p.links_out != st->peer_out ||
              p.capacity != st->peer_cap) {
            st->peer_in = p.links_in;
            st->peer_out = p.links_out;
            st->peer_cap = p.capacity;
            self->send(st->args.supervisor, peer_load_atom::value, st->peer, p.links_in,
                       p.links_out, p.capacity);
          }
          return;
        }
        case wire::frame_type::reverse:
          if (st->ph == phase::established)
            self->send(st->args.supervisor, reverse_atom::value, st->args.conn, st->peer);
          return;
        case wire::frame_type::redirect:
          // A full node names others to try before its REFUSE: taken only on
          // a link this node dialed, while its handshake is open.
          if (st->args.dir == direction::out && st->ph == phase::handshake) {
            self->send(st->args.supervisor, redirect_atom::value,
                       std::get<wire::redirect>(f.body).entries,
                       st->args.session->remote().address().is_loopback());
            return;
          }
          self->send(st->args.supervisor, redirect_atom::value, false);
          if (st->ph != phase::closing)
            protocol_error(st->args.dir == direction::in
                               ? "redirect on an inbound link"
                               : "redirect after the handshake");
          return;
        default:
          return;
        }
      },
      [=](bad_input_atom, wire::decode_error& e) {
        auto rule = wire::to_string(e.code);
        st->log->warn("link {} peer {}: bad input ({}): {}", tag, to_hex(st->peer), rule,
                      e.detail);
        report(std::string("bad frame: ") + rule, rule);
        // The session closes itself after a bad frame; closed_atom follows.
      },
      [=](auth_atom, std::string& reason) {
        st->log->warn("link {}: authentication failed: {}", tag, reason);
        report("authentication failed: " + reason, "auth_failed");
        // The session closed itself; closed_atom follows.
      },
      [=](closed_atom, std::string& reason) {
        if (st->ph != phase::closing)
          st->log->info("link {} peer {} closed: {}", tag, to_hex(st->peer), reason);
        finish(reason == "closed by peer" || reason.find("reset") != std::string::npos
                   ? std::string("reset")
                   : reason);
      },
      [=](send_atom, const net::shared_bytes& bytes) {
        // Held by the session until the link is established.
        if (st->ph == phase::established || st->ph == phase::registering)
          st->args.session->send_data({bytes});
      },
      [=](standby_atom) {
        if (st->ph == phase::closing || st->ph == phase::standby)
          return;
        st->ph = phase::standby;
        st->log->info("link {} peer {}: duplicate, standing by for the peer's goodbye",
                      tag, to_hex(st->peer));
        self->delayed_send(self, st->args.settings->handshake_timeout,
                           standby_atom::value, caf::timeout_atom::value);
      },
      [=](standby_atom, caf::timeout_atom) {
        if (st->ph == phase::standby)
          close_gracefully(wire::encode_goodbye("duplicate"), "duplicate");
      },
      [=](retire_atom, const std::string& reason) {
        close_gracefully(wire::encode_goodbye(reason), reason);
      },
      [=](tick_atom) {
        if (st->ph != phase::established)
          return;
        // The heartbeat: our clock, the echo of the peer's last one, our load.
        auto& rec = *st->args.settings->record;
        wire::ping p;
        p.nonce = now_ns();
        if (st->peer_nonce != 0) {
          p.echo = st->peer_nonce;
          p.echo_delay_us = static_cast<std::uint32_t>(
              std::chrono::duration_cast<std::chrono::microseconds>(clock::now() -
                                                                    st->peer_nonce_at)
                  .count());
        }
        p.links_in = rec.links_in.load();
        p.links_out = rec.links_out.load();
        p.capacity = rec.capacity.load();
        send_frame(make(wire::encode_ping(p)));
        // On the node's beat grid: all its links' heartbeats in one wake-up.
        auto& cfg = *st->args.settings;
        auto now = clock::now();
        self->delayed_send(self, next_beat<clock>(now, cfg.heartbeat, cfg.self) - now,
                           tick_atom::value);
      },
      [=](probe_atom) {
        st->check_at = clock::time_point::max();
        if (st->ph != phase::established)
          return;
        // Let the I/O thread answer: after a stall of the whole machine the
        // peer's frames may be waiting unread in the kernel.
        auto handle = caf::actor_cast<caf::actor>(self);
        st->args.session->probe([handle](net::tcp_session::liveness l) {
          caf::anon_send(handle, probe_atom::value, static_cast<std::uint64_t>(l.unread),
                         l.out_of_order, l.last_read, false);
        });
      },
      [=](probe_atom, std::uint64_t unread, std::uint32_t out_of_order,
          clock::time_point last_read, bool from_watch) {
        if (st->ph != phase::established)
          return;
        if (from_watch)
          st->watch_read = last_read;
        st->seen_read = last_read;
        auto& cfg = *st->args.settings;
        // Broadcasts bypass this actor: the session knows when bytes came.
        st->last_rx = std::max(st->last_rx, last_read);
        liveness judge({cfg.dead_after, cfg.dead_after_max, cfg.heartbeat});
        link_facts f;
        f.silent = clock::now() - st->last_rx;
        f.unread = unread;
        // Segments beyond a lost one keep arriving: the peer is alive and TCP
        // is retransmitting (packet loss), not silent.
        f.out_of_order_moved = out_of_order != st->out_of_order;
        st->out_of_order = out_of_order;
        auto ms = [](clock::duration d) {
          return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
        };
        auto set_suspect = [=](bool on) {
          if (st->suspect == on)
            return;
          st->suspect = on;
          self->send(st->args.supervisor, suspect_atom::value, st->args.conn, st->peer,
                     on);
        };
        auto conclude = [=](const link_facts& f, verdict v) {
          if (v == verdict::recovering)
            st->last_rx = clock::now();
          if (v == verdict::alive || v == verdict::recovering) {
            auto silent = clock::now() - st->last_rx;
            if (silent < cfg.suspect_after) {
              set_suspect(false);
              st->vouched = false;
              if (auto since = std::exchange(st->waiting_since, std::nullopt))
                st->log->info(
                    "link {} peer {}: heard again after a silence of at most {} ms", tag,
                    to_hex(st->peer), ms(st->last_rx - *since));
              // A read since the watch fired has armed it again; otherwise
              // (unread bytes, TCP retransmitting) keep looking from here.
              if (st->seen_read <= st->watch_read || f.unread > 0)
                look_at(st->last_rx + cfg.suspect_after);
            } else {
              // Silent past a heartbeat: probe the peer while we wait.
              set_suspect(true);
              look_at(st->last_rx + cfg.dead_after);
            }
            return;
          }
          if (v == verdict::waiting) {
            st->vouched = true;
            // Judged again at the next heartbeat (or at the cap).
            look_at(
                std::min(clock::now() + cfg.heartbeat, st->last_rx + cfg.dead_after_max));
            if (!st->waiting_since) {
              st->waiting_since = st->last_rx;
              st->log->info("link {} peer {}: silent for {} ms, but it answered a probe "
                            "{} ms ago: keeping the link (up to {} ms of silence)",
                            tag, to_hex(st->peer), ms(f.silent), ms(*f.probe_answered),
                            cfg.dead_after_max.count());
            }
            return;
          }
          if (st->waiting_since)
            st->log->warn("link {} peer {}: silent for {} ms, declared dead ({})", tag,
                          to_hex(st->peer), ms(f.silent),
                          f.silent >= cfg.dead_after_max
                              ? "kept on the probes' word, but silent up to the cap"
                              : "its probes are no longer answered either");
          else
            st->log->warn(
                "link {} peer {}: silent for {} ms, probes unanswered, declared "
                "dead",
                tag, to_hex(st->peer), ms(f.silent));
          st->ph = phase::closing;
          report("timeout", {}, st->vouched);
          st->args.session->abort("timeout");
        };
        auto v = judge.assess(f);
        if (v != verdict::suspect) {
          conclude(f, v);
          return;
        }
        // Silent for dead-after with nothing on the link to explain it: did
        // the peer answer the probes?
        set_suspect(true);
        self->request(st->args.supervisor, cfg.heartbeat, heard_atom::value, st->peer)
            .then(
                [=](std::int64_t heard_ms) mutable {
                  if (st->ph != phase::established)
                    return;
                  f.silent = clock::now() - st->last_rx;
                  if (heard_ms >= 0)
                    f.probe_answered = std::chrono::milliseconds(heard_ms);
                  conclude(f, judge.judge(f));
                },
                [=](caf::error&) mutable {
                  if (st->ph != phase::established)
                    return;
                  f.silent = clock::now() - st->last_rx;
                  conclude(f, judge.judge(f));
                });
      },
      [=](hs_timeout_atom) {
        if (st->ph != phase::handshake)
          return;
        st->log->warn("link {}: no handshake within {} ms", tag,
                      st->args.settings->handshake_timeout.count());
        st->ph = phase::closing;
        report("handshake timeout", "handshake_timeout");
        st->args.session->abort("handshake timeout");
      },
      [=](caf::get_atom, stats_atom) { return counters_of(*st->args.session); },
  };
}

} // namespace lanmesh
