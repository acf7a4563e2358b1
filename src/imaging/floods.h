#pragma once
// Breadth-first floods over label arrays that the segmentations share: plain loops, no ITK, so
// they are linted and cheap (each voxel is visited once).

#include <cstddef>
#include <cstdint>
#include <functional>
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
};

/// Calls `visit(slice_index, enclosed)` for each axial slice, `enclosed` (nx * ny, row by row)
/// being 1 where a pixel cannot reach the slice's border through pixels that are not walls
/// (4-connected): the holes that `is_wall` surrounds in that slice, walls themselves excluded.
void EnclosedPerSlice(const Grid& g, const std::function<bool(size_t)>& is_wall,
                      const std::function<void(int, const std::vector<uint8_t>&)>& visit);

/// Assigns every unlabelled voxel of `mask` to the nearest seed label along 6-connected paths
/// inside the mask (multi-source breadth-first flood): a geodesic Voronoi split.
void GeodesicGrow(const Grid& g, const std::vector<uint8_t>& mask, std::vector<uint8_t>& labels);

}  // namespace dxhub::imaging
