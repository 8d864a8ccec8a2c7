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

#include "actors/proto/node_id.hpp"
#include "actors/proto/seen_cache.hpp"

namespace lanmesh {

class relay {
public:
  using frames_ptr = std::shared_ptr<const std::vector<std::uint8_t>>;
  /// Queues frames on one link (a session's write queue).
  using writer = std::function<void(std::vector<frames_ptr>)>;
  /// Takes new broadcasts for delivery: whole frames, hops counted, and how many.
  using deliver_fn = std::function<void(frames_ptr, std::size_t)>;

  struct counters {
    std::uint64_t delivered = 0;  // new broadcasts handed to deliver
    std::uint64_t duplicates = 0; // copies dropped (seen, or our own)
    std::uint64_t forwarded = 0;  // frames handed to links
    std::uint64_t links = 0;      // links it writes to
  };

  relay(node_id self, std::size_t seen_max_entries,
        seen_cache::clock::duration seen_max_age, deliver_fn deliver);

  /// Adds the link to `peer` or replaces its writer.
  void set_link(node_id peer, writer w);
  void drop_link(node_id peer);
  /// Drops every link (and so every session its writers hold).
  void clear() {
    links_.clear();
    link_count_ = 0;
  }
  std::size_t links() const { return links_.size(); }

  /// Broadcast frames of one socket read from `from` (whole frames, as
  /// wire::for_each_broadcast reads them). New ones are copied, hop count
  /// raised, into one buffer that goes to every other link and to deliver.
  /// A link whose own peer originated one of them gets a copy without it.
  void inbound(node_id from, const std::uint8_t* data, std::size_t size,
               seen_cache::clock::time_point now);

  /// Readable from any thread.
  counters stats() const;

private:
  node_id self_;
  seen_cache seen_;
  deliver_fn deliver_;
  std::vector<std::pair<node_id, writer>> links_; // a handful: a vector scans fastest
  std::vector<node_id> origins_;                  // scratch, reused per call
  std::atomic<std::uint64_t> delivered_{0}, duplicates_{0}, forwarded_{0}, link_count_{0};
};

} // namespace lanmesh
