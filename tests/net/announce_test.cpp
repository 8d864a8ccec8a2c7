// Discovery datagram codec: round trip and every rejection rule.

#include "net/announce.hpp"

#include <gtest/gtest.h>

namespace lanmesh::wire {
namespace {

announcement sample() {
  announcement a;
  a.kind = announce_kind::answer;
  a.cluster = "lab-7";
  a.node = 0x0123456789abcdefULL;
  a.port = 50123;
  a.links_in = 2;
  a.links_out = 3;
  a.capacity = 5;
  return a;
}

announce_error error_of(const std::vector<std::uint8_t>& bytes) {
  auto r = decode_announcement(bytes.data(), bytes.size());
  EXPECT_TRUE(std::holds_alternative<announce_error>(r));
  return std::holds_alternative<announce_error>(r) ? std::get<announce_error>(r)
                                                   : announce_error::oversized;
}

TEST(announce, round_trip_of_every_kind) {
  for (auto kind :
       {announce_kind::announce, announce_kind::query, announce_kind::answer}) {
    auto a = sample();
    a.kind = kind;
    auto bytes = encode_announcement(a);
    auto r = decode_announcement(bytes.data(), bytes.size());
    ASSERT_TRUE(std::holds_alternative<announcement>(r)) << to_string(kind);
    auto& b = std::get<announcement>(r);
    EXPECT_EQ(b.kind, kind);
    EXPECT_EQ(b.cluster, a.cluster);
    EXPECT_EQ(b.node, a.node);
    EXPECT_EQ(b.port, a.port);
    EXPECT_EQ(b.links_in, a.links_in);
    EXPECT_EQ(b.links_out, a.links_out);
    EXPECT_EQ(b.capacity, a.capacity);
  }
}

TEST(announce, longest_valid_datagram_fits_the_limit) {
  auto a = sample();
  a.cluster = std::string(64, 'c');
  auto bytes = encode_announcement(a);
  EXPECT_EQ(bytes.size(), max_announce_size);
  auto r = decode_announcement(bytes.data(), bytes.size());
  EXPECT_TRUE(std::holds_alternative<announcement>(r));
}

TEST(announce, oversized_is_rejected_unread) {
  std::vector<std::uint8_t> big(max_announce_size + 1, 0);
  EXPECT_EQ(error_of(big), announce_error::oversized);
}

TEST(announce, every_truncation_is_rejected) {
  auto bytes = encode_announcement(sample());
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    std::vector<std::uint8_t> cut(bytes.begin(),
                                  bytes.begin() + static_cast<std::ptrdiff_t>(n));
    auto r = decode_announcement(cut.data(), cut.size());
    ASSERT_TRUE(std::holds_alternative<announce_error>(r))
        << "prefix of " << n << " bytes";
    EXPECT_EQ(std::get<announce_error>(r), announce_error::truncated) << n;
  }
}

TEST(announce, garbage_has_bad_magic) {
  std::string text = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  EXPECT_EQ(error_of({text.begin(), text.end()}), announce_error::bad_magic);
}

TEST(announce, other_version_kind_cluster_and_trailing_bytes) {
  auto bytes = encode_announcement(sample());
  auto v = bytes;
  v[4] = announce_version + 1;
  EXPECT_EQ(error_of(v), announce_error::bad_version);
  auto k = bytes;
  k[5] = 9;
  EXPECT_EQ(error_of(k), announce_error::bad_kind);
  auto c = bytes;
  c[6] = 0;
  EXPECT_EQ(error_of(c), announce_error::bad_cluster);
  c[6] = 65;
  EXPECT_EQ(error_of(c), announce_error::bad_cluster);
  auto t = bytes;
  t.push_back(0);
  EXPECT_EQ(error_of(t), announce_error::trailing_bytes);
}

} // namespace
} // namespace lanmesh::wire
