#include "core/strings.h"

namespace dxhub {

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

}  // namespace dxhub
