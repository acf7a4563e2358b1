#include "core/net.h"

#include <gtest/gtest.h>

namespace dxhub {
namespace {

TEST(IpRange, SingleAddressesMatchExactly) {
  auto loopback = IpRange::Parse("127.0.0.1");
  ASSERT_TRUE(loopback.ok());
  EXPECT_TRUE(loopback->Contains("127.0.0.1"));
  EXPECT_TRUE(loopback->Contains("::ffff:127.0.0.1"));  // an IPv4 peer on a dual-stack socket
  EXPECT_FALSE(loopback->Contains("127.0.0.2"));
  // A reverse-DNS name is never an address, whoever chose it.
  EXPECT_FALSE(loopback->Contains("localhost"));
  EXPECT_FALSE(loopback->Contains(""));
}

TEST(IpRange, CidrRanges) {
  auto net = IpRange::Parse("10.20.0.0/14");
  ASSERT_TRUE(net.ok());
  EXPECT_TRUE(net->Contains("10.20.0.1"));
  EXPECT_TRUE(net->Contains("10.23.255.255"));
  EXPECT_FALSE(net->Contains("10.24.0.0"));
  EXPECT_FALSE(net->Contains("10.19.255.255"));
  auto any4 = IpRange::Parse("0.0.0.0/0");
  ASSERT_TRUE(any4.ok());
  EXPECT_TRUE(any4->Contains("192.168.1.1"));
  EXPECT_FALSE(any4->Contains("fe80::1"));
  // Host bits in the range are cleared rather than making the range match nothing.
  auto sloppy = IpRange::Parse("192.168.1.77/24");
  ASSERT_TRUE(sloppy.ok());
  EXPECT_TRUE(sloppy->Contains("192.168.1.3"));
}

TEST(IpRange, Ipv6) {
  auto ula = IpRange::Parse("fd00::/8");
  ASSERT_TRUE(ula.ok());
  EXPECT_TRUE(ula->Contains("fd12:3456::1"));
  EXPECT_FALSE(ula->Contains("fe80::1"));
  auto one = IpRange::Parse("::1");
  ASSERT_TRUE(one.ok());
  EXPECT_TRUE(one->Contains("::1"));
  EXPECT_FALSE(one->Contains("127.0.0.1"));
}

TEST(IpRange, RefusesNamesAndBadPrefixes) {
  for (const char* bad : {"localhost", "pacs.hospital", "10.0.0.0/33", "10.0.0.0/", "10.0.0.0/x",
                          "::/129", "", "10.0.0.256", "1.2.3.4/-1"}) {
    EXPECT_FALSE(IpRange::Parse(bad).ok()) << bad;
  }
  auto ranges = ParseIpRanges({"127.0.0.1", "nope"});
  ASSERT_FALSE(ranges.ok());
  EXPECT_NE(ranges.error().message.find("'nope'"), std::string::npos);
}

}  // namespace
}  // namespace dxhub
