#pragma once
// Peer addresses as numbers, never names: access rules (allowed hosts, remote AEs, trusted
// proxies) match the IP address a connection came from against addresses and CIDR ranges.
// Reverse DNS is never consulted, since whoever controls the peer's PTR record chooses its name.

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "core/result.h"

namespace dxhub {

/// One address or CIDR range, IPv4 or IPv6 ("10.1.2.3", "10.1.0.0/16", "::1", "fd00::/8").
/// IPv4-mapped IPv6 peers ("::ffff:10.1.2.3") match IPv4 ranges.
class IpRange {
 public:
  static Result<IpRange> Parse(const std::string& text);
  /// True when `ip` (a numeric address as accept() reports it) lies in the range. A text that is
  /// not a numeric address never matches.
  bool Contains(const std::string& ip) const;
  const std::string& text() const { return text_; }

 private:
  std::array<uint8_t, 16> bytes_{};  // IPv4 as IPv4-mapped IPv6
  int prefix_bits_ = 128;
  std::string text_;
};

/// Parses every entry; the first bad one is the error (its text named).
Result<std::vector<IpRange>> ParseIpRanges(const std::vector<std::string>& texts);

/// True when any range contains `ip`.
bool AnyContains(const std::vector<IpRange>& ranges, const std::string& ip);

/// True when `text` is a numeric IPv4 or IPv6 address.
bool IsIpAddress(const std::string& text);

}  // namespace dxhub
