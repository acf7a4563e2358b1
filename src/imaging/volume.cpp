#include "imaging/volume.h"

#include <cstddef>

namespace dxhub::imaging {

Vec3 Geometry::PointAt(double i, double j, double k) const {
  Vec3 p = origin;
  for (int a = 0; a < 3; ++a) {
    p[a] += i * spacing[0] * row_dir[a] + j * spacing[1] * col_dir[a] + k * spacing[2] * normal[a];
  }
  return p;
}

Result<Volume> Crop(const Volume& volume, std::array<int, 3> lo, std::array<int, 3> hi) {
  for (int a = 0; a < 3; ++a) {
    if (lo[a] < 0 || hi[a] > volume.size[a] || hi[a] - lo[a] < 1)
      return MakeError(ErrorCode::kInvalidArgument, "crop box outside the volume or empty");
  }
  Volume out;
  static_cast<Geometry&>(out) = volume;
  out.size = {hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2]};
  out.origin = volume.PointAt(lo[0], lo[1], lo[2]);
  out.voxels.reserve(out.Count());
  for (int k = lo[2]; k < hi[2]; ++k) {
    for (int j = lo[1]; j < hi[1]; ++j) {
      const size_t row = volume.Index(lo[0], j, k);
      out.voxels.insert(out.voxels.end(), volume.voxels.begin() + static_cast<std::ptrdiff_t>(row),
                        volume.voxels.begin() + static_cast<std::ptrdiff_t>(row) + out.size[0]);
    }
  }
  return out;
}

}  // namespace dxhub::imaging
