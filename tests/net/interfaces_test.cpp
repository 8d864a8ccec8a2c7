// discovery.interface resolution (net/interfaces): an address, a name, auto.
#include "net/interfaces.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <net/if.h>

namespace lanmesh::net {
namespace {

using ::testing::HasSubstr;

TEST(Interfaces, LoopbackByAddressAndByName) {
  std::string err;
  auto a = resolve_interface("127.0.0.1", err);
  ASSERT_TRUE(a) << err;
  EXPECT_EQ(a->address, "127.0.0.1");
  EXPECT_TRUE(a->loopback);
  if (if_nametoindex("lo") == 0)
    GTEST_SKIP() << "no interface named lo here";
  auto b = resolve_interface("lo", err);
  ASSERT_TRUE(b) << err;
  EXPECT_EQ(b->name, "lo");
  EXPECT_EQ(b->address.rfind("127.", 0), 0u) << b->address;
  EXPECT_TRUE(b->loopback);
}

TEST(Interfaces, UnknownNameIsRefused) {
  std::string err;
  EXPECT_FALSE(resolve_interface("nosuchif0", err));
  EXPECT_THAT(err, HasSubstr("nosuchif0"));
}

TEST(Interfaces, AutoNeverPicksLoopback) {
  std::string err;
  auto a = resolve_interface("auto", err);
  if (!a) {
    EXPECT_THAT(err, HasSubstr("non-loopback"));
    return;
  }
  EXPECT_FALSE(a->loopback);
  EXPECT_NE(a->address.rfind("127.", 0), 0u);
  EXPECT_FALSE(a->name.empty());
}

TEST(Interfaces, AnAddressOfNoInterfaceIsLeftToTheSocket) {
  std::string err;
  auto a = resolve_interface("192.0.2.77", err); // TEST-NET-1: on no interface here
  ASSERT_TRUE(a);
  EXPECT_EQ(a->name, "");
  EXPECT_FALSE(a->loopback);
}

} // namespace
} // namespace lanmesh::net
