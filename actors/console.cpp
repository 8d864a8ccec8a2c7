#include "actors/console.hpp"

#include <cstdio>

#include "actors/json.hpp"
#include "actors/logging.hpp"

namespace lanmesh {

namespace {

// Wall-clock time of an event in microseconds since the Unix epoch, so that
// streams of several nodes on one machine can be merged and latencies measured.
std::int64_t unix_micros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string fixed3(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.3f", v);
  return buf;
}

struct state {
  console_settings settings;
  router_actor router;
  caf::actor supervisor;
  caf::actor discovery;
  std::shared_ptr<spdlog::logger> log = logging::get("console");

  void out(const std::string& line) { settings.write_line(line); }

  void error(const std::string& message) {
    log->warn("{}", message);
    if (settings.jsonl)
      out(json::object().str("event", "error").str("message", message).done());
    else
      settings.write_error("error: " + message);
  }
};

const char* help_text = "Type a line to broadcast it to every node. Commands:\n"
                        "  /peers   links of this node\n"
                        "  /stats   counters of this node\n"
                        "  /help    this text\n"
                        "  /quit    say goodbye to all peers and exit\n"
                        "  //text   broadcast \"/text\"";

void print_peers(state& st, const std::vector<peer_info>& peers) {
  if (st.settings.jsonl) {
    std::string list = "[";
    for (auto& p : peers) {
      if (list.size() > 1)
        list += ",";
      list += json::object()
                  .str("peer", to_hex(p.peer))
                  .str("addr", p.addr)
                  .str("dir", to_string(p.dir))
                  .num("age_ms", p.age_ms)
                  .raw("rtt_ms", p.rtt_us < 0 ? "null" : fixed3(p.rtt_us / 1000.0))
                  .num("heartbeat_ms", p.heartbeat_ms)
                  .done();
    }
    st.out(json::object()
               .str("event", "peers")
               .str("node", to_hex(st.settings.self))
               .raw("peers", list + "]")
               .done());
    return;
  }
  st.out("* " + std::to_string(peers.size()) + " peer(s)");
  for (auto& p : peers)
    st.out("*   " + to_hex(p.peer) + "  " + p.addr + "  " + to_string(p.dir) + "  up " +
           std::to_string(p.age_ms / 1000) + " s  rtt " +
           (p.rtt_us < 0 ? std::string("-") : fixed3(p.rtt_us / 1000.0) + " ms"));
}

void print_stats(state& st, const router_stats& r, const supervisor_stats& s,
                 const discovery_stats& d) {
  std::string rules = "{";
  for (auto& [rule, n] : s.bad_by_rule) {
    if (rules.size() > 1)
      rules += ",";
    rules += json::quote(rule) + ":" + std::to_string(n);
  }
  rules += "}";
  json::object o;
  o.str("event", "stats")
      .str("node", to_hex(st.settings.self))
      .unum("sent", r.sent)
      .unum("delivered", r.delivered)
      .unum("duplicates", r.duplicates)
      .unum("forwarded", r.forwarded)
      .unum("frames_in", s.traffic.frames_in)
      .unum("frames_out", s.traffic.frames_out)
      .unum("bytes_in", s.traffic.bytes_in)
      .unum("bytes_out", s.traffic.bytes_out)
      .unum("bad_frames", s.bad_frames)
      .unum("handshake_timeouts", s.handshake_timeouts)
      .unum("refused", s.refused)
      .unum("links_in", s.links_in)
      .unum("links_out", s.links_out)
      .unum("dials", s.dials)
      .unum("dial_failures", s.dial_failures)
      .unum("discovery_sent", d.sent)
      .unum("discovery_received", d.received)
      .unum("discovery_bad", d.bad)
      .unum("discovery_foreign", d.foreign)
      .unum("discovery_candidates", d.candidates)
      .raw("bad_by_rule", rules);
  if (st.settings.jsonl) {
    st.out(o.done());
    return;
  }
  st.out("* stats " + o.done());
}

} // namespace

console_actor::behavior_type console(console_actor::pointer self,
                                     console_settings settings) {
  auto st = std::make_shared<state>();
  st->settings = std::move(settings);
  auto jsonl = st->settings.jsonl;
  return {
      [=](wire_atom, router_actor router, caf::actor supervisor, caf::actor discovery) {
        st->router = std::move(router);
        st->supervisor = std::move(supervisor);
        st->discovery = std::move(discovery);
      },
      [=](line_atom, std::string& line) {
        if (line.empty())
          return;
        if (line[0] == '/' && (line.size() < 2 || line[1] != '/')) {
          if (line == "/peers") {
            self->request(st->supervisor, std::chrono::seconds(2), caf::get_atom::value,
                          peers_atom::value)
                .then(
                    [=](const std::vector<peer_info>& peers) { print_peers(*st, peers); },
                    [=](caf::error& e) { st->error("/peers: " + to_string(e)); });
          } else if (line == "/stats") {
            self->request(st->router, std::chrono::seconds(2), caf::get_atom::value,
                          stats_atom::value)
                .then(
                    [=](const router_stats& r) {
                      self->request(st->supervisor, std::chrono::seconds(2),
                                    caf::get_atom::value, stats_atom::value)
                          .then(
                              [=](const supervisor_stats& s) {
                                if (!st->discovery) {
                                  print_stats(*st, r, s, discovery_stats{});
                                  return;
                                }
                                self->request(st->discovery, std::chrono::seconds(2),
                                              caf::get_atom::value, stats_atom::value)
                                    .then(
                                        [=](const discovery_stats& d) {
                                          print_stats(*st, r, s, d);
                                        },
                                        [=](caf::error& e) {
                                          st->error("/stats: " + to_string(e));
                                        });
                              },
                              [=](caf::error& e) {
                                st->error("/stats: " + to_string(e));
                              });
                    },
                    [=](caf::error& e) { st->error("/stats: " + to_string(e)); });
          } else if (line == "/help") {
            if (jsonl)
              st->out(json::object().str("event", "help").str("text", help_text).done());
            else
              st->out(help_text);
          } else if (line == "/quit") {
            st->settings.quit();
          } else {
            st->error("unknown command " + line + " (try /help)");
          }
          return;
        }
        if (line.rfind("//", 0) == 0)
          line.erase(0, 1);
        if (line.size() > st->settings.max_payload) {
          st->error("line of " + std::to_string(line.size()) +
                    " bytes not sent: over node.max-payload " +
                    std::to_string(st->settings.max_payload));
          return;
        }
        self->request(st->router, caf::infinite, broadcast_atom::value, std::move(line))
            .then(
                [=](const std::string& msg_id) {
                  if (jsonl)
                    st->out(json::object()
                                .str("event", "sent")
                                .str("msg", msg_id)
                                .num("ts", unix_micros())
                                .done());
                },
                [=](caf::error& e) { st->error("broadcast: " + to_string(e)); });
      },
      [=](const ev_ready& e) {
        if (jsonl)
          st->out(json::object()
                      .str("event", "ready")
                      .num("ts", unix_micros())
                      .str("node", to_hex(e.node))
                      .num("port", e.port)
                      .str("cluster", e.cluster)
                      .done());
        else
          st->out("* node " + to_hex(e.node) + " ready on port " +
                  std::to_string(e.port) + ", cluster " + e.cluster +
                  " (/help for commands)");
      },
      [=](const ev_peer_up& e) {
        if (jsonl)
          st->out(json::object()
                      .str("event", "peer_up")
                      .num("ts", unix_micros())
                      .str("peer", to_hex(e.peer))
                      .str("addr", e.addr)
                      .str("dir", to_string(e.dir))
                      .done());
        else
          st->out("* peer up: " + to_hex(e.peer) + " " + e.addr + " (" +
                  to_string(e.dir) + ")");
      },
      [=](const ev_peer_down& e) {
        if (jsonl)
          st->out(json::object()
                      .str("event", "peer_down")
                      .num("ts", unix_micros())
                      .str("peer", to_hex(e.peer))
                      .str("reason", e.reason)
                      .done());
        else
          st->out("* peer down: " + to_hex(e.peer) + " (" + e.reason + ")");
      },
      [=](const ev_deliver& e) {
        if (jsonl)
          st->out(json::object()
                      .str("event", "deliver")
                      .num("ts", unix_micros())
                      .str("origin", to_hex(e.origin))
                      .str("msg", msg_id_string(e.origin, e.seq))
                      .num("hops", e.hops)
                      .str("payload", e.payload)
                      .done());
        else
          st->out("[" + to_hex(e.origin) + "] " + e.payload);
      },
  };
}

} // namespace lanmesh
