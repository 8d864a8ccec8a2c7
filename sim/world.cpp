#include "sim/world.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>

#include "net/announce.hpp"

namespace lanmesh::sim {

namespace {

using ojson = nlohmann::ordered_json;
using namespace std::chrono_literals;

double r3(double x) {
  return std::round(x * 1000.0) / 1000.0;
}

duration secs(double s) {
  return std::chrono::duration_cast<duration>(std::chrono::duration<double>(s));
}

double seconds_of(duration d) {
  return std::chrono::duration<double>(d).count();
}

// Internal jobs the scenario expands into (ev::action's arg indexes them).
enum class job_kind : std::uint8_t { join, scenario, publish, churn };

} // namespace

const char* to_string(fk k) {
  static const char* const names[] = {
      "hello",    "welcome", "refuse",      "goodbye", "members",   "member_records",
      "sync",     "reverse", "redirect",    "ping",    "broadcast", "ihave",
      "graft",    "prune",   "iwant",       "nothave", "streams",   "query",
      "announce", "answer",  "multicast_rx"};
  return names[static_cast<int>(k)];
}

namespace {
struct job {
  job_kind kind;
  std::uint32_t idx = 0;
  std::size_t action = 0;
};
} // namespace

// The job list lives beside the world (kept out of the header).
static std::vector<job> g_jobs;

world::world(const scenario& sc)
    : sc_(sc), net_(sc.seed, sc.latency, sc.loss,
                    std::chrono::duration_cast<duration>(
                        std::chrono::duration<double, std::milli>(sc.rto_ms))),
      rng_(sc.seed * 0x9e3779b97f4a7c15ULL + 7) {
  g_jobs.clear();
  start_ = net_.now();
  last_tick_ = start_;
  // The node's defaults (main/config.hpp), with the scenario's changes.
  settings_.overlay.target_degree = sc.target_degree;
  settings_.overlay.max_degree = sc.max_degree;
  settings_.overlay.seed = sc.seed;
  std::size_t churn = 0;
  for (auto& a : sc.actions)
    if (a.what == "churn")
      churn += static_cast<std::size_t>(std::ceil(a.fraction * double(sc.nodes) *
                                                  (a.until_s - a.at_s) / 60.0)) +
               1;
    else if (a.what == "join")
      churn += a.count;
  settings_.membership.max_members =
      sc.max_members ? sc.max_members : sc.nodes + churn + 64;
  settings_.membership.sync_interval =
      std::chrono::milliseconds(static_cast<long>(sc.sync_interval_s * 1000));
  settings_.membership.seed = sc.seed;
  if (sc.partial_reach >= 0)
    settings_.membership.partial_reach = static_cast<std::uint8_t>(sc.partial_reach);
  settings_.live.dead_after = 1800ms; // overlay.dead-after
  settings_.tree.history_age =
      std::chrono::milliseconds(static_cast<long>(sc.history_age_s * 1000));
  settings_.flood = sc.mode == "flood";
  settings_.tree.tree = true;
  settings_.discovery_candidates = sc.discovery_candidates;
  slots_.reserve(sc.nodes + churn);
}

std::int64_t world::ms_since_start(time_point t) const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t - start_).count();
}

std::int64_t world::idx_of_addr(const std::string& addr) const {
  std::uint32_t ip = 0, part = 0;
  for (char c : addr) {
    if (c == '.' || c == ':') {
      ip = (ip << 8) | part;
      part = 0;
      if (c == ':')
        break;
    } else if (c >= '0' && c <= '9') {
      part = part * 10 + static_cast<std::uint32_t>(c - '0');
    }
  }
  std::int64_t idx = std::int64_t{ip} - std::int64_t{ip_of_index(0)};
  return idx >= 0 && idx < std::int64_t(slots_.size()) ? idx : -1;
}

std::uint32_t world::add_node(time_point) {
  slot s;
  do {
    s.id = rng_() | 1;
  } while (by_id_.count(s.id));
  auto idx = static_cast<std::uint32_t>(slots_.size());
  by_id_[s.id] = idx;
  slots_.push_back(std::move(s));
  net_.set_group(idx, 0);
  return idx;
}

void world::join(std::uint32_t idx, time_point now) {
  auto& s = slots_[idx];
  s.node = std::make_unique<sim_node>(*this, idx, s.id, settings_, now);
  s.up = true;
  s.host = true;
  s.joined = now;
  s.node->start(now);
  arm(idx, s.node->next_wakeup());
}

void world::kill(std::uint32_t idx, bool silent, time_point now) {
  auto& s = slots_[idx];
  if (!s.up)
    return;
  s.up = false;
  s.gone = now;
  s.host = !silent;
  for (auto conn : s.node->open_conns()) {
    auto* c = net_.conn(conn);
    if (!c)
      continue;
    auto other = c->a == idx ? c->b : c->a;
    if (silent) {
      // Nothing more comes from it: the other end's liveness rule drops the
      // link once it has been silent for dead_after (the last heartbeat came
      // up to one heartbeat before).
      if ((c->a == idx ? c->b_open : c->a_open) && slots_[other].up) {
        event e;
        auto lo = settings_.live.dead_after - settings_.heartbeat;
        e.at = now + lo +
               secs(std::uniform_real_distribution<double>(
                   0, seconds_of(settings_.heartbeat))(net_.rng()));
        e.type = ev::silence;
        e.node = other;
        e.conn = conn;
        net_.schedule(e);
      }
    } else {
      auto m = std::make_shared<link_msg>();
      m->kind = msg_kind::reset;
      net_.send(conn, idx, m);
    }
    net_.close_end(conn, idx);
  }
  s.node.reset();
}

void world::leave(std::uint32_t idx, time_point now) {
  auto& s = slots_[idx];
  if (!s.up)
    return;
  s.node->leave(now);
  s.up = false;
  s.gone = now;
  s.node.reset();
}

void world::partition(std::uint16_t groups, time_point now) {
  auto up = up_nodes();
  std::vector<std::uint32_t> order = up;
  std::shuffle(order.begin(), order.end(), net_.rng());
  for (std::size_t i = 0; i < order.size(); ++i)
    net_.set_group(order[i], static_cast<std::uint16_t>(i * groups / order.size()));
  // Nodes not running (yet) fall in group 0.
  for (auto idx : up) {
    for (auto conn : slots_[idx].node->open_conns()) {
      auto* c = net_.conn(conn);
      if (!c)
        continue;
      auto other = c->a == idx ? c->b : c->a;
      if (!net_.blocked(idx, other))
        continue;
      event e;
      auto lo = settings_.live.dead_after - settings_.heartbeat;
      e.at = now + lo +
             secs(std::uniform_real_distribution<double>(
                 0, seconds_of(settings_.heartbeat))(net_.rng()));
      e.type = ev::silence;
      e.node = idx;
      e.conn = conn;
      net_.schedule(e);
    }
  }
}

void world::heal(time_point) {
  net_.heal();
}

std::vector<std::uint32_t> world::up_nodes() const {
  std::vector<std::uint32_t> out;
  for (std::uint32_t i = 0; i < slots_.size(); ++i)
    if (slots_[i].up)
      out.push_back(i);
  return out;
}

std::uint32_t world::pick_up(std::mt19937_64& rng) {
  auto up = up_nodes();
  if (up.empty())
    return UINT32_MAX;
  return up[std::uniform_int_distribution<std::size_t>(0, up.size() - 1)(rng)];
}

// --- for the nodes -----------------------------------------------------------------

std::uint64_t world::dial(std::uint32_t from, const std::string& addr, link_msg hello,
                          std::chrono::milliseconds timeout) {
  auto target = idx_of_addr(addr);
  auto to = target < 0 ? from : static_cast<std::uint32_t>(target);
  auto conn = net_.open_conn(from, to);
  auto now = net_.now();
  event e;
  e.node = from;
  e.conn = conn;
  if (target < 0 || net_.blocked(from, to) || !slots_[to].host) {
    e.type = ev::dial_failed;
    e.arg = 1;
    e.at = now + timeout;
    net_.schedule(e);
    return conn;
  }
  if (!slots_[to].up) {
    e.type = ev::dial_failed; // the host answers the SYN with RST
    e.arg = 0;
    e.at = now + net_.latency() + net_.latency();
    net_.schedule(e);
    return conn;
  }
  // The TCP handshake (a round trip), then the HELLO.
  count(fk::hello);
  net_.send(conn, from, std::make_shared<link_msg>(std::move(hello)),
            net_.latency() + net_.latency());
  e.type = ev::hs_timeout;
  e.at = now + settings_.handshake_timeout;
  net_.schedule(e);
  e.node = to;
  net_.schedule(e);
  return conn;
}

void world::count_plane(const broadcast_plane::frames_ptr& frames, std::uint32_t) {
  wire::for_each_frame(frames->data(), frames->size(),
                       [&](std::uint8_t type, const std::uint8_t*, std::size_t) {
                         switch (static_cast<wire::frame_type>(type)) {
                         case wire::frame_type::broadcast:
                           count(fk::broadcast);
                           break;
                         case wire::frame_type::ihave:
                           count(fk::ihave);
                           break;
                         case wire::frame_type::graft:
                           count(fk::graft);
                           break;
                         case wire::frame_type::prune:
                           count(fk::prune);
                           break;
                         case wire::frame_type::iwant:
                           count(fk::iwant);
                           break;
                         case wire::frame_type::nothave:
                           count(fk::nothave);
                           break;
                         case wire::frame_type::streams:
                           count(fk::streams);
                           break;
                         default:
                           break;
                         }
                       });
}

void world::send(std::uint64_t conn, std::uint32_t from, link_msg m) {
  switch (m.kind) {
  case msg_kind::hello:
    count(fk::hello);
    break;
  case msg_kind::welcome:
    count(fk::welcome);
    break;
  case msg_kind::refuse:
    count(fk::refuse);
    break;
  case msg_kind::goodbye:
    count(fk::goodbye);
    break;
  case msg_kind::members:
    count(fk::members);
    count(fk::member_records, m.members.records.size());
    break;
  case msg_kind::sync:
    count(fk::sync);
    break;
  case msg_kind::reverse:
    count(fk::reverse);
    break;
  case msg_kind::redirect:
    count(fk::redirect);
    break;
  case msg_kind::plane:
    count_plane(m.bytes, from);
    break;
  case msg_kind::ping: {
    // Heartbeats are counted per link and interval (metrics); this one
    // stands for the next heartbeat carrying the new load: it comes within
    // one heartbeat and is not held behind the link's other frames.
    auto* c = net_.conn(conn);
    if (!c)
      return;
    auto to = c->a == from ? c->b : c->a;
    if (!(c->a == from ? c->b_open : c->a_open) || net_.blocked(from, to))
      return;
    event e;
    e.at = net_.now() + net_.latency() +
           secs(std::uniform_real_distribution<double>(
               0, seconds_of(settings_.heartbeat))(net_.rng()));
    e.type = ev::msg;
    e.node = to;
    e.peer = from;
    e.conn = conn;
    e.msg = std::make_shared<link_msg>(std::move(m));
    net_.schedule(std::move(e));
    return;
  }
  case msg_kind::reset:
    break;
  }
  net_.send(conn, from, std::make_shared<link_msg>(std::move(m)));
}

void world::check_port(std::uint32_t from, node_id subject, std::uint32_t ip,
                       std::uint16_t) {
  std::int64_t idx = std::int64_t{ip} - std::int64_t{ip_of_index(0)};
  event e;
  e.type = ev::confirm;
  e.node = from;
  e.arg = subject;
  auto now = net_.now();
  if (idx < 0 || idx >= std::int64_t(slots_.size()) ||
      net_.blocked(from, static_cast<std::uint32_t>(idx)) ||
      !slots_[static_cast<std::size_t>(idx)].host) {
    e.extra = 2;
    e.at = now + settings_.confirm_timeout;
  } else {
    auto& s = slots_[static_cast<std::size_t>(idx)];
    e.extra = s.up && s.id == subject ? 0 : 1;
    e.at = now + net_.latency() + net_.latency();
  }
  net_.schedule(e);
}

void world::group_send(std::uint32_t from, std::vector<std::uint8_t> bytes,
                       wire::announce_kind kind) {
  count(kind == wire::announce_kind::query ? fk::query : fk::announce);
  auto shared = std::make_shared<const std::vector<std::uint8_t>>(std::move(bytes));
  std::vector<std::uint32_t> to;
  for (std::uint32_t i = 0; i < slots_.size(); ++i)
    if (i != from && slots_[i].up && !net_.blocked(from, i))
      to.push_back(i);
  count(fk::multicast_rx, to.size());
  if (sc_.discovery_sample && to.size() > sc_.discovery_sample) {
    for (std::size_t i = 0; i < sc_.discovery_sample; ++i)
      std::swap(to[i], to[i + std::uniform_int_distribution<std::size_t>(
                                  0, to.size() - 1 - i)(net_.rng())]);
    to.resize(sc_.discovery_sample);
  }
  for (auto i : to) {
    if (net_.lost())
      continue;
    event e;
    e.at = net_.now() + net_.latency();
    e.type = ev::datagram;
    e.node = i;
    e.peer = from;
    e.bytes = shared;
    net_.schedule(std::move(e));
  }
}

void world::send_to(std::uint32_t from, const std::string& ip,
                    std::vector<std::uint8_t> bytes) {
  count(fk::answer);
  auto idx = idx_of_addr(ip + ":0");
  if (idx < 0 || !slots_[idx].up || net_.blocked(from, std::uint32_t(idx)) || net_.lost())
    return;
  event e;
  e.at = net_.now() + net_.latency();
  e.type = ev::datagram;
  e.node = static_cast<std::uint32_t>(idx);
  e.peer = from;
  e.bytes = std::make_shared<const std::vector<std::uint8_t>>(std::move(bytes));
  net_.schedule(std::move(e));
}

void world::delivered(std::uint32_t node, const broadcast_plane::frames_ptr& frames,
                      time_point now) {
  wire::for_each_broadcast(
      frames->data(), frames->size(),
      [&](const wire::broadcast_view& v, const std::uint8_t*, std::size_t) {
        auto o = by_id_.find(v.origin);
        if (o == by_id_.end() || o->second == node)
          return;
        auto b = by_origin_.find(o->second);
        if (b == by_origin_.end() || v.seq == 0 || v.seq > b->second.size())
          return;
        auto& bc = bcasts_[b->second[v.seq - 1]];
        if (bc.got.size() <= node)
          bc.got.resize(slots_.size(), 0);
        ++deliveries_;
        ++slots_[node].delivered;
        if (bc.got[node]++ > 0) {
          ++duplicates_;
          return;
        }
        ++bc.reached;
        bc.ldh = std::max(bc.ldh, v.hops);
        bc.hop_sum += v.hops;
        bc.last = std::max(bc.last, now);
        if (now - bc.at <= secs(sc_.reach_window_s))
          ++bc.reached_fast;
      });
}

void world::gap(std::uint32_t, const wire::stream_range& r) {
  ++gaps_;
  gap_messages_ += r.last >= r.first ? r.last - r.first + 1 : 0;
}

void world::arm(std::uint32_t node, time_point at) {
  auto& s = slots_[node];
  if (at == time_point::max() || at >= s.armed)
    return;
  s.armed = at;
  event e;
  e.at = at;
  e.type = ev::timer;
  e.node = node;
  net_.schedule(e);
}

// --- the schedule --------------------------------------------------------------------

void world::publish(std::uint32_t idx, time_point now) {
  if (idx >= slots_.size() || !slots_[idx].up)
    return;
  auto& list = by_origin_[idx];
  bcast b;
  b.origin = idx;
  b.seq = list.size() + 1;
  b.at = now;
  b.got.assign(slots_.size(), 0);
  list.push_back(static_cast<std::uint32_t>(bcasts_.size()));
  bcasts_.push_back(std::move(b));
  std::string payload(sc_.payload_bytes, 'x');
  auto n = std::to_string(bcasts_.size());
  payload.replace(0, std::min(n.size(), payload.size()), n.substr(0, payload.size()));
  slots_[idx].node->publish(payload, now);
}

void world::schedule_actions() {
  auto at_s = [&](double s) { return start_ + secs(s); };
  auto push = [&](time_point at, job j) {
    g_jobs.push_back(j);
    event e;
    e.at = at;
    e.type = ev::action;
    e.arg = g_jobs.size() - 1;
    net_.schedule(e);
  };
  for (std::size_t i = 0; i < sc_.nodes; ++i) {
    auto idx = add_node(start_);
    double t = sc_.join_over_s > 0
                   ? std::uniform_real_distribution<double>(0, sc_.join_over_s)(rng_)
                   : 0.0;
    push(at_s(t), job{job_kind::join, idx, 0});
  }
  for (std::size_t i = 0; i < sc_.actions.size(); ++i)
    push(at_s(sc_.actions[i].at_s), job{job_kind::scenario, 0, i});
  for (double t = sc_.metrics_s; t < sc_.duration_s + 1e-9; t += sc_.metrics_s) {
    event e;
    e.at = at_s(t);
    e.type = ev::metrics;
    net_.schedule(e);
  }
}

void world::do_action(std::size_t i, time_point now) {
  auto& a = sc_.actions[i];
  auto push = [&](time_point at, job j) {
    g_jobs.push_back(j);
    event e;
    e.at = at;
    e.type = ev::action;
    e.arg = g_jobs.size() - 1;
    net_.schedule(e);
  };
  auto pick = [&](std::size_t n) {
    auto up = up_nodes();
    n = std::min(n, up.size());
    for (std::size_t k = 0; k < n; ++k)
      std::swap(
          up[k],
          up[k + std::uniform_int_distribution<std::size_t>(0, up.size() - 1 - k)(rng_)]);
    up.resize(n);
    return up;
  };
  auto how_many = [&] {
    return a.count
               ? a.count
               : static_cast<std::size_t>(std::llround(a.fraction * up_nodes().size()));
  };
  if (a.what == "join") {
    for (std::size_t k = 0; k < a.count; ++k) {
      auto idx = add_node(now);
      double t =
          a.over_s > 0 ? std::uniform_real_distribution<double>(0, a.over_s)(rng_) : 0.0;
      push(now + secs(t), job{job_kind::join, idx, 0});
    }
  } else if (a.what == "crash") {
    for (auto idx : pick(how_many()))
      kill(idx, a.silent, now);
  } else if (a.what == "leave") {
    for (auto idx : pick(how_many()))
      leave(idx, now);
  } else if (a.what == "partition") {
    partition(std::max<std::uint16_t>(2, a.groups), now);
  } else if (a.what == "heal") {
    heal(now);
  } else if (a.what == "broadcast") {
    std::vector<std::uint32_t> senders;
    if (a.senders == "one")
      senders = pick(1);
    else if (a.senders != "all")
      senders = pick(std::stoul(a.senders));
    std::size_t n = std::max<std::size_t>(1, a.count);
    for (std::size_t k = 0; k < n; ++k) {
      auto t = now + secs(a.over_s * double(k) / double(n));
      std::uint32_t who = UINT32_MAX; // "all": picked when it is sent
      if (!senders.empty())
        who = senders[k % senders.size()];
      push(t, job{job_kind::publish, who, i});
    }
  } else if (a.what == "churn") {
    push(now, job{job_kind::churn, 0, i});
  }
  actions_log_.push_back(a.what);
}

// --- metrics -------------------------------------------------------------------------

std::size_t world::components(std::size_t* largest) const {
  std::vector<std::uint32_t> parent(slots_.size());
  for (std::uint32_t i = 0; i < parent.size(); ++i)
    parent[i] = i;
  auto find = [&](std::uint32_t x) {
    while (parent[x] != x)
      x = parent[x] = parent[parent[x]];
    return x;
  };
  for (std::uint32_t i = 0; i < slots_.size(); ++i) {
    if (!slots_[i].up)
      continue;
    for (auto& [peer, _] : slots_[i].node->links().links()) {
      auto it = by_id_.find(peer);
      if (it == by_id_.end() || !slots_[it->second].up)
        continue;
      parent[find(i)] = find(it->second);
    }
  }
  std::map<std::uint32_t, std::size_t> sizes;
  for (std::uint32_t i = 0; i < slots_.size(); ++i)
    if (slots_[i].up)
      ++sizes[find(i)];
  std::size_t big = 0;
  for (auto& [_, n] : sizes)
    big = std::max(big, n);
  if (largest)
    *largest = big;
  return sizes.size();
}

void world::metrics(std::ostream& out, time_point now, bool) {
  auto up = up_nodes();
  double dt = seconds_of(now - last_tick_);
  last_tick_ = now;
  // Heartbeats: one per link and direction every overlay.heartbeat.
  std::size_t link_ends = 0;
  double members_sum = 0;
  std::size_t members_min = SIZE_MAX;
  for (auto i : up) {
    auto& n = *slots_[i].node;
    link_ends += n.links().size();
    auto known = n.members().alive() + 1;
    members_sum += double(known);
    members_min = std::min(members_min, known);
  }
  count(fk::ping, static_cast<std::uint64_t>(std::llround(
                      double(link_ends) * dt / seconds_of(settings_.heartbeat))));
  double node_s = double(up.size()) * dt;
  node_seconds_ += node_s;
  std::size_t largest = 0;
  auto comps = components(&largest);
  ojson j;
  j["type"] = "interval";
  j["t_s"] = r3(seconds_of(now - start_));
  j["up"] = up.size();
  j["links_avg"] = up.empty() ? 0.0 : r3(double(link_ends) / double(up.size()));
  j["components"] = comps;
  j["largest_component"] = largest;
  j["members_known_avg"] = up.empty() ? 0.0 : r3(members_sum / double(up.size()));
  j["members_known_min"] = up.empty() ? 0 : members_min;
  auto deliveries = deliveries_ - last_deliveries_;
  auto payload_in = payload_in_ - last_payload_in_;
  j["delivered"] = deliveries;
  j["payload_in"] = payload_in;
  j["rmr"] = deliveries ? r3(double(payload_in) / double(deliveries) - 1.0) : 0.0;
  last_deliveries_ = deliveries_;
  last_payload_in_ = payload_in_;
  ojson f = ojson::object();
  std::uint64_t total = 0;
  for (int k = 0; k < static_cast<int>(fk::count_); ++k) {
    auto d = counts_[k] - last_counts_[k];
    last_counts_[k] = counts_[k];
    if (static_cast<fk>(k) != fk::member_records &&
        static_cast<fk>(k) != fk::multicast_rx)
      total += d;
    f[to_string(static_cast<fk>(k))] = node_s > 0 ? r3(double(d) / node_s) : 0.0;
  }
  j["frames_per_node_s"] = f;
  j["frames_per_node_s_total"] = node_s > 0 ? r3(double(total) / node_s) : 0.0;
  j["gaps"] = gaps_;
  j["events"] = net_.processed();
  out << j.dump() << "\n";
}

void world::summary(std::ostream& out, time_point now) {
  std::uint64_t expected = 0, reached = 0, missed = 0, reached_fast = 0;
  std::uint16_t ldh_max = 0;
  double ldh_sum = 0, last_ms_sum = 0, last_ms_max = 0;
  std::size_t counted = 0;
  auto settle = secs(sc_.settle_s);
  for (std::size_t b = 0; b < bcasts_.size(); ++b) {
    auto& bc = bcasts_[b];
    std::uint64_t exp = 0, got = 0, fast = 0;
    for (std::uint32_t i = 0; i < slots_.size(); ++i) {
      auto& s = slots_[i];
      if (i == bc.origin || !s.up || s.joined + settle > bc.at)
        continue;
      ++exp;
      if (i < bc.got.size() && bc.got[i] > 0)
        ++got;
    }
    fast = std::min<std::uint64_t>(bc.reached_fast, exp);
    expected += exp;
    reached += got;
    reached_fast += fast;
    missed += exp - got;
    ldh_max = std::max(ldh_max, bc.ldh);
    double last_ms = bc.reached ? seconds_of(bc.last - bc.at) * 1000 : 0;
    if (bc.reached) {
      ldh_sum += bc.ldh;
      last_ms_sum += last_ms;
      last_ms_max = std::max(last_ms_max, last_ms);
      ++counted;
    }
    if (sc_.broadcast_lines) {
      ojson l;
      l["type"] = "broadcast";
      l["i"] = b;
      l["origin"] = bc.origin;
      l["t_s"] = r3(seconds_of(bc.at - start_));
      l["expected"] = exp;
      l["reached"] = got;
      l["reached_within_window"] = fast;
      l["ldh"] = bc.ldh;
      l["last_ms"] = r3(last_ms);
      l["rmr"] = bc.reached ? r3(double(bc.payload_in) / double(bc.reached) - 1.0) : 0.0;
      out << l.dump() << "\n";
    }
  }
  auto up = up_nodes();
  if (sc_.link_lines) {
    // As the node's /peers shows them (peer and direction), for the rule
    // checks the fidelity test runs on both the simulator and real nodes.
    for (auto i : up) {
      std::vector<std::pair<std::uint32_t, std::string>> peers;
      for (auto& [peer, e] : slots_[i].node->links().links()) {
        auto it = by_id_.find(peer);
        if (it != by_id_.end())
          peers.emplace_back(it->second, to_string(e.dir));
      }
      std::sort(peers.begin(), peers.end());
      ojson l;
      l["type"] = "links";
      l["node"] = i;
      l["peers"] = ojson::array();
      for (auto& [p, dir] : peers)
        l["peers"].push_back({{"peer", p}, {"dir", dir}});
      out << l.dump() << "\n";
    }
  }
  double members_sum = 0;
  double streams_sum = 0, history_sum = 0;
  membership_stats ms;
  for (auto i : up) {
    members_sum += double(slots_[i].node->members().alive() + 1);
    auto& st = slots_[i].node->members().stats();
    ms.records_received += st.records_received;
    ms.news += st.news;
    ms.sync_pushes += st.sync_pushes;
    ms.evicted += st.evicted;
    ms.forgotten_heard += st.forgotten_heard;
    ms.beyond_reach += st.beyond_reach;
    auto p = slots_[i].node->plane();
    streams_sum += double(p.streams);
    history_sum += double(p.history_bytes);
  }
  std::size_t largest = 0;
  auto comps = components(&largest);
  ojson j;
  j["type"] = "summary";
  j["scenario"] = sc_.name;
  j["seed"] = sc_.seed;
  j["mode"] = sc_.mode;
  j["nodes_started"] = slots_.size();
  j["up"] = up.size();
  j["t_s"] = r3(seconds_of(now - start_));
  j["broadcasts"] = bcasts_.size();
  j["expected"] = expected;
  j["delivered"] = reached;
  j["missed"] = missed;
  j["reached_within_window"] = reached_fast;
  j["duplicates"] = duplicates_;
  j["gaps"] = gaps_;
  j["gap_messages"] = gap_messages_;
  j["rmr"] = deliveries_ ? r3(double(payload_in_) / double(deliveries_) - 1.0) : 0.0;
  j["ldh_max"] = ldh_max;
  j["ldh_avg"] = counted ? r3(ldh_sum / double(counted)) : 0.0;
  j["last_delivery_ms_avg"] = counted ? r3(last_ms_sum / double(counted)) : 0.0;
  j["last_delivery_ms_max"] = r3(last_ms_max);
  ojson f = ojson::object();
  std::uint64_t total = 0;
  for (int k = 0; k < static_cast<int>(fk::count_); ++k) {
    if (static_cast<fk>(k) != fk::member_records &&
        static_cast<fk>(k) != fk::multicast_rx)
      total += counts_[k];
    f[to_string(static_cast<fk>(k))] =
        node_seconds_ > 0 ? r3(double(counts_[k]) / node_seconds_) : 0.0;
  }
  j["frames_per_node_s"] = f;
  j["frames_per_node_s_total"] =
      node_seconds_ > 0 ? r3(double(total) / node_seconds_) : 0.0;
  j["members_known_avg"] = up.empty() ? 0.0 : r3(members_sum / double(up.size()));
  j["streams_avg"] = up.empty() ? 0.0 : r3(streams_sum / double(up.size()));
  j["history_bytes_avg"] = up.empty() ? 0.0 : r3(history_sum / double(up.size()));
  j["components"] = comps;
  j["largest_component"] = largest;
  // Totals over the nodes up at the end: where membership's records went.
  j["membership"] = {
      {"records_received", ms.records_received}, {"news", ms.news},
      {"sync_pushes", ms.sync_pushes},           {"evicted", ms.evicted},
      {"forgotten_heard", ms.forgotten_heard},   {"beyond_reach", ms.beyond_reach}};
  j["events"] = net_.processed();
  out << j.dump() << "\n";
}

// --- the loop --------------------------------------------------------------------------

void world::run(std::ostream& out, std::ostream* progress) {
  schedule_actions();
  auto end = start_ + secs(sc_.duration_s);
  auto wall0 = std::chrono::steady_clock::now(); // progress only, never in the output
  event e;
  while (net_.next(e)) {
    if (e.at > end)
      break;
    auto now = net_.now();
    auto node_ok = [&](std::uint32_t i) { return i < slots_.size() && slots_[i].up; };
    switch (e.type) {
    case ev::timer:
      if (!node_ok(e.node) || slots_[e.node].armed != e.at)
        break;
      slots_[e.node].armed = time_point::max();
      slots_[e.node].node->on_timer(now);
      break;
    case ev::msg:
      if (!node_ok(e.node))
        break;
      if (e.msg->kind == msg_kind::plane) {
        wire::for_each_frame(
            e.msg->bytes->data(), e.msg->bytes->size(),
            [&](std::uint8_t type, const std::uint8_t* p, std::size_t size) {
              if (type != static_cast<std::uint8_t>(wire::frame_type::broadcast))
                return;
              ++payload_in_;
              auto v = wire::view_broadcast(p, size - 4);
              auto o = by_id_.find(v.origin);
              if (o == by_id_.end())
                return;
              auto b = by_origin_.find(o->second);
              if (b != by_origin_.end() && v.seq >= 1 && v.seq <= b->second.size())
                ++bcasts_[b->second[v.seq - 1]].payload_in;
            });
      }
      slots_[e.node].node->on_msg(e.conn, e.peer, *e.msg, now);
      break;
    case ev::dial_failed:
      if (node_ok(e.node))
        slots_[e.node].node->on_dial_failed(e.conn, e.arg == 1, now);
      break;
    case ev::hs_timeout:
      if (node_ok(e.node))
        slots_[e.node].node->on_hs_timeout(e.conn, now);
      break;
    case ev::silence:
      if (node_ok(e.node))
        slots_[e.node].node->on_silence(e.conn, now);
      break;
    case ev::confirm:
      if (node_ok(e.node))
        slots_[e.node].node->on_confirm(e.arg, e.extra == 1, e.extra == 2, now);
      break;
    case ev::datagram:
      if (node_ok(e.node))
        slots_[e.node].node->on_datagram(*e.bytes, e.peer, now);
      break;
    case ev::action: {
      auto j = g_jobs[e.arg];
      switch (j.kind) {
      case job_kind::join:
        join(j.idx, now);
        break;
      case job_kind::scenario:
        do_action(j.action, now);
        break;
      case job_kind::publish: {
        auto who = j.idx == UINT32_MAX ? pick_up(rng_) : j.idx;
        publish(who, now);
        break;
      }
      case job_kind::churn: {
        auto& a = sc_.actions[j.action];
        if (seconds_of(now - start_) >= a.until_s)
          break;
        auto victim = pick_up(rng_);
        if (victim != UINT32_MAX)
          kill(victim, a.silent, now);
        auto idx = add_node(now);
        join(idx, now);
        double per_s = a.fraction * double(sc_.nodes) / 60.0;
        g_jobs.push_back(j);
        event next;
        next.at = now + secs(per_s > 0 ? 1.0 / per_s : 1e9);
        next.type = ev::action;
        next.arg = g_jobs.size() - 1;
        net_.schedule(next);
        break;
      }
      }
      break;
    }
    case ev::metrics:
      metrics(out, now, false);
      if (progress) {
        auto wall =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0)
                .count();
        *progress << "lanmesh-sim: t=" << seconds_of(now - start_)
                  << "s up=" << up_nodes().size() << " events=" << net_.processed()
                  << " queued=" << net_.pending() << " wall=" << wall << "s\n";
      }
      break;
    }
    if (e.type != ev::metrics && e.type != ev::action && node_ok(e.node))
      arm(e.node, slots_[e.node].node->next_wakeup());
  }
  summary(out, end);
}

} // namespace lanmesh::sim
