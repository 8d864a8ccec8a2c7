// Tests of node identities (actors/proto/node_id.hpp).
#include "actors/proto/node_id.hpp"

#include <gtest/gtest.h>

#include <set>

namespace lanmesh {
namespace {

bool is_lower_hex(const std::string& s) {
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
      return false;
  return true;
}

TEST(NodeId, ToHexIsSixteenLowercaseDigits) {
  EXPECT_EQ(to_hex(0), "0000000000000000");
  EXPECT_EQ(to_hex(1), "0000000000000001");
  EXPECT_EQ(to_hex(0xabcdefULL), "0000000000abcdef");
  EXPECT_EQ(to_hex(0x0123456789abcdefULL), "0123456789abcdef");
  EXPECT_EQ(to_hex(0xfedcba9876543210ULL), "fedcba9876543210");
  EXPECT_EQ(to_hex(UINT64_MAX), "ffffffffffffffff");
  for (std::uint64_t v : {0x1ULL, 0xA0B0C0D0E0F00000ULL, 0x8000000000000000ULL}) {
    auto s = to_hex(v);
    EXPECT_EQ(s.size(), 16u);
    EXPECT_TRUE(is_lower_hex(s)) << s;
  }
}

TEST(NodeId, ParseRoundTrip) {
  const std::uint64_t values[] = {0x1ULL,
                                  0xabcdefULL,
                                  0x0123456789abcdefULL,
                                  0xfedcba9876543210ULL,
                                  0x8000000000000000ULL,
                                  UINT64_MAX};
  for (std::uint64_t v : values) {
    auto parsed = parse_node_id(to_hex(v));
    ASSERT_TRUE(parsed.has_value()) << to_hex(v);
    EXPECT_EQ(*parsed, v);
  }
}

TEST(NodeId, ParseShortAndUppercaseForms) {
  EXPECT_EQ(parse_node_id("1"), std::optional<node_id>(1));
  EXPECT_EQ(parse_node_id("ff"), std::optional<node_id>(255));
  EXPECT_EQ(parse_node_id("FF"), std::optional<node_id>(255));
  EXPECT_EQ(parse_node_id("DeadBeef"), std::optional<node_id>(0xdeadbeefULL));
  EXPECT_EQ(parse_node_id("0000000000000005"), std::optional<node_id>(5));
}

TEST(NodeId, ParseRejectsEmpty) {
  EXPECT_FALSE(parse_node_id("").has_value());
}

TEST(NodeId, ParseRejectsMoreThanSixteenDigits) {
  EXPECT_FALSE(parse_node_id("00000000000000001").has_value()); // 17 digits
  EXPECT_FALSE(parse_node_id("1ffffffffffffffff").has_value());
  EXPECT_FALSE(parse_node_id(std::string(100, 'a')).has_value());
}

TEST(NodeId, ParseRejectsNonHex) {
  for (const char* s :
       {"g", "12z4", "0x12", "-1", "+1", " 12", "12 ", "1 2", "ab.cd", "é", "ABCDEFG"})
    EXPECT_FALSE(parse_node_id(s).has_value()) << s;
  EXPECT_FALSE(parse_node_id(std::string("12\0"
                                         "34",
                                         5))
                   .has_value());
}

TEST(NodeId, ParseRejectsZero) {
  EXPECT_FALSE(parse_node_id("0").has_value());
  EXPECT_FALSE(parse_node_id("0000").has_value());
  EXPECT_FALSE(parse_node_id("0000000000000000").has_value());
}

TEST(NodeId, RandomIdsAreNonZeroAndDiffer) {
  std::set<node_id> seen;
  for (int i = 0; i < 1000; ++i) {
    auto id = random_node_id();
    EXPECT_NE(id, 0u);
    seen.insert(id);
  }
  // 1000 draws from 2^64: a collision means the generator is broken.
  EXPECT_EQ(seen.size(), 1000u);
  // Both halves carry randomness.
  bool high = false, low = false;
  for (auto id : seen) {
    high |= (id >> 32) != 0;
    low |= (id & 0xffffffffULL) != 0;
  }
  EXPECT_TRUE(high);
  EXPECT_TRUE(low);
}

} // namespace
} // namespace lanmesh
