#include "sim/scenario.hpp"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

namespace lanmesh::sim {

namespace {

using json = nlohmann::json;

template <class T> void get(const json& j, const char* key, T& v) {
  if (j.contains(key))
    v = j.at(key).get<T>();
}

const char* const known_actions[] = {"join", "crash",     "leave", "partition",
                                     "heal", "broadcast", "churn"};

} // namespace

scenario parse_scenario(const std::string& text, const std::string& name) {
  scenario s;
  s.name = name;
  json j;
  try {
    j = json::parse(text, nullptr, true, true);
  } catch (const std::exception& e) {
    throw std::runtime_error(name + ": not JSON: " + e.what());
  }
  try {
    get(j, "name", s.name);
    get(j, "seed", s.seed);
    get(j, "nodes", s.nodes);
    get(j, "join_over_s", s.join_over_s);
    get(j, "duration_s", s.duration_s);
    get(j, "metrics_s", s.metrics_s);
    get(j, "loss", s.loss);
    get(j, "rto_ms", s.rto_ms);
    get(j, "mode", s.mode);
    get(j, "payload_bytes", s.payload_bytes);
    get(j, "broadcast_lines", s.broadcast_lines);
    get(j, "link_lines", s.link_lines);
    get(j, "settle_s", s.settle_s);
    get(j, "reach_window_s", s.reach_window_s);
    get(j, "max_members", s.max_members);
    get(j, "history_age_s", s.history_age_s);
    get(j, "target_degree", s.target_degree);
    get(j, "max_degree", s.max_degree);
    get(j, "sync_interval_s", s.sync_interval_s);
    get(j, "partial_reach", s.partial_reach);
    get(j, "discovery_sample", s.discovery_sample);
    get(j, "discovery_candidates", s.discovery_candidates);
    if (j.contains("latency")) {
      auto& l = j.at("latency");
      std::string dist = l.value("dist", "uniform");
      if (dist == "constant") {
        s.latency.kind = latency_model::constant;
        s.latency.a_ms = l.value("ms", 0.5);
      } else if (dist == "uniform") {
        s.latency.kind = latency_model::uniform;
        s.latency.a_ms = l.value("min_ms", 0.2);
        s.latency.b_ms = l.value("max_ms", 1.0);
      } else if (dist == "lognormal") {
        s.latency.kind = latency_model::lognormal;
        s.latency.a_ms = l.value("median_ms", 0.5);
        s.latency.b_ms = l.value("sigma", 0.5);
      } else {
        throw std::runtime_error("latency.dist must be constant, uniform or lognormal");
      }
    }
    if (j.contains("events"))
      for (auto& e : j.at("events")) {
        action a;
        get(e, "at_s", a.at_s);
        get(e, "what", a.what);
        get(e, "count", a.count);
        get(e, "fraction", a.fraction);
        get(e, "silent", a.silent);
        get(e, "over_s", a.over_s);
        if (e.contains("senders"))
          a.senders = e.at("senders").is_number()
                          ? std::to_string(e.at("senders").get<long>())
                          : e.at("senders").get<std::string>();
        get(e, "groups", a.groups);
        get(e, "until_s", a.until_s);
        bool ok = false;
        for (auto* k : known_actions)
          ok = ok || a.what == k;
        if (!ok)
          throw std::runtime_error("unknown event \"" + a.what + "\"");
        s.actions.push_back(a);
      }
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(name + ": " + e.what());
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(name + ": " + e.what());
  }
  if (s.mode != "tree" && s.mode != "flood")
    throw std::runtime_error(name + ": mode must be tree or flood");
  if (s.metrics_s <= 0 || s.duration_s <= 0)
    throw std::runtime_error(name + ": duration_s and metrics_s must be positive");
  return s;
}

scenario load_scenario(const std::string& path) {
  std::ifstream f(path);
  if (!f)
    throw std::runtime_error(path + ": cannot read");
  std::stringstream ss;
  ss << f.rdbuf();
  return parse_scenario(ss.str(), path);
}

} // namespace lanmesh::sim
