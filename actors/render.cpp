#include "actors/render.hpp"

#include <cstdio>

#include "actors/text_escape.hpp"

namespace lanmesh {

namespace {

std::string str(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null())
    return "-";
  // Strings may come from other nodes (payloads, reasons): shown escaped.
  if (it->is_string())
    return escape_text(it->get_ref<const std::string&>());
  return it->dump();
}

std::string ms(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number())
    return "-";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.3f ms", it->get<double>());
  return buf;
}

std::string pad(std::string s, std::size_t n) {
  if (s.size() < n)
    s.append(n - s.size(), ' ');
  return s;
}

} // namespace

std::string json_line(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

namespace {

std::vector<std::string> render(const json& e) {
  auto kind = str(e, "event");
  std::vector<std::string> out;
  if (kind == "deliver") {
    out.push_back("[" + str(e, "origin") + "] " + str(e, "payload"));
  } else if (kind == "sent") {
    out.push_back("sent " + str(e, "msg"));
  } else if (kind == "peer_up") {
    out.push_back("peer up: " + str(e, "peer") + " " + str(e, "addr") + " (" +
                  str(e, "dir") + ")");
  } else if (kind == "member") {
    auto addr = str(e, "addr");
    out.push_back("member " + str(e, "node") + " " + str(e, "state") +
                  (addr.empty() || addr == "-" ? "" : " (" + addr + ")"));
  } else if (kind == "peer_down") {
    out.push_back("peer down: " + str(e, "peer") + " (" + str(e, "reason") + ")");
  } else if (kind == "ready") {
    out.push_back("node " + str(e, "node") + " ready on port " + str(e, "port") +
                  ", cluster " + str(e, "cluster") +
                  (e.contains("control") ? ", control " + str(e, "control") : ""));
  } else if (kind == "error") {
    out.push_back("error: " + str(e, "message"));
  } else if (kind == "peers") {
    auto& peers = e.at("peers");
    out.push_back(std::to_string(peers.size()) + " peer(s)");
    for (auto& p : peers) {
      auto age = p.value("age_ms", std::int64_t{0}) / 1000;
      out.push_back("  " + str(p, "peer") + "  " + str(p, "addr") + "  " + str(p, "dir") +
                    "  up " + std::to_string(age) + " s  rtt " + ms(p, "rtt_ms"));
    }
  } else if (kind == "members") {
    auto& members = e.at("members");
    out.push_back(std::to_string(members.size()) + " member(s)");
    out.push_back(pad("node", 18) + pad("address", 23) + pad("status", 13) + "links");
    for (auto& m : members) {
      auto addr = str(m, "addr");
      out.push_back(pad(str(m, "node"), 18) + pad(addr.empty() ? "-" : addr, 23) +
                    pad(str(m, "status"), 13) + "in " + str(m, "links_in") + ", out " +
                    str(m, "links_out"));
    }
  } else if (kind == "stats") {
    // Every counter, one per line, in the order the node gave them.
    for (auto it = e.begin(); it != e.end(); ++it) {
      if (it.key() == "event" || it.key() == "ok")
        continue;
      out.push_back(pad(it.key(), 22) +
                    (it->is_string() ? it->get<std::string>() : json_line(*it)));
    }
  } else if (kind == "topology") {
    std::size_t answered = 0;
    for (auto& n : e.at("nodes"))
      answered += n.value("answered", false) ? 1 : 0;
    out.push_back("topology: " + std::to_string(e.at("nodes").size()) + " node(s), " +
                  std::to_string(answered) + " answered, " +
                  std::to_string(e.at("edges").size()) + " link(s), " + ms(e, "took_ms"));
  } else if (kind == "keys") {
    if (e.contains("changed"))
      out.push_back("keys: " + str(e, "changed"));
    if (e.at("keys").empty())
      out.push_back("no cluster key: any host may join");
    for (auto& k : e.at("keys"))
      out.push_back(str(k, "id") + (k.value("primary", false) ? "  primary" : ""));
  } else if (kind == "leave") {
    out.push_back("node " + str(e, "node") + " is leaving: goodbye to every peer");
  } else if (kind == "monitor") {
    out.push_back("monitoring node " + str(e, "node") + " (Ctrl+C to stop)");
  } else if (kind == "help") {
    out.push_back(str(e, "text"));
  } else {
    out.push_back(json_line(e));
  }
  return out;
}

} // namespace

std::vector<std::string> render_text(const json& e) {
  try {
    return render(e);
  } catch (const json::exception&) {
    return {json_line(e)}; // not the shape its kind has: shown as it is
  }
}

} // namespace lanmesh
