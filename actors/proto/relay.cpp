#include "actors/proto/relay.hpp"

#include <algorithm>

#include "net/wire.hpp"

namespace lanmesh {

namespace {

// The seen-cache's key for a message: its stream (origin and epoch, mixed)
// and its number in the stream.
msg_key key_of(std::uint64_t origin, std::uint64_t epoch, std::uint64_t seq) {
  return {origin ^ (epoch * 0x9e3779b97f4a7c15ULL), seq};
}

} // namespace

relay::relay(node_id self, std::uint64_t epoch, std::size_t seen_max_entries,
             seen_cache::clock::duration seen_max_age, deliver_fn deliver)
    : self_(self), epoch_(epoch), seen_(seen_max_entries, seen_max_age),
      deliver_(std::move(deliver)) {}

void relay::set_link(node_id peer, writer w, time_point) {
  for (auto& l : links_)
    if (l.first == peer) {
      l.second = std::move(w);
      return;
    }
  links_.emplace_back(peer, std::move(w));
  link_count_.store(links_.size(), std::memory_order_relaxed);
}

void relay::drop_link(node_id peer, time_point) {
  links_.erase(std::remove_if(links_.begin(), links_.end(),
                              [peer](const auto& l) { return l.first == peer; }),
               links_.end());
  link_count_.store(links_.size(), std::memory_order_relaxed);
}

void relay::publish(std::vector<std::string> payloads, std::uint64_t first, time_point) {
  if (payloads.empty())
    return;
  auto frames = std::make_shared<std::vector<std::uint8_t>>();
  std::size_t size = 0;
  for (auto& p : payloads)
    size += wire::header_size + wire::broadcast_overhead + p.size();
  frames->reserve(size);
  // Not put in the seen-cache: copies coming back carry our own origin.
  for (auto& p : payloads)
    wire::append_broadcast(*frames, self_, epoch_, first++, 0, p);
  frames_ptr all = std::move(frames);
  for (auto& [peer, write] : links_)
    write({all});
  forwarded_.fetch_add(payloads.size() * links_.size(), std::memory_order_relaxed);
}

void relay::inbound(node_id from, const std::uint8_t* data, std::size_t size,
                    time_point now) {
  auto fresh = std::make_shared<std::vector<std::uint8_t>>();
  origins_.clear();
  std::uint64_t dropped = 0, in = 0;
  // Only BROADCAST frames travel when flooding; anything else of the
  // broadcast plane is passed over.
  wire::for_each_frame(
      data, size, [&](std::uint8_t t, const std::uint8_t* f, std::size_t n) {
        if (t != static_cast<std::uint8_t>(wire::frame_type::broadcast) ||
            n < wire::header_size + wire::broadcast_overhead)
          return;
        ++in;
        auto b = wire::view_broadcast(f, n - 4);
        if (b.origin == self_ || !seen_.insert(key_of(b.origin, b.epoch, b.seq), now)) {
          ++dropped;
          return;
        }
        if (fresh->empty())
          fresh->reserve(size);
        auto at = fresh->size();
        fresh->insert(fresh->end(), f, f + n);
        wire::set_broadcast_hops(fresh->data() + at,
                                 static_cast<std::uint16_t>(b.hops + 1));
        origins_.push_back(b.origin);
      });
  payloads_in_.fetch_add(in, std::memory_order_relaxed);
  duplicates_.fetch_add(dropped, std::memory_order_relaxed);
  if (origins_.empty())
    return;
  frames_ptr frames = std::move(fresh);
  std::uint64_t sent = 0;
  for (auto& [peer, write] : links_) {
    if (peer == from)
      continue;
    if (std::find(origins_.begin(), origins_.end(), peer) == origins_.end()) {
      write({frames});
      sent += origins_.size();
      continue;
    }
    auto some = std::make_shared<std::vector<std::uint8_t>>();
    wire::for_each_broadcast(
        frames->data(), frames->size(),
        [&](const wire::broadcast_view& b, const std::uint8_t* f, std::size_t n) {
          if (b.origin == peer)
            return;
          some->insert(some->end(), f, f + n);
          ++sent;
        });
    if (!some->empty())
      write({std::move(some)});
  }
  forwarded_.fetch_add(sent, std::memory_order_relaxed);
  delivered_.fetch_add(origins_.size(), std::memory_order_relaxed);
  deliver_(std::move(frames), origins_.size());
}

plane_stats relay::stats() const {
  plane_stats s;
  s.payloads_in = payloads_in_.load(std::memory_order_relaxed);
  s.delivered = delivered_.load(std::memory_order_relaxed);
  s.duplicates = duplicates_.load(std::memory_order_relaxed);
  s.forwarded = forwarded_.load(std::memory_order_relaxed);
  s.links = link_count_.load(std::memory_order_relaxed);
  return s;
}

} // namespace lanmesh
