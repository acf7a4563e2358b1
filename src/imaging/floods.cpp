#include "imaging/floods.h"

#include <array>
#include <deque>
#include <utility>

namespace dxhub::imaging {

void EnclosedPerSlice(const Grid& g, const std::function<bool(size_t)>& is_wall,
                      const std::function<void(int, const std::vector<uint8_t>&)>& visit) {
  std::vector<uint8_t> enclosed(g.Plane());
  std::deque<std::pair<int, int>> queue;
  for (int k = 0; k < g.nz; ++k) {
    // 1 until reached from the border; walls are never reached and cleared at the end.
    std::fill(enclosed.begin(), enclosed.end(), 1);
    auto reach = [&](int i, int j) {
      const size_t p = static_cast<size_t>(j) * static_cast<size_t>(g.nx) + static_cast<size_t>(i);
      if (enclosed[p] != 0 && !is_wall(g.Index(i, j, k))) {
        enclosed[p] = 0;
        queue.emplace_back(i, j);
      }
    };
    for (int i = 0; i < g.nx; ++i) {
      reach(i, 0);
      reach(i, g.ny - 1);
    }
    for (int j = 0; j < g.ny; ++j) {
      reach(0, j);
      reach(g.nx - 1, j);
    }
    while (!queue.empty()) {
      const auto [i, j] = queue.front();
      queue.pop_front();
      if (i > 0)
        reach(i - 1, j);
      if (i + 1 < g.nx)
        reach(i + 1, j);
      if (j > 0)
        reach(i, j - 1);
      if (j + 1 < g.ny)
        reach(i, j + 1);
    }
    for (size_t p = 0; p < enclosed.size(); ++p) {
      if (enclosed[p] != 0 && is_wall(static_cast<size_t>(k) * g.Plane() + p))
        enclosed[p] = 0;
    }
    visit(k, enclosed);
  }
}

void GeodesicGrow(const Grid& g, const std::vector<uint8_t>& mask, std::vector<uint8_t>& labels) {
  std::deque<size_t> queue;
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] != 0)
      queue.push_back(i);
  }
  const size_t plane = g.Plane();
  const std::array<std::array<int, 3>, 6> steps{
      {{1, 0, 0}, {-1, 0, 0}, {0, 1, 0}, {0, -1, 0}, {0, 0, 1}, {0, 0, -1}}};
  while (!queue.empty()) {
    const size_t at = queue.front();
    queue.pop_front();
    const int i = static_cast<int>(at % static_cast<size_t>(g.nx));
    const int j = static_cast<int>((at / static_cast<size_t>(g.nx)) % static_cast<size_t>(g.ny));
    const int k = static_cast<int>(at / plane);
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
