// The relay's decisions, driven directly: no threads, no actors.

#include "actors/proto/relay.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "net/wire.hpp"

namespace lanmesh {
namespace {

using bytes = std::vector<std::uint8_t>;

struct seen_frame {
  node_id origin;
  std::uint64_t seq;
  std::uint16_t hops;
  std::string payload;
  bool operator==(const seen_frame& o) const {
    return origin == o.origin && seq == o.seq && hops == o.hops && payload == o.payload;
  }
};

std::vector<seen_frame> decode(const bytes& b) {
  std::vector<seen_frame> out;
  EXPECT_TRUE(wire::for_each_broadcast(
      b.data(), b.size(),
      [&](const wire::broadcast_view& v, const std::uint8_t*, std::size_t) {
        out.push_back({v.origin, v.seq, v.hops, std::string(v.payload)});
      }));
  return out;
}

class relay_test : public ::testing::Test {
protected:
  static constexpr node_id self_id = 0x100, peer_a = 0xa, peer_b = 0xb, peer_c = 0xc;
  std::map<node_id, std::vector<bytes>> writes; // per link, one entry per write
  std::vector<std::pair<std::vector<seen_frame>, std::size_t>> delivered;
  relay r{self_id, 1, 1000, std::chrono::seconds(300),
          [this](relay::frames_ptr f, std::size_t n) {
            delivered.push_back({decode(*f), n});
          }};
  seen_cache::clock::time_point now{};

  void SetUp() override {
    for (node_id p : {peer_a, peer_b, peer_c})
      r.set_link(p, writer_for(p));
  }

  relay::writer writer_for(node_id p) {
    return [this, p](std::vector<relay::frames_ptr> frames) {
      for (auto& f : frames)
        writes[p].push_back(*f);
    };
  }

  void from(node_id peer, const std::vector<seen_frame>& msgs) {
    bytes b;
    for (auto& m : msgs)
      wire::append_broadcast(b, m.origin, 77, m.seq, m.hops, m.payload);
    r.inbound(peer, b.data(), b.size(), now);
  }
};

TEST_F(relay_test, new_message_goes_to_every_other_link_and_to_delivery_with_a_hop_more) {
  from(peer_a, {{peer_c, 7, 2, "x"}});
  ASSERT_EQ(delivered.size(), 1u);
  EXPECT_EQ(delivered[0].second, 1u);
  EXPECT_EQ(delivered[0].first, (std::vector<seen_frame>{{peer_c, 7, 3, "x"}}));
  // Not back to A (it came from there), not to C (its origin): only B.
  EXPECT_EQ(writes.count(peer_a), 0u);
  EXPECT_EQ(writes.count(peer_c), 0u);
  ASSERT_EQ(writes[peer_b].size(), 1u);
  EXPECT_EQ(decode(writes[peer_b][0]), (std::vector<seen_frame>{{peer_c, 7, 3, "x"}}));
  auto s = r.stats();
  EXPECT_EQ(s.delivered, 1u);
  EXPECT_EQ(s.forwarded, 1u);
  EXPECT_EQ(s.duplicates, 0u);
}

TEST_F(relay_test, copies_and_own_messages_are_dropped_and_counted) {
  from(peer_a, {{peer_c, 7, 0, "x"}});
  from(peer_b, {{peer_c, 7, 1, "x"}, {self_id, 3, 4, "ours"}});
  EXPECT_EQ(delivered.size(), 1u);
  EXPECT_EQ(writes[peer_b].size(), 1u); // only the first copy, from A's read
  EXPECT_EQ(r.stats().duplicates, 2u);
}

TEST_F(relay_test, one_read_is_one_write_per_link_in_order) {
  from(peer_a, {{peer_b, 1, 0, "one"},
                {peer_c, 2, 0, "two"},
                {peer_b, 1, 0, "again"},
                {0xd, 3, 0, "three"}});
  ASSERT_EQ(delivered.size(), 1u);
  EXPECT_EQ(delivered[0].second, 3u);
  EXPECT_EQ(delivered[0].first,
            (std::vector<seen_frame>{
                {peer_b, 1, 1, "one"}, {peer_c, 2, 1, "two"}, {0xd, 3, 1, "three"}}));
  // B does not get its own message back, C neither; each gets one write.
  ASSERT_EQ(writes[peer_b].size(), 1u);
  EXPECT_EQ(decode(writes[peer_b][0]),
            (std::vector<seen_frame>{{peer_c, 2, 1, "two"}, {0xd, 3, 1, "three"}}));
  ASSERT_EQ(writes[peer_c].size(), 1u);
  EXPECT_EQ(decode(writes[peer_c][0]),
            (std::vector<seen_frame>{{peer_b, 1, 1, "one"}, {0xd, 3, 1, "three"}}));
  EXPECT_EQ(r.stats().forwarded, 4u);
}

TEST_F(relay_test, a_read_with_nothing_new_writes_and_delivers_nothing) {
  from(peer_a, {{self_id, 1, 0, "ours"}});
  EXPECT_TRUE(delivered.empty());
  EXPECT_TRUE(writes.empty());
}

TEST_F(relay_test, dropped_link_gets_nothing_and_a_replaced_writer_gets_the_rest) {
  r.drop_link(peer_b);
  std::vector<bytes> fresh;
  r.set_link(peer_c, [&](std::vector<relay::frames_ptr> frames) {
    for (auto& f : frames)
      fresh.push_back(*f);
  });
  EXPECT_EQ(r.links(), 2u);
  from(peer_a, {{0xd, 1, 0, "m"}});
  EXPECT_EQ(writes.count(peer_b), 0u);
  EXPECT_EQ(writes.count(peer_c), 0u);
  EXPECT_EQ(fresh.size(), 1u);
}

TEST_F(relay_test, frames_before_one_that_is_not_a_broadcast_are_still_relayed) {
  bytes b;
  wire::append_broadcast(b, peer_c, 77, 1, 0, "ok");
  auto ping = wire::encode_ping(wire::ping{1, 0, 0, 0, 0, 0});
  b.insert(b.end(), ping.begin(), ping.end());
  r.inbound(peer_a, b.data(), b.size(), now);
  ASSERT_EQ(delivered.size(), 1u);
  EXPECT_EQ(delivered[0].first.size(), 1u);
}

} // namespace
} // namespace lanmesh
