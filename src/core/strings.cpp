#include "core/strings.h"

#include <charconv>

namespace dxhub {

std::string AsciiLower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z')
      c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::vector<std::string> Split(std::string_view text, std::string_view separators) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t end = text.find_first_of(separators, start);
    out.emplace_back(text.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos)
      return out;
    start = end + 1;
  }
}

bool ParseNumber(std::string_view text, double& value) {
  double parsed = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), parsed);
  if (ec != std::errc() || ptr != text.data() + text.size())
    return false;
  value = parsed;
  return true;
}

}  // namespace dxhub
