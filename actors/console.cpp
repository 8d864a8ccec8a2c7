#include "actors/console.hpp"

#include <cstdio>
#include <map>

#include "actors/delivery_lines.hpp"
#include "actors/json.hpp"
#include "actors/logging.hpp"

namespace lanmesh {

namespace {

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
                        "  /members the members this node knows of\n"
                        "  /stats   counters of this node\n"
                        "  /topology [FILE]  snapshot of the whole cluster (JSON)\n"
                        "  /help    this text\n"
                        "  /quit    say goodbye to all peers and exit\n"
                        "  //text   broadcast \"/text\"";

// The snapshot as one JSON document: nodes (answered or not) and edges
// (dialer -> acceptor, with the dialer's or else the acceptor's RTT).
std::string topology_json(const topology_snapshot& t) {
  std::map<node_id, const wire::topo_reply*> answered;
  for (auto& a : t.answers)
    answered[a.node] = &a;
  std::string nodes = "[";
  for (auto& [id, addr] : t.known) {
    json::object o;
    o.str("node", to_hex(id)).str("addr", addr);
    auto it = answered.find(id);
    if (it != answered.end())
      o.num("links_in", it->second->links_in)
          .num("links_out", it->second->links_out)
          .num("capacity", it->second->capacity)
          .raw("answered", "true");
    else
      o.raw("answered", "false");
    nodes += (nodes.size() > 1 ? "," : "") + o.done();
  }
  nodes += "]";
  // (dialer, acceptor) -> rtt in ms, or negative if unknown.
  std::map<std::pair<node_id, node_id>, double> edges;
  for (auto& a : t.answers) {
    for (auto& l : a.links) {
      auto key =
          l.dir == 1 ? std::make_pair(a.node, l.peer) : std::make_pair(l.peer, a.node);
      double rtt = l.rtt_us < 0 ? -1.0 : l.rtt_us / 1000.0;
      // Both ends may report a link: prefer the dialer's measured RTT.
      auto [it, fresh] = edges.emplace(key, rtt);
      if (!fresh && rtt >= 0 && (l.dir == 1 || it->second < 0))
        it->second = rtt;
    }
  }
  std::string list = "[";
  for (auto& [e, rtt] : edges)
    list +=
        (list.size() > 1 ? "," : "") + json::object()
                                           .str("from", to_hex(e.first))
                                           .str("to", to_hex(e.second))
                                           .raw("rtt_ms", rtt < 0 ? "null" : fixed3(rtt))
                                           .done();
  list += "]";
  return json::object()
      .str("event", "topology")
      .str("node", to_hex(t.asker))
      .num("ts", unix_micros())
      .raw("took_ms", fixed3(t.took_ms))
      .raw("nodes", nodes)
      .raw("edges", list)
      .done();
}

void print_topology(state& st, const topology_snapshot& t, const std::string& file) {
  auto doc = topology_json(t);
  if (!file.empty()) {
    // Written whole under a temporary name, then renamed: a reader never
    // sees half a snapshot.
    auto tmp = file + ".tmp";
    std::FILE* f = std::fopen(tmp.c_str(), "w");
    bool ok = f && std::fwrite(doc.data(), 1, doc.size(), f) == doc.size() &&
              std::fputc('\n', f) != EOF;
    if (f)
      ok = std::fclose(f) == 0 && ok;
    if (!ok || std::rename(tmp.c_str(), file.c_str()) != 0) {
      st.error("/topology: cannot write " + file);
      return;
    }
  }
  if (st.settings.jsonl) {
    st.out(doc);
    return;
  }
  std::size_t links = 0;
  for (auto& a : t.answers)
    for (auto& l : a.links)
      links += l.dir == 1 ? 1 : 0;
  st.out("* topology: " + std::to_string(t.known.size()) + " node(s), " +
         std::to_string(t.answers.size()) + " answered, " + std::to_string(links) +
         " link(s), " + fixed3(t.took_ms) + " ms" + (file.empty() ? "" : " -> " + file));
}

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

void print_members(state& st, const std::vector<member_info>& members) {
  if (st.settings.jsonl) {
    std::string list = "[";
    for (auto& m : members) {
      if (list.size() > 1)
        list += ",";
      list += json::object()
                  .str("node", to_hex(m.id))
                  .str("addr", m.addr)
                  .str("state", wire::to_string(m.state))
                  .unum("incarnation", m.incarnation)
                  .num("links_in", m.links_in)
                  .num("links_out", m.links_out)
                  .num("capacity", m.capacity)
                  .raw("linked", m.linked ? "true" : "false")
                  .num("changed_ms", m.changed_ms)
                  .done();
    }
    st.out(json::object()
               .str("event", "members")
               .str("node", to_hex(st.settings.self))
               .raw("members", list + "]")
               .done());
    return;
  }
  std::size_t alive = 0;
  for (auto& m : members)
    alive += m.state == wire::member_state::alive ? 1 : 0;
  st.out("* " + std::to_string(alive) + " other member(s) alive, " +
         std::to_string(members.size() - alive) + " gone (remembered a while)");
  for (auto& m : members)
    st.out("*   " + to_hex(m.id) + "  " + (m.addr.empty() ? "-" : m.addr) + "  " +
           wire::to_string(m.state) + "  in " + std::to_string(m.links_in) + " out " +
           std::to_string(m.links_out) + " capacity " + std::to_string(m.capacity) +
           (m.linked ? "  (linked)" : ""));
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
  std::string rtts = "{";
  for (auto& [peer, rtt] : s.rtt_us)
    rtts += (rtts.size() > 1 ? "," : "") + json::quote(to_hex(peer)) + ":" +
            (rtt < 0 ? std::string("null") : fixed3(rtt / 1000.0));
  rtts += "}";
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
      .unum("redials", s.redials)
      .unum("members", s.members)
      .unum("member_records_in", s.membership.records_received)
      .unum("member_records_out", s.membership.records_sent)
      .unum("member_news", s.membership.news)
      .raw("members_rejected", json::object()
                                   .unum("address", s.membership.rejected_address)
                                   .unum("loopback", s.membership.rejected_loopback)
                                   .unum("record", s.membership.rejected_record)
                                   .done())
      .unum("syncs_out", s.membership.syncs_sent)
      .unum("syncs_in", s.membership.syncs_received)
      .unum("sync_pushes", s.membership.sync_pushes)
      .unum("refutations", s.membership.refutations)
      .unum("declared_dead", s.membership.declared_dead)
      .unum("declared_unreachable", s.membership.declared_unreachable)
      .unum("members_evicted", s.membership.evicted)
      .unum("reconnects", s.membership.reconnects)
      .unum("probes_direct", s.probes.direct)
      .unum("probes_indirect", s.probes.indirect)
      .unum("probes_relayed", s.probes.relayed)
      .unum("probe_answers", s.probes.answers)
      .unum("udp_sent", s.udp_sent)
      .unum("udp_answered", s.udp_answered)
      .unum("udp_bad", s.udp_bad)
      .unum("redirects_rejected", s.redirects_rejected)
      .unum("discovery_sent", d.sent)
      .unum("discovery_received", d.received)
      .unum("discovery_bad", d.bad)
      .unum("discovery_foreign", d.foreign)
      .unum("discovery_candidates", d.candidates)
      .unum("stdout_dropped_bytes",
            st.settings.output_dropped ? st.settings.output_dropped() : 0)
      .raw("bad_by_rule", rules)
      .raw("rtt_ms", rtts);
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
  // A `/`-command; answers come back as events.
  auto command = [=](const std::string& line) {
    if (line == "/peers") {
      self->request(st->supervisor, std::chrono::seconds(2), caf::get_atom::value,
                    peers_atom::value)
          .then([=](const std::vector<peer_info>& peers) { print_peers(*st, peers); },
                [=](caf::error& e) { st->error("/peers: " + to_string(e)); });
    } else if (line == "/members") {
      self->request(st->supervisor, std::chrono::seconds(2), caf::get_atom::value,
                    members_atom::value)
          .then([=](const std::vector<member_info>& m) { print_members(*st, m); },
                [=](caf::error& e) { st->error("/members: " + to_string(e)); });
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
                        [=](caf::error& e) { st->error("/stats: " + to_string(e)); });
              },
              [=](caf::error& e) { st->error("/stats: " + to_string(e)); });
    } else if (line == "/topology" || line.rfind("/topology ", 0) == 0) {
      auto file = line.size() > 10 ? line.substr(10) : std::string{};
      self->request(st->supervisor, std::chrono::seconds(10), topology_atom::value)
          .then([=](const topology_snapshot& t) { print_topology(*st, t, file); },
                [=](caf::error& e) { st->error("/topology: " + to_string(e)); });
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
  };
  // Lines typed as broadcasts, sent as one request (one batch per stdin read).
  auto broadcast = [=](std::vector<std::string> payloads) {
    if (payloads.empty())
      return;
    self->request(st->router, caf::infinite, broadcast_atom::value, std::move(payloads))
        .then(
            [=](const std::vector<std::string>& ids) {
              if (!jsonl || ids.empty())
                return;
              std::string out;
              for (auto& id : ids) {
                if (!out.empty())
                  out += '\n';
                out += json::object()
                           .str("event", "sent")
                           .str("msg", id)
                           .num("ts", unix_micros())
                           .done();
              }
              st->out(out);
            },
            [=](caf::error& e) { st->error("broadcast: " + to_string(e)); });
  };
  return {
      [=](wire_atom, router_actor router, caf::actor supervisor, caf::actor discovery) {
        st->router = std::move(router);
        st->supervisor = std::move(supervisor);
        st->discovery = std::move(discovery);
      },
      [=](line_atom, std::vector<std::string>& lines) {
        std::vector<std::string> payloads;
        for (auto& line : lines) {
          if (line.empty())
            continue;
          if (line[0] == '/' && (line.size() < 2 || line[1] != '/')) {
            broadcast(std::exchange(payloads, {})); // keeps the typed order
            command(line);
            continue;
          }
          if (line.rfind("//", 0) == 0)
            line.erase(0, 1);
          if (line.size() > st->settings.max_payload) {
            st->error("line of " + std::to_string(line.size()) +
                      " bytes not sent: over node.max-payload " +
                      std::to_string(st->settings.max_payload));
            continue;
          }
          payloads.push_back(std::move(line));
        }
        broadcast(std::move(payloads));
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
      [=](const ev_member& e) {
        if (jsonl)
          st->out(json::object()
                      .str("event", "member")
                      .num("ts", unix_micros())
                      .str("node", to_hex(e.node))
                      .str("state", wire::to_string(e.state))
                      .str("addr", e.addr)
                      .done());
        else
          st->out("* member " + to_hex(e.node) + " " + wire::to_string(e.state) +
                  (e.addr.empty() ? "" : " (" + e.addr + ")"));
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
  };
}

} // namespace lanmesh
