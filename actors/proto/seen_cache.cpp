#include "actors/proto/seen_cache.hpp"

namespace lanmesh {

bool seen_cache::insert(const msg_key& key, clock::time_point now) {
  expire(now);
  if (!set_.insert(key).second)
    return false;
  order_.push_back({key, now});
  while (order_.size() > max_entries_) {
    set_.erase(order_.front().key);
    order_.pop_front();
  }
  return true;
}

void seen_cache::expire(clock::time_point now) {
  while (!order_.empty() && now - order_.front().at > max_age_) {
    set_.erase(order_.front().key);
    order_.pop_front();
  }
}

} // namespace lanmesh
