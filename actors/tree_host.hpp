#pragma once
// The broadcast tree on the I/O thread (broadcast.mode = "tree"): the
// shell around actors/proto/broadcast_tree, as the relay is for flooding.
// It feeds the tree what the sessions read and what the router mirrors
// (links, round trips, this node's own broadcasts), writes the frames the
// tree returns into the sessions' queues, hands deliveries and gaps to the
// output, and keeps one timer armed for the tree's next wake-up. One thread
// calls everything but stats().

#include <array>
#include <atomic>
#include <functional>
#include <memory>
#include <unordered_map>

#include "actors/proto/broadcast_plane.hpp"
#include "actors/proto/broadcast_tree.hpp"

namespace lanmesh {

class tree_host : public broadcast_plane {
public:
  /// Deliveries: whole BROADCAST frames, in order, and how many.
  using deliver_fn = std::function<void(frames_ptr, std::size_t)>;
  /// A range of a stream that will never be delivered.
  using gap_fn = std::function<void(const wire::stream_range&)>;
  /// Arms the one timer for `at` (replacing an earlier arming); when it
  /// runs, tick() is to be called on this thread.
  using arm_fn = std::function<void(time_point at)>;

  tree_host(node_id self, std::uint64_t epoch, tree_params p, deliver_fn deliver,
            gap_fn gap);
  /// The timer (set once, before the host runs).
  void set_arm(arm_fn arm) { arm_ = std::move(arm); }

  void set_link(node_id peer, writer w, time_point now) override;
  void drop_link(node_id peer, time_point now) override;
  void clear() override;
  void inbound(node_id from, const std::uint8_t* data, std::size_t size,
               time_point now) override;
  void publish(std::vector<std::string> payloads, std::uint64_t first,
               time_point now) override;
  void rtt(node_id peer, std::chrono::microseconds rtt) override;
  plane_stats stats() const override;

  /// The timer ran.
  void tick(time_point now);

private:
  void carry_out(time_point now);

  broadcast_tree tree_;
  broadcast_tree::outbox out_;
  std::unordered_map<node_id, writer> writers_;
  deliver_fn deliver_;
  gap_fn gap_;
  arm_fn arm_;
  time_point armed_ = time_point::max();
  bool deferred_ = false; // this tick was late and waits for the reads once
  static constexpr std::chrono::milliseconds late_tick{3};
  static constexpr std::chrono::milliseconds late_tick_retry{1};
  // stats() runs on the router's thread: the counters are mirrored into
  // atomics, one per field of plane_stats.
  using field = std::uint64_t plane_stats::*;
  static constexpr std::array<field, 20> fields{
      &plane_stats::payloads_in,   &plane_stats::delivered,
      &plane_stats::duplicates,    &plane_stats::forwarded,
      &plane_stats::links,         &plane_stats::ihave_out,
      &plane_stats::ihave_in,      &plane_stats::grafts_out,
      &plane_stats::grafts_in,     &plane_stats::prunes_out,
      &plane_stats::prunes_in,     &plane_stats::iwants_out,
      &plane_stats::iwants_in,     &plane_stats::fetched,
      &plane_stats::gaps,          &plane_stats::gap_messages,
      &plane_stats::history_bytes, &plane_stats::history_messages,
      &plane_stats::waiting,       &plane_stats::streams};
  std::array<std::atomic<std::uint64_t>, fields.size()> cells_{};
};

} // namespace lanmesh
