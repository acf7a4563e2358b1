#include "imaging/floods.h"

#include <array>
#include <deque>

namespace dxhub::imaging {

void GeodesicGrow(const Grid& g, const std::vector<uint8_t>& mask, std::vector<uint8_t>& labels) {
  std::deque<size_t> queue;
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] != 0)
      queue.push_back(i);
  }
  const std::array<std::array<int, 3>, 6> steps{
      {{1, 0, 0}, {-1, 0, 0}, {0, 1, 0}, {0, -1, 0}, {0, 0, 1}, {0, 0, -1}}};
  while (!queue.empty()) {
    const size_t at = queue.front();
    queue.pop_front();
    const auto [i, j, k] = g.Coordinates(at);
    for (const auto& s : steps) {
      const int a = i + s[0], b = j + s[1], c = k + s[2];
      if (a < 0 || b < 0 || c < 0 || a >= g.nx || b >= g.ny || c >= g.nz)
        continue;
      const size_t n = g.Index(a, b, c);
      if (mask[n] != 0 && labels[n] == 0) {
        labels[n] = labels[at];
        queue.push_back(n);
      }
    }
  }
}

}  // namespace dxhub::imaging
