#include "imaging/volume.h"

namespace dxhub::imaging {

Vec3 Geometry::PointAt(double i, double j, double k) const {
  Vec3 p = origin;
  for (int a = 0; a < 3; ++a) {
    p[a] += i * spacing[0] * row_dir[a] + j * spacing[1] * col_dir[a] + k * spacing[2] * normal[a];
  }
  return p;
}

}  // namespace dxhub::imaging
