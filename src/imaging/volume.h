#pragma once
// A scalar 3-D image in patient space, the common currency of the imaging layer. ITK and VTK
// types stay inside the layer's .cpp files; callers see only this.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/result.h"

namespace dxhub::imaging {

using Vec3 = std::array<double, 3>;

inline double Dot(const Vec3& a, const Vec3& b) {
  return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}
inline Vec3 Cross(const Vec3& a, const Vec3& b) {
  return {a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]};
}

/// Where a grid of voxels lies: voxel (i, j, k) is at origin + i*spacing[0]*row_dir +
/// j*spacing[1]*col_dir + k*spacing[2]*normal (LPS, mm, as DICOM); i fastest in memory.
struct Geometry {
  std::array<int, 3> size{0, 0, 0};  // columns (i), rows (j), slices (k)
  Vec3 spacing{1, 1, 1};
  Vec3 origin{0, 0, 0};
  Vec3 row_dir{1, 0, 0};  // direction of increasing column index i (DICOM IOP first triplet)
  Vec3 col_dir{0, 1, 0};  // direction of increasing row index j (IOP second triplet)
  Vec3 normal{0, 0, 1};   // direction of increasing slice index k

  size_t Count() const {
    return static_cast<size_t>(size[0]) * static_cast<size_t>(size[1]) *
           static_cast<size_t>(size[2]);
  }
  size_t Index(int i, int j, int k) const {
    return (static_cast<size_t>(k) * static_cast<size_t>(size[1]) + static_cast<size_t>(j)) *
               static_cast<size_t>(size[0]) +
           static_cast<size_t>(i);
  }
  /// Patient-space position (mm) of a continuous index.
  Vec3 PointAt(double i, double j, double k) const;
  double VoxelMl() const { return spacing[0] * spacing[1] * spacing[2] / 1000.0; }
};

/// Values are float: HU for CT, stored-value units after rescale otherwise.
struct Volume : Geometry {
  std::vector<float> voxels;
  /// The SOP Instance UID of each slice k when assembled from a series (derived series refer to
  /// them); empty otherwise.
  std::vector<std::string> slice_uids;

  float At(int i, int j, int k) const { return voxels[Index(i, j, k)]; }
  float& At(int i, int j, int k) { return voxels[Index(i, j, k)]; }
};

/// A label image on a volume's grid (segmentations: 0 background, then one value per structure).
struct LabelVolume : Geometry {
  std::vector<uint8_t> labels;

  static LabelVolume On(const Geometry& grid) {
    LabelVolume l;
    static_cast<Geometry&>(l) = grid;
    l.labels.assign(grid.Count(), 0);
    return l;
  }
};

/// The box [lo, hi) of a volume (voxel indices) as a volume of its own, placed where it was.
Result<Volume> Crop(const Volume& volume, std::array<int, 3> lo, std::array<int, 3> hi);

}  // namespace dxhub::imaging
