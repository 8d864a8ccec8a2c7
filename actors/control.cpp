#include "actors/control.hpp"

#include <algorithm>
#include <map>
#include <optional>

#include "actors/delivery_lines.hpp"
#include "actors/logging.hpp"
#include "actors/metrics_text.hpp"
#include "actors/render.hpp"

namespace lanmesh {

namespace {

constexpr auto query_timeout = std::chrono::seconds(5);
// A topology snapshot waits up to 2 s for answers (supervisor_settings).
constexpr auto topology_timeout = std::chrono::seconds(10);
// Deeper JSON than this is not a request: refused before it is parsed.
constexpr int max_request_depth = 16;

/// Completes one request: the reply object, then what becomes of the connection.
using done_fn = std::function<void(json reply, control_then then)>;

struct all_stats {
  router_stats router;
  supervisor_stats supervisor;
  discovery_stats discovery;
};

struct state {
  control_settings settings;
  router_actor router;
  caf::actor supervisor;
  caf::actor discovery;
  std::shared_ptr<spdlog::logger> log = logging::get("control");
  std::map<std::string, std::function<void(const json&, done_fn)>> commands;

  json error(const std::string& message) const {
    return json{{"ok", false}, {"event", "error"}, {"message", message}};
  }
  json event(const char* kind) const {
    return json{{"ok", true}, {"event", kind}, {"node", to_hex(settings.self)}};
  }
};

json rtt_ms(std::int64_t us) {
  return us < 0 ? json(nullptr) : json(us / 1000.0);
}

// Nesting depth of `s` counted outside strings, stopping past the limit.
bool too_deep(const std::string& s) {
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_request_depth)
        return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

json topology_json(const state& st, const topology_snapshot& t) {
  std::map<node_id, const wire::topo_reply*> answered;
  for (auto& a : t.answers)
    answered[a.node] = &a;
  json nodes = json::array();
  for (auto& [id, addr] : t.known) {
    json n{{"node", to_hex(id)}, {"addr", addr}};
    auto it = answered.find(id);
    if (it != answered.end()) {
      n["links_in"] = it->second->links_in;
      n["links_out"] = it->second->links_out;
      n["capacity"] = it->second->capacity;
      n["answered"] = true;
    } else {
      n["answered"] = false;
    }
    nodes.push_back(std::move(n));
  }
  // (dialer, acceptor) -> rtt in us, or negative if unknown.
  std::map<std::pair<node_id, node_id>, std::int64_t> edges;
  for (auto& a : t.answers) {
    for (auto& l : a.links) {
      auto key =
          l.dir == 1 ? std::make_pair(a.node, l.peer) : std::make_pair(l.peer, a.node);
      // Both ends may report a link: prefer the dialer's measured RTT.
      auto [it, fresh] = edges.emplace(key, l.rtt_us);
      if (!fresh && l.rtt_us >= 0 && (l.dir == 1 || it->second < 0))
        it->second = l.rtt_us;
    }
  }
  json list = json::array();
  for (auto& [e, rtt] : edges)
    list.push_back(json{
        {"from", to_hex(e.first)}, {"to", to_hex(e.second)}, {"rtt_ms", rtt_ms(rtt)}});
  auto doc = st.event("topology");
  doc["node"] = to_hex(t.asker);
  doc["ts"] = unix_micros();
  doc["took_ms"] = static_cast<std::int64_t>(t.took_ms * 1000) / 1000.0;
  doc["nodes"] = std::move(nodes);
  doc["edges"] = std::move(list);
  return doc;
}

json stats_json(const state& st, const all_stats& a) {
  auto& r = a.router;
  auto& s = a.supervisor;
  auto& d = a.discovery;
  json rules = json::object();
  for (auto& [rule, n] : s.bad_by_rule)
    rules[rule] = n;
  json rtts = json::object();
  for (auto& [peer, rtt] : s.rtt_us)
    rtts[to_hex(peer)] = rtt_ms(rtt);
  auto o = st.event("stats");
  o["sent"] = r.sent;
  auto& b = r.plane;
  o["broadcast_mode"] = r.mode;
  o["delivered"] = b.delivered;
  o["duplicates"] = b.duplicates;
  o["forwarded"] = b.forwarded;
  o["payloads_in"] = b.payloads_in;
  o["ihave_out"] = b.ihave_out;
  o["ihave_in"] = b.ihave_in;
  o["grafts_out"] = b.grafts_out;
  o["grafts_in"] = b.grafts_in;
  o["prunes_out"] = b.prunes_out;
  o["prunes_in"] = b.prunes_in;
  o["iwants_out"] = b.iwants_out;
  o["iwants_in"] = b.iwants_in;
  o["fetched"] = b.fetched;
  o["gaps"] = b.gaps;
  o["gap_messages"] = b.gap_messages;
  o["history_bytes"] = b.history_bytes;
  o["history_messages"] = b.history_messages;
  o["waiting"] = b.waiting;
  o["streams"] = b.streams;
  o["router_links"] = r.links;
  o["relay_links"] = b.links;
  o["frames_in"] = s.traffic.frames_in;
  o["frames_out"] = s.traffic.frames_out;
  o["bytes_in"] = s.traffic.bytes_in;
  o["bytes_out"] = s.traffic.bytes_out;
  o["bad_frames"] = s.bad_frames;
  o["handshake_timeouts"] = s.handshake_timeouts;
  o["auth_failures"] = s.auth_failures;
  o["pending_refused"] = s.pending_refused;
  o["accept_backoffs"] = st.settings.accept_backoffs ? st.settings.accept_backoffs() : 0;
  o["keyed"] = st.settings.keys && !st.settings.keys->get()->empty();
  o["refused"] = s.refused;
  o["links_in"] = s.links_in;
  o["links_out"] = s.links_out;
  o["dials"] = s.dials;
  o["dial_failures"] = s.dial_failures;
  o["redials"] = s.redials;
  o["members"] = s.members;
  o["member_records_in"] = s.membership.records_received;
  o["member_records_out"] = s.membership.records_sent;
  o["member_news"] = s.membership.news;
  o["members_rejected"] = json{{"address", s.membership.rejected_address},
                               {"loopback", s.membership.rejected_loopback},
                               {"record", s.membership.rejected_record}};
  o["syncs_out"] = s.membership.syncs_sent;
  o["syncs_in"] = s.membership.syncs_received;
  o["sync_pushes"] = s.membership.sync_pushes;
  o["refutations"] = s.membership.refutations;
  o["declared_dead"] = s.membership.declared_dead;
  o["declared_unreachable"] = s.membership.declared_unreachable;
  o["members_evicted"] = s.membership.evicted;
  o["reconnects"] = s.membership.reconnects;
  o["probes_direct"] = s.probes.direct;
  o["probes_indirect"] = s.probes.indirect;
  o["probes_relayed"] = s.probes.relayed;
  o["probe_answers"] = s.probes.answers;
  o["udp_sent"] = s.udp_sent;
  o["udp_answered"] = s.udp_answered;
  o["udp_bad"] = s.udp_bad;
  o["redirects_rejected"] = s.redirects_rejected;
  o["discovery_sent"] = d.sent;
  o["discovery_received"] = d.received;
  o["discovery_bad"] = d.bad;
  o["discovery_foreign"] = d.foreign;
  o["discovery_candidates"] = d.candidates;
  o["discovery_answers_limited"] = d.answers_limited;
  o["stdout_dropped_bytes"] =
      st.settings.output_dropped ? st.settings.output_dropped() : 0;
  o["bad_by_rule"] = std::move(rules);
  o["rtt_ms"] = std::move(rtts);
  return o;
}

metrics_snapshot metrics_of(const state& st, const all_stats& a) {
  metrics_snapshot m;
  auto& r = a.router;
  auto& s = a.supervisor;
  auto& d = a.discovery;
  m.node = to_hex(st.settings.self);
  m.cluster = st.settings.cluster;
  m.version = st.settings.version;
  m.links_in = s.links_in;
  m.links_out = s.links_out;
  m.members = s.members;
  m.sent = r.sent;
  m.delivered = r.plane.delivered;
  m.duplicates = r.plane.duplicates;
  m.forwarded = r.plane.forwarded;
  m.dials = s.dials;
  m.dial_failures = s.dial_failures;
  m.redials = s.redials;
  m.refused = s.refused;
  m.handshake_timeouts = s.handshake_timeouts;
  m.auth_failures = s.auth_failures;
  m.pending_refused = s.pending_refused;
  m.frames_in = s.traffic.frames_in;
  m.frames_out = s.traffic.frames_out;
  m.bytes_in = s.traffic.bytes_in;
  m.bytes_out = s.traffic.bytes_out;
  m.member_records_in = s.membership.records_received;
  m.member_records_out = s.membership.records_sent;
  m.discovery_sent = d.sent;
  m.discovery_received = d.received;
  m.discovery_bad = d.bad;
  m.discovery_foreign = d.foreign;
  m.stdout_dropped_bytes = st.settings.output_dropped ? st.settings.output_dropped() : 0;
  m.bad_by_rule = s.bad_by_rule;
  for (auto b : rtt_histogram::bounds_us)
    m.rtt_bounds_s.push_back(static_cast<double>(b) / 1e6);
  m.rtt_counts = s.rtt_hist.counts;
  m.rtt_count = s.rtt_hist.count;
  m.rtt_sum_s = static_cast<double>(s.rtt_hist.sum_us) / 1e6;
  return m;
}

} // namespace

control_actor::behavior_type control(control_actor::pointer self,
                                     control_settings settings) {
  auto st = std::make_shared<state>();
  st->settings = std::move(settings);

  // Router, supervisor and discovery counters; `fail` gets the first error.
  auto gather = [=](std::function<void(std::shared_ptr<all_stats>)> then,
                    std::function<void(const std::string&)> fail) {
    auto acc = std::make_shared<all_stats>();
    auto on_error = [fail](caf::error& e) { fail(to_string(e)); };
    self->request(st->router, query_timeout, caf::get_atom::value, stats_atom::value)
        .then(
            [=](const router_stats& r) {
              acc->router = r;
              self->request(st->supervisor, query_timeout, caf::get_atom::value,
                            stats_atom::value)
                  .then(
                      [=](const supervisor_stats& s) {
                        acc->supervisor = s;
                        if (!st->discovery) {
                          then(acc);
                          return;
                        }
                        self->request(st->discovery, query_timeout, caf::get_atom::value,
                                      stats_atom::value)
                            .then(
                                [=](const discovery_stats& d) {
                                  acc->discovery = d;
                                  then(acc);
                                },
                                on_error);
                      },
                      on_error);
            },
            on_error);
  };

  // --- the commands ---------------------------------------------------------
  auto& cmds = st->commands;
  cmds["peers"] = [=](const json&, done_fn done) {
    self->request(st->supervisor, query_timeout, caf::get_atom::value, peers_atom::value)
        .then(
            [=](const std::vector<peer_info>& peers) {
              json list = json::array();
              for (auto& p : peers)
                list.push_back(json{{"peer", to_hex(p.peer)},
                                    {"addr", p.addr},
                                    {"dir", to_string(p.dir)},
                                    {"age_ms", p.age_ms},
                                    {"rtt_ms", rtt_ms(p.rtt_us)},
                                    {"heartbeat_ms", p.heartbeat_ms},
                                    {"queued_bytes", p.queued_bytes},
                                    {"frames_in", p.frames_in},
                                    {"frames_out", p.frames_out}});
              auto o = st->event("peers");
              o["peers"] = std::move(list);
              done(std::move(o), control_then::next);
            },
            [=](caf::error& e) {
              done(st->error("peers: " + to_string(e)), control_then::next);
            });
  };
  cmds["members"] = [=](const json&, done_fn done) {
    // This node first (its links from its peers), then every member it knows.
    self->request(st->supervisor, query_timeout, caf::get_atom::value, peers_atom::value)
        .then(
            [=](const std::vector<peer_info>& peers) {
              int in = 0, out = 0;
              for (auto& p : peers)
                (p.dir == direction::in ? in : out) += 1;
              self->request(st->supervisor, query_timeout, caf::get_atom::value,
                            members_atom::value)
                  .then(
                      [=](const std::vector<member_info>& members) {
                        json list = json::array();
                        list.push_back(json{{"node", to_hex(st->settings.self)},
                                            {"addr", st->settings.self_addr},
                                            {"status", "self"},
                                            {"state", "alive"},
                                            {"links_in", in},
                                            {"links_out", out},
                                            {"linked", false}});
                        for (auto& m : members) {
                          std::string state = wire::to_string(m.state);
                          list.push_back(json{{"node", to_hex(m.id)},
                                              {"addr", m.addr},
                                              {"status", m.linked ? "linked" : state},
                                              {"state", state},
                                              {"incarnation", m.incarnation},
                                              {"links_in", m.links_in},
                                              {"links_out", m.links_out},
                                              {"capacity", m.capacity},
                                              {"linked", m.linked},
                                              {"changed_ms", m.changed_ms}});
                        }
                        auto o = st->event("members");
                        o["cluster"] = st->settings.cluster;
                        o["members"] = std::move(list);
                        done(std::move(o), control_then::next);
                      },
                      [=](caf::error& e) {
                        done(st->error("members: " + to_string(e)), control_then::next);
                      });
            },
            [=](caf::error& e) {
              done(st->error("members: " + to_string(e)), control_then::next);
            });
  };
  cmds["stats"] = [=](const json&, done_fn done) {
    gather(
        [=](std::shared_ptr<all_stats> a) {
          done(stats_json(*st, *a), control_then::next);
        },
        [=](const std::string& e) {
          done(st->error("stats: " + e), control_then::next);
        });
  };
  cmds["topology"] = [=](const json&, done_fn done) {
    self->request(st->supervisor, topology_timeout, topology_atom::value)
        .then(
            [=](const topology_snapshot& t) {
              done(topology_json(*st, t), control_then::next);
            },
            [=](caf::error& e) {
              done(st->error("topology: " + to_string(e)), control_then::next);
            });
  };
  cmds["send"] = [=](const json& req, done_fn done) {
    auto it = req.find("payload");
    if (it == req.end() || !it->is_string()) {
      done(st->error("send: \"payload\" must be a string"), control_then::next);
      return;
    }
    auto payload = it->get<std::string>();
    if (payload.empty()) {
      done(st->error("send: empty payload"), control_then::next);
      return;
    }
    if (payload.size() > st->settings.max_payload) {
      done(st->error("line of " + std::to_string(payload.size()) +
                     " bytes not sent: over node.max-payload " +
                     std::to_string(st->settings.max_payload)),
           control_then::next);
      return;
    }
    self->request(st->router, query_timeout, broadcast_atom::value,
                  std::vector<std::string>{std::move(payload)})
        .then(
            [=](const std::vector<std::string>& ids, std::int64_t ts) {
              if (ids.empty()) {
                done(st->error("send: not sent"), control_then::next);
                return;
              }
              auto o = st->event("sent");
              o.erase("node");
              o["msg"] = ids.front();
              o["ts"] = ts;
              if (st->settings.publish) {
                auto ev = o;
                ev.erase("ok");
                st->settings.publish(json_line(ev));
              }
              done(std::move(o), control_then::next);
            },
            [=](caf::error& e) {
              done(st->error("send: " + to_string(e)), control_then::next);
            });
  };
  cmds["monitor"] = [=](const json&, done_fn done) {
    done(st->event("monitor"), control_then::monitor);
  };
  cmds["leave"] = [=](const json&, done_fn done) {
    st->log->info("leave requested over the control socket");
    // The connection stays open until the node has said goodbye and closes
    // the socket, so the client knows when the node is gone.
    done(st->event("leave"), control_then::next);
    if (st->settings.leave)
      st->settings.leave();
  };
  // The cluster keys of this node (Serf's keyring): list ids, install a key
  // (accepted from others), use one (it becomes the primary: new links and
  // datagrams), remove one (not the primary). Keys never appear in replies
  // or logs, only their ids. A change applies to new links at once; links
  // already up keep the keys they were made with.
  cmds["keys"] = [=](const json& req, done_fn done) {
    auto fail = [&](const std::string& why) {
      done(st->error("keys: " + why), control_then::next);
    };
    if (!st->settings.keys)
      return fail("this node has no keyring");
    auto op = req.value("op", std::string("list"));
    auto ring = st->settings.keys->get();
    auto reply = [&](const net::keyring& r, const std::string& changed) {
      auto o = st->event("keys");
      o["keys"] = json::array();
      for (std::size_t i = 0; i < r.keys().size(); ++i)
        o["keys"].push_back(json{{"id", r.keys()[i].id_hex()}, {"primary", i == 0}});
      if (!changed.empty())
        o["changed"] = changed;
      done(std::move(o), control_then::next);
    };
    if (op == "list")
      return reply(*ring, {});
    if (op != "install" && op != "use" && op != "remove")
      return fail("\"op\" must be list, install, use or remove");
    auto k = req.find("key");
    if (k == req.end() || !k->is_string())
      return fail(op +
                  ": \"key\" must be a string (the key, or for use and remove its id)");
    auto text = k->get<std::string>();
    // use and remove take the key or its id (what `keys list` shows).
    std::optional<net::key_id> id;
    std::optional<net::cluster_key> key = net::parse_key(text);
    if (key)
      id = key->id;
    else if (op != "install")
      for (auto& have : ring->keys())
        if (have.id_hex() == text)
          id = have.id;
    if (!id)
      return fail(op == "install" ? "install: not a key (32 bytes in standard base64, 44 "
                                    "characters; lanmesh keygen makes one)"
                                  : op + ": no such key in the keyring");
    auto keys = ring->keys();
    auto at =
        std::find_if(keys.begin(), keys.end(), [&](auto& c) { return c.id == *id; });
    std::string id_hex = at != keys.end() ? at->id_hex() : key->id_hex();
    if (op == "install") {
      if (at != keys.end())
        return reply(*ring, {});
      keys.push_back(*key);
    } else if (at == keys.end()) {
      return fail(op + ": no such key in the keyring");
    } else if (op == "use") {
      std::rotate(keys.begin(), at, at + 1);
    } else {
      if (at == keys.begin())
        return fail("remove: " + id_hex + " is the primary key; use another first");
      keys.erase(at);
    }
    auto next = std::make_shared<const net::keyring>(std::move(keys));
    st->settings.keys->set(next);
    st->log->info("keys {} {}: primary now {}, {} key(s)", op, id_hex,
                  next->empty() ? std::string("none") : next->primary().id_hex(),
                  next->keys().size());
    reply(*next, op + " " + id_hex);
  };
  cmds["help"] = [=](const json&, done_fn done) {
    auto o = st->event("help");
    std::string names;
    for (auto& [name, _] : st->commands)
      names += (names.empty() ? "" : ", ") + name;
    o["commands"] = json::array();
    for (auto& [name, _] : st->commands)
      o["commands"].push_back(name);
    o["text"] = "commands: " + names;
    done(std::move(o), control_then::next);
  };

  // Parses one request line and runs its command. Garbage is answered with
  // an error and the connection closed.
  auto handle = [=](const std::string& line, done_fn done) {
    if (too_deep(line)) {
      done(st->error("not a request: nested too deeply"), control_then::close);
      return;
    }
    auto req = json::parse(line, nullptr, false);
    if (req.is_discarded() || !req.is_object()) {
      done(st->error("not a request: expected one JSON object per line, like "
                     "{\"cmd\":\"members\"}"),
           control_then::close);
      return;
    }
    auto c = req.find("cmd");
    if (c == req.end() || !c->is_string()) {
      done(st->error("not a request: no \"cmd\" string"), control_then::close);
      return;
    }
    auto name = c->get<std::string>();
    auto it = st->commands.find(name);
    if (it == st->commands.end()) {
      done(st->error("unknown command " + name + " (try help)"), control_then::next);
      return;
    }
    it->second(req, std::move(done));
  };

  return {
      [=](wire_atom, router_actor router, caf::actor supervisor, caf::actor discovery) {
        st->router = std::move(router);
        st->supervisor = std::move(supervisor);
        st->discovery = std::move(discovery);
      },
      [=](request_atom, const std::string& line, const control_reply& reply) {
        handle(line, [reply](json r, control_then then) { reply(json_line(r), then); });
      },
      [=](request_atom, const std::string& line) {
        auto rp = self->make_response_promise<std::string>();
        handle(line, [rp](json r, control_then) mutable { rp.deliver(json_line(r)); });
        return rp;
      },
      [=](metrics_atom, const metrics_reply& reply) {
        gather(
            [=](std::shared_ptr<all_stats> a) {
              reply(prometheus_text(metrics_of(*st, *a)));
            },
            [=](const std::string& e) {
              st->log->warn("metrics: {}", e);
              reply({}); // the endpoint answers 503
            });
      },
  };
}

} // namespace lanmesh
