#include "imaging/volume.h"

namespace dxhub::imaging {

Vec3 Volume::PointAt(double i, double j, double k) const {
  Vec3 p = origin;
  for (int a = 0; a < 3; ++a) {
    p[a] += i * spacing[0] * row_dir[a] + j * spacing[1] * col_dir[a] + k * spacing[2] * normal[a];
  }
  return p;
}

Volume Volume::Like(const Volume& like, std::array<int, 3> size, float value) {
  Volume v;
  v.size = size;
  v.spacing = like.spacing;
  v.origin = like.origin;
  v.row_dir = like.row_dir;
  v.col_dir = like.col_dir;
  v.normal = like.normal;
  v.voxels.assign(v.Count(), value);
  return v;
}

}  // namespace dxhub::imaging
