#pragma once
// The broadcast fast path: drops copies already seen and floods each new
// broadcast to every link but the one it came from, and hands it on for
// delivery. It runs where the bytes arrive (the I/O thread), so a hop costs
// no thread hand-off: before, every hop went I/O thread -> router actor ->
// I/O thread, two wake-ups that dominated latency on a loaded machine.
//
// Plain class: it writes through callbacks, reads no clock and owns no
// socket. It is not thread-safe; one thread calls everything but stats().
// The router actor owns the link set and mirrors it here in order.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "actors/proto/broadcast_plane.hpp"
#include "actors/proto/node_id.hpp"
#include "actors/proto/seen_cache.hpp"

namespace lanmesh {

class relay : public broadcast_plane {
public:
  /// Takes new broadcasts for delivery: whole frames, hops counted, and how many.
  using deliver_fn = std::function<void(frames_ptr, std::size_t)>;

  /// `epoch`: this node's own stream (its start time in us).
  relay(node_id self, std::uint64_t epoch, std::size_t seen_max_entries,
        seen_cache::clock::duration seen_max_age, deliver_fn deliver);

  void set_link(node_id peer, writer w, time_point now = {}) override;
  void drop_link(node_id peer, time_point now = {}) override;
  void clear() override {
    links_.clear();
    link_count_ = 0;
  }
  std::size_t links() const { return links_.size(); }
  void publish(std::vector<std::string> payloads, std::uint64_t first,
               time_point now) override;

  /// Broadcast frames of one socket read from `from` (whole frames, as
  /// wire::for_each_broadcast reads them). New ones are copied, hop count
  /// raised, into one buffer that goes to every other link and to deliver.
  /// A link whose own peer originated one of them gets a copy without it.
  void inbound(node_id from, const std::uint8_t* data, std::size_t size,
               time_point now) override;

  /// Readable from any thread.
  plane_stats stats() const override;

private:
  node_id self_;
  std::uint64_t epoch_;
  seen_cache seen_;
  deliver_fn deliver_;
  std::vector<std::pair<node_id, writer>> links_; // a handful: a vector scans fastest
  std::vector<node_id> origins_;                  // scratch, reused per call
  std::atomic<std::uint64_t> payloads_in_{0}, delivered_{0}, duplicates_{0},
      forwarded_{0}, link_count_{0};
};

} // namespace lanmesh
