#pragma once
// What carries broadcasts on the I/O thread, as the router and the sessions
// see it: the flooding relay (broadcast.mode = "flood", actors/proto/relay)
// or the broadcast tree (broadcast.mode = "tree", actors/tree_host around
// actors/proto/broadcast_tree). One thread calls everything but stats();
// the router mirrors its link set here in order.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "actors/proto/node_id.hpp"

namespace lanmesh {

/// Counters of the broadcast plane (the tree's fields stay 0 when flooding).
struct plane_stats {
  std::uint64_t payloads_in = 0; // BROADCAST frames received
  std::uint64_t delivered = 0;
  std::uint64_t duplicates = 0;
  std::uint64_t forwarded = 0; // BROADCAST frames sent (own ones included)
  std::uint64_t links = 0;
  std::uint64_t ihave_out = 0, ihave_in = 0;
  std::uint64_t grafts_out = 0, grafts_in = 0;
  std::uint64_t prunes_out = 0, prunes_in = 0;
  std::uint64_t iwants_out = 0, iwants_in = 0;
  std::uint64_t fetched = 0;
  std::uint64_t gaps = 0, gap_messages = 0;
  std::uint64_t history_bytes = 0, history_messages = 0;
  std::uint64_t waiting = 0;
  std::uint64_t streams = 0;
};

class broadcast_plane {
public:
  using frames_ptr = std::shared_ptr<const std::vector<std::uint8_t>>;
  /// Queues frames on one link (a session's write queue).
  using writer = std::function<void(std::vector<frames_ptr>)>;
  using time_point = std::chrono::steady_clock::time_point;

  virtual ~broadcast_plane() = default;
  /// Adds the link to `peer` or replaces its writer.
  virtual void set_link(node_id peer, writer w, time_point now) = 0;
  virtual void drop_link(node_id peer, time_point now) = 0;
  /// Drops every link (and so every session its writers hold).
  virtual void clear() = 0;
  /// Frames of the broadcast plane from `from`, whole, one after the other.
  virtual void inbound(node_id from, const std::uint8_t* data, std::size_t size,
                       time_point now) = 0;
  /// This node's own broadcasts, numbered `first`, `first + 1`, ... in its
  /// stream (the router numbers them).
  virtual void publish(std::vector<std::string> payloads, std::uint64_t first,
                       time_point now) = 0;
  /// A link's round trip.
  virtual void rtt(node_id, std::chrono::microseconds) {}
  /// Readable from any thread.
  virtual plane_stats stats() const = 0;
};

} // namespace lanmesh
