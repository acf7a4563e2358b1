#pragma once
// Breadth-first floods over label arrays that the segmentations share: plain loops, no ITK, so
// they are linted and cheap (each voxel is visited once).

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <opencv2/core.hpp>
#include <utility>
#include <vector>

#include "imaging/volume.h"

namespace dxhub::imaging {

/// Index arithmetic of a grid without its patient-space placement.
struct Grid {
  int nx, ny, nz;
  explicit Grid(const Geometry& g) : nx(g.size[0]), ny(g.size[1]), nz(g.size[2]) {}
  size_t Index(int i, int j, int k) const {
    return (static_cast<size_t>(k) * static_cast<size_t>(ny) + static_cast<size_t>(j)) *
               static_cast<size_t>(nx) +
           static_cast<size_t>(i);
  }
  size_t Plane() const { return static_cast<size_t>(nx) * static_cast<size_t>(ny); }
  /// The (i, j, k) of a voxel index: the inverse of Index.
  std::array<int, 3> Coordinates(size_t at) const {
    return {static_cast<int>(at % static_cast<size_t>(nx)),
            static_cast<int>((at / static_cast<size_t>(nx)) % static_cast<size_t>(ny)),
            static_cast<int>(at / Plane())};
  }
};

/// One slice of EnclosedPerSlice (below), with the caller's scratch buffers.
template <typename IsWall, typename Visit>
void EnclosedInSlice(const Grid& g, int k, IsWall& is_wall, Visit& visit,
                     std::vector<uint8_t>& enclosed, std::vector<std::pair<int, int>>& stack) {
  const size_t base = static_cast<size_t>(k) * g.Plane();
  int i0 = g.nx, i1 = -1, j0 = g.ny, j1 = -1;
  for (int j = 0; j < g.ny; ++j) {
    for (int i = 0; i < g.nx; ++i) {
      if (is_wall(base + static_cast<size_t>(j) * static_cast<size_t>(g.nx) +
                  static_cast<size_t>(i))) {
        i0 = std::min(i0, i);
        i1 = std::max(i1, i);
        j0 = std::min(j0, j);
        j1 = std::max(j1, j);
      }
    }
  }
  std::fill(enclosed.begin(), enclosed.end(), 0);
  if (i1 - i0 >= 2 && j1 - j0 >= 2) {
    // Inside the walls' box: 1 until reached from the box's edge (which is either a wall or
    // reachable from outside the box).
    for (int j = j0; j <= j1; ++j) {
      for (int i = i0; i <= i1; ++i)
        enclosed[static_cast<size_t>(j) * static_cast<size_t>(g.nx) + static_cast<size_t>(i)] = 1;
    }
    auto reach = [&](int i, int j) {
      const size_t p = static_cast<size_t>(j) * static_cast<size_t>(g.nx) + static_cast<size_t>(i);
      if (enclosed[p] != 0 && !is_wall(base + p)) {
        enclosed[p] = 0;
        stack.emplace_back(i, j);
      }
    };
    for (int i = i0; i <= i1; ++i) {
      reach(i, j0);
      reach(i, j1);
    }
    for (int j = j0; j <= j1; ++j) {
      reach(i0, j);
      reach(i1, j);
    }
    while (!stack.empty()) {
      const auto [i, j] = stack.back();
      stack.pop_back();
      if (i > i0)
        reach(i - 1, j);
      if (i < i1)
        reach(i + 1, j);
      if (j > j0)
        reach(i, j - 1);
      if (j < j1)
        reach(i, j + 1);
    }
    for (int j = j0; j <= j1; ++j) {
      for (int i = i0; i <= i1; ++i) {
        const size_t p =
            static_cast<size_t>(j) * static_cast<size_t>(g.nx) + static_cast<size_t>(i);
        if (enclosed[p] != 0 && is_wall(base + p))
          enclosed[p] = 0;
      }
    }
  }
  visit(k, enclosed);
}

/// Calls `visit(slice_index, enclosed)` for each axial slice, `enclosed` (nx * ny, row by row)
/// being 1 where a pixel cannot reach the slice's border through pixels that are not walls
/// (4-connected): the holes that `is_wall(voxel index)` surrounds in that slice, walls themselves
/// excluded. Only the box around a slice's walls is flooded: outside it everything is reachable.
/// Slices run in parallel (OpenCV's thread pool): `is_wall` and `visit` for slice k must touch
/// only slice k's voxels.
template <typename IsWall, typename Visit>
void EnclosedPerSlice(const Grid& g, IsWall&& is_wall, Visit&& visit) {
  cv::parallel_for_(cv::Range(0, g.nz), [&](const cv::Range& range) {
    std::vector<uint8_t> enclosed(g.Plane());
    std::vector<std::pair<int, int>> stack;
    for (int k = range.start; k < range.end; ++k)
      EnclosedInSlice(g, k, is_wall, visit, enclosed, stack);
  });
}

/// Assigns every unlabelled voxel of `mask` to the nearest seed label along 6-connected paths
/// inside the mask (multi-source breadth-first flood): a geodesic Voronoi split.
void GeodesicGrow(const Grid& g, const std::vector<uint8_t>& mask, std::vector<uint8_t>& labels);

}  // namespace dxhub::imaging
