#include "actors/connection.hpp"

#include "actors/logging.hpp"
#include "actors/proto/liveness.hpp"

#include <algorithm>
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
  std::uint32_t out_of_order = 0; // TCP's count at the last probe
  bool reported = false;          // link_closed sent
  // Silent past dead-after but kept on the overlay's word: since when.
  std::optional<clock::time_point> waiting_since;
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

} // namespace

std::string check_hello(const link_settings& s, const wire::hello& h) {
  if (h.version != wire::version)
    return "incompatible version " + std::to_string(h.version) + " (ours " +
           std::to_string(wire::version) + ")";
  if (h.cluster != s.cluster)
    return "cluster mismatch: " + h.cluster + " (ours " + s.cluster + ")";
  if (h.node == s.self)
    return refuse_self;
  return {};
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
  auto report = [self, st](std::string reason, std::string bad_frame = {}) {
    if (st->reported)
      return;
    st->reported = true;
    self->send(st->args.supervisor, link_closed{st->args.conn, reason, bad_frame});
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
  a.session->start(std::move(h));
  // If this actor is killed, its socket goes too (and with it the handlers
  // that hold this actor: no reference cycle survives shutdown).
  self->attach_functor(
      [session = a.session] { session->abort("connection actor exited"); });

  if (a.dir == direction::out) {
    wire::hello hello;
    hello.cluster = a.settings->cluster;
    hello.node = a.settings->self;
    hello.listen_port = a.settings->listen_port;
    hello.flags = a.hello_flags;
    send_frame(make(wire::encode_hello(hello)));
  }
  self->delayed_send(self, a.settings->handshake_timeout, hs_timeout_atom::value);

  // A handshake completed at the wire level: ask the supervisor if it stays.
  auto offer = [self, st, tag, make, send_frame, close_gracefully](const wire::hello& h) {
    st->peer = h.node;
    auto ip = st->args.session->remote().address().to_string();
    // A peer that does not serve (listen port 0) has no address to dial.
    st->peer_addr = st->args.dir == direction::out ? st->args.dialed
                    : h.listen_port == 0           ? std::string{}
                                         : ip + ":" + std::to_string(h.listen_port);
    st->ph = phase::registering;
    auto flags = st->args.dir == direction::in ? h.flags : st->args.hello_flags;
    link_offer o{st->args.conn, h.node, st->args.dir, st->peer_addr,
                 (flags & wire::hello_reverse) != 0};
    self->request(st->args.supervisor, caf::infinite, register_atom::value, o)
        .then(
            [self, st, tag, make, send_frame, close_gracefully](const register_reply& r) {
              if (st->ph != phase::registering)
                return;
              auto& refusal = r.refusal;
              if (r.redirect)
                send_frame(r.redirect);
              if (refusal == "standby") {
                self->send(self, standby_atom::value);
                return;
              }
              if (!refusal.empty()) { // "duplicate" or "full"
                close_gracefully(st->args.dir == direction::in
                                     ? wire::encode_refuse(refusal)
                                     : wire::encode_goodbye(refusal),
                                 refusal);
                return;
              }
              if (st->args.dir == direction::in) {
                wire::hello w;
                w.cluster = st->args.settings->cluster;
                w.node = st->args.settings->self;
                w.listen_port = st->args.settings->listen_port;
                send_frame(make(wire::encode_hello(w, true)));
              }
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
              self->delayed_send(self, st->args.settings->heartbeat, tick_atom::value);
            });
  };

  // A frame that breaks the protocol's order: count it like a bad frame.
  auto protocol_error = [self, st, tag, close_gracefully](const std::string& what) {
    st->log->warn("link {} peer {}: protocol error: {}", tag, to_hex(st->peer), what);
    close_gracefully(wire::encode_goodbye("protocol error: " + what),
                     "bad frame: unexpected_frame", "unexpected_frame");
  };

  return {
      [=](wire::frame& f) {
        st->last_rx = clock::now();
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
          st->log->warn("link {}: refused by peer: {}", tag, r.reason);
          if (st->ph == phase::closing)
            return;
          st->ph = phase::closing; // the peer closes; we drain
          report(r.reason == "duplicate" ? "duplicate" : "refused by peer: " + r.reason);
          return;
        }
        case wire::frame_type::goodbye: {
          auto& g = std::get<wire::goodbye>(f.body);
          st->log->info("link {} peer {}: goodbye ({})", tag, to_hex(st->peer), g.reason);
          // Overlay maintenance reasons are shown as such; any other leave is
          // a goodbye.
          auto reason = g.reason == "duplicate" || g.reason == "rebalance"
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
            wire::append_broadcast(*frames, b.origin, b.seq, b.hops, b.payload);
            self->send(st->args.router,
                       inbound_broadcasts{std::move(frames), 1, st->peer});
          }
          return;
        case wire::frame_type::ping:
          if (st->ph == phase::established || st->ph == phase::registering)
            send_frame(make(wire::encode_pong(std::get<wire::ping>(f.body).nonce)));
          return;
        case wire::frame_type::pong: {
          auto sent = std::get<wire::pong>(f.body).nonce;
          auto now = now_ns();
          if (sent <= now)
            self->send(st->args.supervisor, rtt_atom::value, st->args.conn,
                       static_cast<std::int64_t>((now - sent) / 1000));
          return;
        }
        case wire::frame_type::member: {
          if (st->ph == phase::handshake) {
            protocol_error("member before handshake");
            return;
          }
          auto& m = std::get<wire::member>(f.body);
          // The origin's own flood: we see its address as the network does.
          if (m.origin == st->peer && m.hops == 0 && m.ip == 0) {
            auto addr = st->args.session->remote().address();
            if (addr.is_v4())
              m.ip = addr.to_v4().to_uint();
          }
          self->send(st->args.router, inbound_member{m, st->peer});
          return;
        }
        case wire::frame_type::topo_query:
          if (st->ph == phase::handshake) {
            protocol_error("topology query before handshake");
            return;
          }
          self->send(st->args.router, topology_atom::value,
                     std::get<wire::topo_query>(f.body), st->peer);
          return;
        case wire::frame_type::topo_reply:
          if (st->ph == phase::handshake) {
            protocol_error("topology reply before handshake");
            return;
          }
          self->send(st->args.router, topology_atom::value,
                     std::move(std::get<wire::topo_reply>(f.body)), st->peer);
          return;
        case wire::frame_type::reverse:
          if (st->ph == phase::established)
            self->send(st->args.supervisor, reverse_atom::value, st->args.conn, st->peer);
          return;
        case wire::frame_type::redirect:
          // A full node names others to try; its REFUSE follows.
          self->send(st->args.supervisor, redirect_atom::value,
                     std::get<wire::redirect>(f.body).entries);
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
        send_frame(make(wire::encode_ping(now_ns())));
        self->delayed_send(self, st->args.settings->heartbeat, tick_atom::value);
        // A probe every heartbeat keeps TCP's out-of-order count current; once
        // silence nears dead-after, the check runs when dead-after is reached,
        // not on the tick after it, so a dead peer is dropped at dead-after.
        auto left = st->args.settings->dead_after - (clock::now() - st->last_rx);
        auto hb = st->args.settings->heartbeat;
        self->delayed_send(self,
                           left <= hb
                               ? std::max<clock::duration>(left, clock::duration::zero())
                               : clock::duration(hb / 2),
                           probe_atom::value);
      },
      [=](probe_atom) {
        if (st->ph != phase::established)
          return;
        // Let the I/O thread answer: after a stall of the whole machine the
        // peer's frames may be waiting unread in the kernel.
        auto handle = caf::actor_cast<caf::actor>(self);
        st->args.session->probe([handle](net::tcp_session::liveness l) {
          caf::anon_send(handle, probe_atom::value, static_cast<std::uint64_t>(l.unread),
                         l.out_of_order, l.last_read);
        });
      },
      [=](probe_atom, std::uint64_t unread, std::uint32_t out_of_order,
          clock::time_point last_read) {
        if (st->ph != phase::established)
          return;
        // Broadcasts bypass this actor: the session knows when bytes came.
        st->last_rx = std::max(st->last_rx, last_read);
        // Bytes came later than this actor knew: look again exactly when the
        // silence reaches dead-after, not a tick later.
        auto left = st->args.settings->dead_after - (clock::now() - st->last_rx);
        if (left > clock::duration::zero() && left <= st->args.settings->heartbeat)
          self->delayed_send(self, left, probe_atom::value);
        liveness judge({st->args.settings->dead_after, st->args.settings->dead_after_max,
                        st->args.settings->heartbeat + std::chrono::milliseconds(100)});
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
        auto conclude = [=](const link_facts& f, verdict v) {
          if (v == verdict::recovering)
            st->last_rx = clock::now();
          if (v == verdict::alive || v == verdict::recovering) {
            if (auto since = std::exchange(st->waiting_since, std::nullopt))
              st->log->info(
                  "link {} peer {}: heard again after a silence of at most {} ms", tag,
                  to_hex(st->peer), ms(st->last_rx - *since));
            return;
          }
          if (v == verdict::waiting) {
            // Judged again at the next tick, one heartbeat later.
            if (!st->waiting_since) {
              st->waiting_since = st->last_rx;
              st->log->info("link {} peer {}: silent for {} ms, but its MEMBER flood "
                            "reached us over other links {} ms ago: keeping the link "
                            "(up to {} ms of silence)",
                            tag, to_hex(st->peer), ms(f.silent), ms(*f.heard_elsewhere),
                            st->args.settings->dead_after_max.count());
            }
            return;
          }
          if (st->waiting_since)
            st->log->warn("link {} peer {}: silent for {} ms, declared dead ({})", tag,
                          to_hex(st->peer), ms(f.silent),
                          f.silent >= st->args.settings->dead_after_max
                              ? "kept on the overlay's word, but silent up to the cap"
                              : "its MEMBER flood no longer reaches us over other links "
                                "either");
          else
            st->log->warn("link {} peer {}: silent for {} ms, declared dead", tag,
                          to_hex(st->peer), ms(f.silent));
          st->ph = phase::closing;
          report("timeout");
          st->args.session->abort("timeout");
        };
        auto v = judge.assess(f);
        if (v != verdict::suspect) {
          conclude(f, v);
          return;
        }
        // Silent for dead-after with nothing on the link to explain it: does
        // the peer still flood over other links?
        self->request(st->args.supervisor, st->args.settings->heartbeat,
                      heard_atom::value, st->peer)
            .then(
                [=](std::int64_t heard_ms) mutable {
                  if (st->ph != phase::established)
                    return;
                  f.silent = clock::now() - st->last_rx;
                  if (heard_ms >= 0)
                    f.heard_elsewhere = std::chrono::milliseconds(heard_ms);
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
