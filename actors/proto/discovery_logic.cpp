#include "actors/proto/discovery_logic.hpp"

#include <algorithm>

namespace lanmesh {

discovery_logic::discovery_logic(discovery_params p)
    : p_(std::move(p)), rng_(p_.seed), interval_(p_.announce_min) {}

std::vector<std::uint8_t> discovery_logic::encode(wire::announce_kind kind) const {
  wire::announcement a;
  a.kind = kind;
  a.cluster = p_.cluster;
  a.node = p_.self;
  a.port = p_.tcp_port;
  a.links_in = load_.links_in;
  a.links_out = load_.links_out;
  a.capacity = load_.capacity;
  return wire::encode_announcement(a);
}

std::vector<discovery_logic::command> discovery_logic::start(clock::time_point now) {
  window_end_ = now + p_.query_window;
  // The first announcement follows the window: a lone first node makes itself
  // known to whoever comes next without waiting for their query.
  next_announce_ = window_end_;
  return {send_group{encode(wire::announce_kind::query), wire::announce_kind::query}};
}

discovery_logic::verdict discovery_logic::on_datagram(const std::uint8_t* data,
                                                      std::size_t size,
                                                      const std::string& ip,
                                                      std::uint16_t udp_port,
                                                      clock::time_point now) {
  auto decoded = wire::decode_announcement(data, size);
  auto* a = std::get_if<wire::announcement>(&decoded);
  if (!a || a->port == 0 || a->node == 0)
    return verdict::bad;
  if (a->cluster != p_.cluster)
    return verdict::foreign;
  if (a->node == p_.self) {
    // Multicast loops back to the sender: its own datagrams come from its
    // send socket and name its TCP port.
    if (p_.own_udp_port == 0 ||
        (ip == p_.own_ip && udp_port == p_.own_udp_port && a->port == p_.tcp_port))
      return verdict::own;
    clash_ = clash_info{ip + ":" + std::to_string(a->port), a->kind};
    if (a->kind == wire::announce_kind::query)
      answer(ip, udp_port, now, now); // tell the newcomer at once
    return verdict::clash;
  }
  expire(now);
  auto it = table_.find(a->node);
  if (it == table_.end() && table_.size() >= p_.max_candidates) {
    // Full table: the stalest entry makes room, so memory stays bounded.
    auto oldest = std::min_element(table_.begin(), table_.end(), [](auto& x, auto& y) {
      return x.second.seen < y.second.seen;
    });
    table_.erase(oldest);
  }
  auto& c = table_[a->node];
  bool news = c.id == 0 || c.capacity != a->capacity ||
              c.load() != a->links_in + a->links_out || c.ip != ip || c.port != a->port;
  c = candidate{a->node, ip, a->port, a->links_in, a->links_out, a->capacity, now};
  changed_ = changed_ || news;
  if (a->kind == wire::announce_kind::query && takes_query()) {
    if (load_.capacity > 0) {
      std::uniform_int_distribution<std::int64_t> d(0, p_.answer_jitter.count());
      answer(ip, udp_port, now + std::chrono::milliseconds(d(rng_)), now);
    }
    // A newcomer: announce at the short interval again.
    interval_ = p_.announce_min;
    if (load_.capacity > 0)
      next_announce_ = std::min(next_announce_, now + interval_);
  }
  return verdict::taken;
}

void discovery_logic::set_cluster_size(std::size_t n, clock::time_point now) {
  cluster_size_ = std::max<std::size_t>(n, 1);
  auto ceiling = announce_ceiling();
  interval_ = std::min(interval_, ceiling);
  // The cluster shrank: an announcement planned for the old ceiling comes
  // no later than the new one.
  if (next_announce_ != clock::time_point::max())
    next_announce_ = std::min(next_announce_, std::max(now, window_end_) + ceiling);
}

std::chrono::milliseconds discovery_logic::announce_ceiling() const {
  if (p_.announcers == 0 || cluster_size_ <= p_.announcers)
    return p_.announce_max;
  return std::chrono::milliseconds(p_.announce_max.count() *
                                   static_cast<std::int64_t>(cluster_size_) /
                                   static_cast<std::int64_t>(p_.announcers));
}

bool discovery_logic::takes_query() {
  if (p_.announcers == 0 || cluster_size_ <= p_.announcers)
    return true;
  std::uniform_int_distribution<std::size_t> d(0, cluster_size_ - 1);
  return d(rng_) < p_.announcers;
}

void discovery_logic::answer(const std::string& ip, std::uint16_t port,
                             clock::time_point at, clock::time_point now) {
  for (auto& a : answers_)
    if (a.ip == ip && a.port == port)
      return; // one answer carries this node's news to that querier
  if (now - answer_window_ >= std::chrono::seconds(1)) {
    answer_window_ = now;
    answers_in_window_ = 0;
  }
  if (answers_.size() >= p_.max_pending_answers ||
      answers_in_window_ >= p_.max_answers_per_second) {
    answers_limited_ += 1;
    return;
  }
  answers_in_window_ += 1;
  answers_.push_back({ip, port, at});
}

void discovery_logic::set_load(link_load load, clock::time_point now) {
  bool freed = load_.capacity == 0 && load.capacity > 0;
  load_ = load;
  if (load_.capacity == 0) {
    next_announce_ = clock::time_point::max(); // full: silent
    answers_.clear();
  } else if (freed || next_announce_ == clock::time_point::max()) {
    interval_ = p_.announce_min;
    next_announce_ = std::max(now, window_end_);
  }
}

std::vector<discovery_logic::command> discovery_logic::on_timer(clock::time_point now) {
  std::vector<command> out;
  for (auto it = answers_.begin(); it != answers_.end();) {
    if (it->at <= now) {
      out.push_back(send_to{it->ip, it->port, encode(wire::announce_kind::answer)});
      it = answers_.erase(it);
    } else {
      ++it;
    }
  }
  if (load_.capacity > 0 && next_announce_ <= now) {
    out.push_back(
        send_group{encode(wire::announce_kind::announce), wire::announce_kind::announce});
    next_announce_ = now + interval_;
    interval_ = std::min(interval_ * 2, announce_ceiling());
  }
  return out;
}

discovery_logic::clock::time_point discovery_logic::next_wakeup() const {
  auto t = load_.capacity > 0 ? next_announce_ : clock::time_point::max();
  for (auto& a : answers_)
    t = std::min(t, a.at);
  return t;
}

void discovery_logic::expire(clock::time_point now) {
  // Announcements come less often in a big cluster: keep candidates as many
  // ceilings long as a small cluster does.
  auto max_age = p_.candidate_max_age;
  if (auto c = announce_ceiling(); c > p_.announce_max)
    max_age = max_age * c.count() / p_.announce_max.count();
  for (auto it = table_.begin(); it != table_.end();) {
    if (now - it->second.seen > max_age) {
      it = table_.erase(it);
      changed_ = true;
    } else {
      ++it;
    }
  }
}

std::vector<candidate> discovery_logic::candidates(clock::time_point now) {
  expire(now);
  std::vector<candidate> out;
  for (auto& [_, c] : table_)
    if (c.capacity > 0)
      out.push_back(c);
  std::shuffle(out.begin(), out.end(), rng_);
  std::stable_sort(out.begin(), out.end(), [](const candidate& a, const candidate& b) {
    return a.load() < b.load();
  });
  return out;
}

} // namespace lanmesh
