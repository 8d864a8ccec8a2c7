#pragma once
// Which broadcasts this node has already seen. Bounded in entries and in age:
// the oldest entry goes first when either bound is reached, so memory stays
// flat under any load. Plain class: time is passed in, never read.

#include <chrono>
#include <cstdint>
#include <deque>
#include <unordered_set>

namespace lanmesh {

struct msg_key {
  std::uint64_t origin;
  std::uint64_t seq;
  bool operator==(const msg_key& o) const { return origin == o.origin && seq == o.seq; }
};

struct msg_key_hash {
  std::size_t operator()(const msg_key& k) const {
    return std::hash<std::uint64_t>{}(k.origin * 0x9e3779b97f4a7c15ULL ^ k.seq);
  }
};

class seen_cache {
public:
  using clock = std::chrono::steady_clock;

  seen_cache(std::size_t max_entries, clock::duration max_age)
      : max_entries_(max_entries), max_age_(max_age) {}

  /// Records `key` at time `now`. True if it was not seen (within the bounds).
  bool insert(const msg_key& key, clock::time_point now);

  bool contains(const msg_key& key) const { return set_.count(key) > 0; }
  std::size_t size() const { return set_.size(); }

  /// Drops entries older than max_age at `now`.
  void expire(clock::time_point now);

private:
  struct entry {
    msg_key key;
    clock::time_point at;
  };
  std::size_t max_entries_;
  clock::duration max_age_;
  std::deque<entry> order_;
  std::unordered_set<msg_key, msg_key_hash> set_;
};

} // namespace lanmesh
