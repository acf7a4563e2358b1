#include "core/net.h"

#include <arpa/inet.h>

#include <cstring>

namespace dxhub {
namespace {

// The address as 16 bytes (IPv4 mapped into ::ffff:0:0/96), or false.
bool ToBytes(const std::string& text, std::array<uint8_t, 16>& out, bool& v4) {
  in_addr a4{};
  if (::inet_pton(AF_INET, text.c_str(), &a4) == 1) {
    out.fill(0);
    out[10] = 0xff;
    out[11] = 0xff;
    std::memcpy(out.data() + 12, &a4, 4);
    v4 = true;
    return true;
  }
  in6_addr a6{};
  if (::inet_pton(AF_INET6, text.c_str(), &a6) == 1) {
    std::memcpy(out.data(), &a6, 16);
    v4 = false;
    return true;
  }
  return false;
}

}  // namespace

Result<IpRange> IpRange::Parse(const std::string& text) {
  auto bad = [&] {
    return MakeError(ErrorCode::kInvalidArgument,
                     "'" + text +
                         "' is not an IP address or CIDR range (host names are not "
                         "accepted: access is decided on the peer's address)");
  };
  const size_t slash = text.find('/');
  const std::string address = text.substr(0, slash);
  IpRange range;
  bool v4 = false;
  if (!ToBytes(address, range.bytes_, v4))
    return bad();
  range.prefix_bits_ = 128;
  if (slash != std::string::npos) {
    const std::string bits = text.substr(slash + 1);
    if (bits.empty() || bits.size() > 3 ||
        bits.find_first_not_of("0123456789") != std::string::npos)
      return bad();
    const int n = std::stoi(bits);
    if (n > (v4 ? 32 : 128))
      return bad();
    range.prefix_bits_ = v4 ? 96 + n : n;
  }
  // Host bits set in the range's address would never match as the operator meant: clear them.
  for (int bit = range.prefix_bits_; bit < 128; ++bit)
    range.bytes_[bit / 8] &= static_cast<uint8_t>(~(0x80U >> (bit % 8)));
  range.text_ = text;
  return range;
}

bool IpRange::Contains(const std::string& ip) const {
  std::array<uint8_t, 16> peer{};
  bool v4 = false;
  if (!ToBytes(ip, peer, v4))
    return false;
  const int full = prefix_bits_ / 8;
  if (std::memcmp(peer.data(), bytes_.data(), static_cast<size_t>(full)) != 0)
    return false;
  const int rest = prefix_bits_ % 8;
  if (rest == 0)
    return true;
  const auto mask = static_cast<uint8_t>(0xFF00U >> rest);
  return (peer[full] & mask) == (bytes_[full] & mask);
}

Result<std::vector<IpRange>> ParseIpRanges(const std::vector<std::string>& texts) {
  std::vector<IpRange> ranges;
  for (const auto& text : texts) {
    auto range = IpRange::Parse(text);
    if (!range.ok())
      return range.error();
    ranges.push_back(std::move(range.value()));
  }
  return ranges;
}

bool AnyContains(const std::vector<IpRange>& ranges, const std::string& ip) {
  for (const auto& range : ranges) {
    if (range.Contains(ip))
      return true;
  }
  return false;
}

bool IsIpAddress(const std::string& text) {
  std::array<uint8_t, 16> bytes{};
  bool v4 = false;
  return ToBytes(text, bytes, v4);
}

}  // namespace dxhub
