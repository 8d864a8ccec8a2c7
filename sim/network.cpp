#include "sim/network.hpp"

#include <algorithm>
#include <cmath>

namespace lanmesh::sim {

duration latency_model::sample(std::mt19937_64& rng) const {
  double ms = a_ms;
  switch (kind) {
  case constant:
    break;
  case uniform:
    ms = std::uniform_real_distribution<double>(a_ms, std::max(a_ms, b_ms))(rng);
    break;
  case lognormal:
    ms = a_ms * std::exp(b_ms * std::normal_distribution<double>(0.0, 1.0)(rng));
    break;
  }
  return std::chrono::duration_cast<duration>(
      std::chrono::duration<double, std::milli>(std::max(0.001, ms)));
}

double latency_model::mean_ms() const {
  switch (kind) {
  case constant:
    return a_ms;
  case uniform:
    return (a_ms + std::max(a_ms, b_ms)) / 2;
  case lognormal:
    return a_ms * std::exp(b_ms * b_ms / 2);
  }
  return a_ms;
}

// The virtual clock starts far from the epoch: the proto classes use a
// default time_point as "never".
network::network(std::uint64_t seed, latency_model lat, double loss, duration rto)
    : now_(time_point{} + std::chrono::hours(1000)), rng_(seed), lat_(lat), loss_(loss),
      rto_(rto) {}

void network::schedule(event e) {
  if (e.at < now_)
    e.at = now_;
  e.seq = seq_++;
  queue_.push(std::move(e));
}

bool network::next(event& e) {
  if (queue_.empty())
    return false;
  e = queue_.top();
  queue_.pop();
  now_ = std::max(now_, e.at);
  ++processed_;
  return true;
}

bool network::lost() {
  return loss_ > 0 && std::uniform_real_distribution<double>(0, 1)(rng_) < loss_;
}

void network::set_group(std::uint32_t node, std::uint16_t g) {
  if (node >= group_.size())
    group_.resize(node + 1, 0);
  group_[node] = g;
}

std::uint64_t network::open_conn(std::uint32_t dialer, std::uint32_t acceptor) {
  auto id = next_conn_++;
  conn_state c;
  c.a = dialer;
  c.b = acceptor;
  c.last_ab = c.last_ba = now_;
  c.live = true;
  if (conns_.size() <= id)
    conns_.resize(id + 1);
  conns_[id] = c;
  return id;
}

network::conn_state* network::conn(std::uint64_t id) {
  return id < conns_.size() && conns_[id].live ? &conns_[id] : nullptr;
}

void network::close_end(std::uint64_t id, std::uint32_t node) {
  auto* c = conn(id);
  if (!c)
    return;
  if (node == c->a)
    c->a_open = false;
  if (node == c->b)
    c->b_open = false;
  if (!c->a_open && !c->b_open)
    c->live = false;
}

void network::send(std::uint64_t id, std::uint32_t from, msg_ptr m, duration extra) {
  auto* c = conn(id);
  if (!c)
    return;
  bool ab = from == c->a;
  auto to = ab ? c->b : c->a;
  if (!(ab ? c->b_open : c->a_open) || blocked(from, to))
    return; // nobody reads it, or the path is cut (the link dies of silence)
  auto at = now_ + latency() + extra;
  if (lost())
    at += rto_; // retransmitted: it and everything behind it come later
  auto& last = ab ? c->last_ab : c->last_ba;
  at = std::max(at, last);
  last = at;
  event e;
  e.at = at;
  e.type = ev::msg;
  e.node = to;
  e.peer = from;
  e.conn = id;
  e.msg = std::move(m);
  schedule(std::move(e));
}

} // namespace lanmesh::sim
