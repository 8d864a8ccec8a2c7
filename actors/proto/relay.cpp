#include "actors/proto/relay.hpp"

#include <algorithm>

#include "net/wire.hpp"

namespace lanmesh {

relay::relay(node_id self, std::size_t seen_max_entries,
             seen_cache::clock::duration seen_max_age, deliver_fn deliver)
    : self_(self), seen_(seen_max_entries, seen_max_age), deliver_(std::move(deliver)) {}

void relay::set_link(node_id peer, writer w) {
  for (auto& l : links_)
    if (l.first == peer) {
      l.second = std::move(w);
      return;
    }
  links_.emplace_back(peer, std::move(w));
  link_count_.store(links_.size(), std::memory_order_relaxed);
}

void relay::drop_link(node_id peer) {
  links_.erase(std::remove_if(links_.begin(), links_.end(),
                              [peer](const auto& l) { return l.first == peer; }),
               links_.end());
  link_count_.store(links_.size(), std::memory_order_relaxed);
}

void relay::inbound(node_id from, const std::uint8_t* data, std::size_t size,
                    seen_cache::clock::time_point now) {
  auto fresh = std::make_shared<std::vector<std::uint8_t>>();
  origins_.clear();
  std::uint64_t dropped = 0;
  wire::for_each_broadcast(
      data, size,
      [&](const wire::broadcast_view& b, const std::uint8_t* f, std::size_t n) {
        if (b.origin == self_ || !seen_.insert({b.origin, b.seq}, now)) {
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

relay::counters relay::stats() const {
  return {delivered_.load(std::memory_order_relaxed),
          duplicates_.load(std::memory_order_relaxed),
          forwarded_.load(std::memory_order_relaxed),
          link_count_.load(std::memory_order_relaxed)};
}

} // namespace lanmesh
