#include "actors/console.hpp"

#include <cstdio>

#include "actors/delivery_lines.hpp"
#include "actors/logging.hpp"
#include "actors/render.hpp"

namespace lanmesh {

namespace {

struct state {
  console_settings settings;
  router_actor router;
  control_actor control;
  std::shared_ptr<spdlog::logger> log = logging::get("console");

  void out(const std::string& line) { settings.write_line(line); }

  bool monitored() const {
    return settings.publish && settings.monitored && settings.monitored();
  }

  // An event for stdout (as JSON or text) and, when `publish`, for monitors.
  void show(const json& e, bool publish) {
    auto line = json_line(e);
    if (publish && monitored())
      settings.publish(line);
    if (settings.jsonl) {
      out(line);
      return;
    }
    for (auto& l : render_text(e))
      out("* " + l);
  }

  void error(const std::string& message) {
    log->warn("{}", message);
    if (settings.jsonl)
      out(json_line(json{{"event", "error"}, {"message", message}}));
    else
      settings.write_error("error: " + message);
  }
};

const char* help_text = "Type a line to broadcast it to every node. Commands:\n"
                        "  /peers    links of this node\n"
                        "  /members  every node this node knows of\n"
                        "  /stats    counters of this node\n"
                        "  /topology [FILE]  snapshot of the whole cluster (JSON)\n"
                        "  /help     this text\n"
                        "  /quit     say goodbye to all peers and exit\n"
                        "  //text    broadcast \"/text\"";

// Written whole under a temporary name, then renamed: a reader never sees
// half a snapshot.
bool write_file(const std::string& file, const std::string& doc) {
  auto tmp = file + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "w");
  bool ok = f && std::fwrite(doc.data(), 1, doc.size(), f) == doc.size() &&
            std::fputc('\n', f) != EOF;
  if (f)
    ok = std::fclose(f) == 0 && ok;
  return ok && std::rename(tmp.c_str(), file.c_str()) == 0;
}

} // namespace

console_actor::behavior_type console(console_actor::pointer self,
                                     console_settings settings) {
  auto st = std::make_shared<state>();
  st->settings = std::move(settings);
  auto jsonl = st->settings.jsonl;
  // A command of the control actor; its reply is printed as an event (a
  // topology also written to `file`).
  auto ask = [=](const std::string& what, const std::string& cmd,
                 const std::string& file = {}) {
    if (!st->control) {
      st->error(what + ": not ready");
      return;
    }
    self->request(st->control, std::chrono::seconds(15), request_atom::value,
                  json_line(json{{"cmd", cmd}}))
        .then(
            [=](const std::string& reply) {
              auto r = json::parse(reply, nullptr, false);
              if (r.is_discarded() || !r.is_object()) {
                st->error(what + ": bad reply");
                return;
              }
              if (!r.value("ok", false)) {
                st->error(r.value("message", what + " failed"));
                return;
              }
              r.erase("ok");
              if (!file.empty() && !write_file(file, json_line(r))) {
                st->error(what + ": cannot write " + file);
                return;
              }
              if (!jsonl && !file.empty()) {
                for (auto& l : render_text(r))
                  st->out("* " + l + " -> " + file);
                return;
              }
              st->show(r, false);
            },
            [=](caf::error& e) { st->error(what + ": " + to_string(e)); });
  };
  auto command = [=](const std::string& line) {
    if (line == "/peers") {
      ask("/peers", "peers");
    } else if (line == "/members") {
      ask("/members", "members");
    } else if (line == "/stats") {
      ask("/stats", "stats");
    } else if (line == "/topology" || line.rfind("/topology ", 0) == 0) {
      ask("/topology", "topology", line.size() > 10 ? line.substr(10) : std::string{});
    } else if (line == "/help") {
      if (jsonl)
        st->out(json_line(json{{"event", "help"}, {"text", help_text}}));
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
            [=](const std::vector<std::string>& ids, std::int64_t ts) {
              bool monitored = st->monitored();
              if ((!jsonl && !monitored) || ids.empty())
                return;
              std::string out;
              for (auto& id : ids) {
                // `ts`: when the router numbered them, before any frame left.
                auto line = json_line(json{{"event", "sent"}, {"msg", id}, {"ts", ts}});
                if (monitored)
                  st->settings.publish(line);
                if (!out.empty())
                  out += '\n';
                out += line;
              }
              if (jsonl)
                st->out(out);
            },
            [=](caf::error& e) { st->error("broadcast: " + to_string(e)); });
  };
  return {
      [=](wire_atom, router_actor router, caf::actor, caf::actor) {
        st->router = std::move(router);
      },
      [=](wire_atom, control_actor control) { st->control = std::move(control); },
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
        json j{{"event", "ready"},
               {"ts", unix_micros()},
               {"node", to_hex(e.node)},
               {"port", e.port},
               {"cluster", e.cluster}};
        if (!st->settings.control_path.empty())
          j["control"] = st->settings.control_path;
        if (!st->settings.metrics_addr.empty())
          j["metrics"] = st->settings.metrics_addr;
        if (jsonl)
          st->out(json_line(j));
        else
          st->out("* " + render_text(j).front() + " (/help for commands)");
      },
      [=](const ev_peer_up& e) {
        st->show(json{{"event", "peer_up"},
                      {"ts", unix_micros()},
                      {"peer", to_hex(e.peer)},
                      {"addr", e.addr},
                      {"dir", to_string(e.dir)}},
                 true);
      },
      [=](const ev_member& e) {
        json j{{"event", "member"},
               {"ts", unix_micros()},
               {"node", to_hex(e.node)},
               {"state", wire::to_string(e.state)}};
        j["addr"] = e.addr;
        st->show(j, true);
      },
      [=](const ev_peer_down& e) {
        st->show(json{{"event", "peer_down"},
                      {"ts", unix_micros()},
                      {"peer", to_hex(e.peer)},
                      {"reason", e.reason}},
                 true);
      },
  };
}

} // namespace lanmesh
