// Tests of the duplicate filter (actors/proto/seen_cache.hpp). Time is passed in.
#include "actors/proto/seen_cache.hpp"

#include <gtest/gtest.h>

#include <chrono>

namespace lanmesh {
namespace {

using namespace std::chrono_literals;
using clock_type = seen_cache::clock;

const clock_type::time_point t0 = clock_type::time_point{} + 1000h;

TEST(SeenCache, NewThenDuplicate) {
  seen_cache c(100, 60s);
  EXPECT_FALSE(c.contains({1, 1}));
  EXPECT_TRUE(c.insert({1, 1}, t0));
  EXPECT_TRUE(c.contains({1, 1}));
  EXPECT_FALSE(c.insert({1, 1}, t0));
  EXPECT_FALSE(c.insert({1, 1}, t0 + 1s));
  EXPECT_EQ(c.size(), 1u);
}

TEST(SeenCache, DistinctOriginsWithSameSeqAreDistinct) {
  seen_cache c(100, 60s);
  EXPECT_TRUE(c.insert({1, 7}, t0));
  EXPECT_TRUE(c.insert({2, 7}, t0));
  EXPECT_TRUE(c.insert({0xffffffffffffffffULL, 7}, t0));
  EXPECT_FALSE(c.insert({2, 7}, t0));
  EXPECT_EQ(c.size(), 3u);
}

TEST(SeenCache, SameOriginDistinctSeqAreDistinct) {
  seen_cache c(100, 60s);
  EXPECT_TRUE(c.insert({5, 1}, t0));
  EXPECT_TRUE(c.insert({5, 2}, t0));
  EXPECT_TRUE(c.insert({1, 5}, t0)); // origin and seq swapped
  EXPECT_EQ(c.size(), 3u);
  EXPECT_FALSE(c.contains({2, 5}));
}

TEST(SeenCache, ManyKeysAllDistinct) {
  seen_cache c(100000, 60s);
  for (std::uint64_t o = 1; o <= 100; ++o)
    for (std::uint64_t s = 0; s < 100; ++s)
      ASSERT_TRUE(c.insert({o, s}, t0)) << o << "/" << s;
  EXPECT_EQ(c.size(), 10000u);
  for (std::uint64_t o = 1; o <= 100; ++o)
    for (std::uint64_t s = 0; s < 100; ++s)
      ASSERT_FALSE(c.insert({o, s}, t0)) << o << "/" << s;
  EXPECT_EQ(c.size(), 10000u);
}

TEST(SeenCache, BoundInEntriesEvictsOldest) {
  seen_cache c(3, 1h);
  EXPECT_TRUE(c.insert({1, 1}, t0));
  EXPECT_TRUE(c.insert({1, 2}, t0 + 1s));
  EXPECT_TRUE(c.insert({1, 3}, t0 + 2s));
  EXPECT_EQ(c.size(), 3u);
  EXPECT_TRUE(c.insert({1, 4}, t0 + 3s));
  EXPECT_EQ(c.size(), 3u);
  EXPECT_FALSE(c.contains({1, 1})); // oldest gone
  EXPECT_TRUE(c.contains({1, 2}));
  EXPECT_TRUE(c.contains({1, 3}));
  EXPECT_TRUE(c.contains({1, 4}));
  // The evicted key counts as new again (and evicts the next oldest).
  EXPECT_TRUE(c.insert({1, 1}, t0 + 4s));
  EXPECT_FALSE(c.contains({1, 2}));
  EXPECT_EQ(c.size(), 3u);
}

TEST(SeenCache, DuplicateDoesNotEvict) {
  seen_cache c(2, 1h);
  EXPECT_TRUE(c.insert({1, 1}, t0));
  EXPECT_TRUE(c.insert({1, 2}, t0));
  EXPECT_FALSE(c.insert({1, 2}, t0));
  EXPECT_FALSE(c.insert({1, 1}, t0));
  EXPECT_TRUE(c.contains({1, 1}));
  EXPECT_TRUE(c.contains({1, 2}));
  EXPECT_EQ(c.size(), 2u);
}

TEST(SeenCache, SizeNeverExceedsMax) {
  const std::size_t max = 50;
  seen_cache c(max, 1h);
  for (std::uint64_t i = 0; i < 1000; ++i) {
    EXPECT_TRUE(c.insert({i % 7 + 1, i}, t0 + std::chrono::milliseconds(i)));
    ASSERT_LE(c.size(), max);
  }
  EXPECT_EQ(c.size(), max);
  // Exactly the newest `max` keys remain.
  for (std::uint64_t i = 0; i < 1000; ++i)
    EXPECT_EQ(c.contains({i % 7 + 1, i}), i >= 1000 - max) << i;
}

TEST(SeenCache, BoundInAgeExpiresOnInsert) {
  seen_cache c(100, 10s);
  EXPECT_TRUE(c.insert({1, 1}, t0));
  EXPECT_TRUE(c.insert({1, 2}, t0 + 5s));
  // At exactly max_age the entry is not older than max_age: still a duplicate.
  EXPECT_FALSE(c.insert({1, 1}, t0 + 10s));
  // Just over max_age it has expired: new again.
  EXPECT_TRUE(c.insert({1, 1}, t0 + 10s + 1ns));
  EXPECT_TRUE(c.contains({1, 2})); // 5s old, kept
  EXPECT_EQ(c.size(), 2u);
}

TEST(SeenCache, ExpireDropsOnlyOldEntries) {
  seen_cache c(100, 10s);
  for (int i = 0; i < 10; ++i)
    c.insert({1, static_cast<std::uint64_t>(i)}, t0 + std::chrono::seconds(i));
  EXPECT_EQ(c.size(), 10u);
  c.expire(t0 + 9s); // nothing older than 10s yet
  EXPECT_EQ(c.size(), 10u);
  c.expire(t0 + 14s + 500ms); // entries at 0..4s are older than 10s
  EXPECT_EQ(c.size(), 5u);
  for (int i = 0; i < 10; ++i)
    EXPECT_EQ(c.contains({1, static_cast<std::uint64_t>(i)}), i >= 5) << i;
  c.expire(t0 + 1h);
  EXPECT_EQ(c.size(), 0u);
  EXPECT_FALSE(c.contains({1, 9}));
}

TEST(SeenCache, InsertOfNewKeyExpiresOthers) {
  seen_cache c(100, 1s);
  for (std::uint64_t i = 0; i < 20; ++i)
    c.insert({2, i}, t0);
  EXPECT_EQ(c.size(), 20u);
  EXPECT_TRUE(c.insert({3, 0}, t0 + 2s));
  EXPECT_EQ(c.size(), 1u);
  EXPECT_FALSE(c.contains({2, 0}));
}

TEST(SeenCache, BothBoundsTogether) {
  seen_cache c(4, 10s);
  for (std::uint64_t i = 0; i < 8; ++i)
    c.insert({1, i}, t0 + std::chrono::seconds(i));
  EXPECT_EQ(c.size(), 4u); // entries 4..7
  EXPECT_TRUE(c.contains({1, 4}));
  c.expire(t0 + 16s); // entries at 4s and 5s are older than 10s
  EXPECT_EQ(c.size(), 2u);
  EXPECT_TRUE(c.contains({1, 6}));
  EXPECT_TRUE(c.contains({1, 7}));
}

} // namespace
} // namespace lanmesh
