#include "actors/tree_host.hpp"

namespace lanmesh {

tree_host::tree_host(node_id self, std::uint64_t epoch, tree_params p, deliver_fn deliver,
                     gap_fn gap)
    : tree_(self, epoch, p), deliver_(std::move(deliver)), gap_(std::move(gap)) {}

void tree_host::carry_out(time_point now) {
  for (auto& s : out_.sends) {
    auto it = writers_.find(s.to);
    if (it != writers_.end())
      it->second({std::move(s.frames)});
  }
  for (auto& d : out_.deliveries)
    deliver_(std::move(d.frames), d.count);
  for (auto& g : out_.gaps)
    gap_(g.range);
  out_.clear();
  // The timer is moved only when the tree wants to wake earlier: a later
  // wake-up is left to the tick the armed timer brings (re-arming costs a
  // cancelled wait and its handler, and the tree's next wake-up changes with
  // nearly every frame under load).
  auto at = tree_.next_wakeup();
  if (at < armed_) {
    armed_ = at;
    if (arm_)
      arm_(at < now ? now : at);
  }
  auto& t = tree_.stats();
  plane_stats now_stats;
  now_stats.payloads_in = t.payloads_in;
  now_stats.delivered = t.delivered;
  now_stats.duplicates = t.duplicates;
  now_stats.forwarded = t.forwarded;
  now_stats.links = writers_.size();
  now_stats.ihave_out = t.ihave_out;
  now_stats.ihave_in = t.ihave_in;
  now_stats.grafts_out = t.grafts_out;
  now_stats.grafts_in = t.grafts_in;
  now_stats.prunes_out = t.prunes_out;
  now_stats.prunes_in = t.prunes_in;
  now_stats.iwants_out = t.iwants_out;
  now_stats.iwants_in = t.iwants_in;
  now_stats.fetched = t.fetched;
  now_stats.gaps = t.gaps;
  now_stats.gap_messages = t.gap_messages;
  now_stats.history_bytes = t.history_bytes;
  now_stats.history_messages = t.history_messages;
  now_stats.waiting = t.waiting;
  now_stats.streams = t.streams;
  for (std::size_t i = 0; i < fields.size(); ++i)
    cells_[i].store(now_stats.*fields[i], std::memory_order_relaxed);
}

void tree_host::set_link(node_id peer, writer w, time_point now) {
  bool fresh = writers_.find(peer) == writers_.end();
  writers_[peer] = std::move(w);
  if (fresh)
    tree_.link_up(peer, now, out_);
  carry_out(now);
}

void tree_host::drop_link(node_id peer, time_point now) {
  if (writers_.erase(peer) > 0)
    tree_.link_down(peer, now, out_);
  carry_out(now);
}

void tree_host::clear() {
  writers_.clear();
  out_.clear();
}

void tree_host::inbound(node_id from, const std::uint8_t* data, std::size_t size,
                        time_point now) {
  tree_.inbound(from, data, size, now, out_);
  carry_out(now);
}

void tree_host::publish(std::vector<std::string> payloads, std::uint64_t first,
                        time_point now) {
  // The router numbers this node's broadcasts in the order it hands them
  // here, as the tree does.
  (void)first;
  tree_.publish(payloads, now, out_);
  carry_out(now);
}

void tree_host::rtt(node_id peer, std::chrono::microseconds rtt) {
  tree_.rtt(peer, rtt);
}

void tree_host::tick(time_point now) {
  auto planned = armed_;
  armed_ = time_point::max();
  // Late by more than a few ms: this process was not running (2 cores, many
  // nodes). What the tree waits for may already sit unread in the sockets;
  // its timers (a graft for a copy that is only late) run after the I/O
  // thread has read it, once.
  if (!deferred_ && planned != time_point::max() && now - planned > late_tick) {
    deferred_ = true;
    armed_ = now + late_tick_retry;
    if (arm_)
      arm_(armed_);
    return;
  }
  deferred_ = false;
  tree_.tick(now, out_);
  carry_out(now);
}

plane_stats tree_host::stats() const {
  plane_stats s;
  for (std::size_t i = 0; i < fields.size(); ++i)
    s.*fields[i] = cells_[i].load(std::memory_order_relaxed);
  return s;
}

} // namespace lanmesh
