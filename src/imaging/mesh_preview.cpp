#include "imaging/mesh_preview.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

namespace dxhub::imaging {

std::vector<unsigned char> RenderFront(const Mesh& mesh, int width, int& height) {
  height = 0;
  if (mesh.points.empty() || width < 8)
    return {};
  // Screen x = patient x (right of the picture is the patient's left), screen y = -z (head up),
  // depth = y (anterior, smaller y, is nearer).
  float lo[3] = {std::numeric_limits<float>::max(), std::numeric_limits<float>::max(),
                 std::numeric_limits<float>::max()};
  float hi[3] = {std::numeric_limits<float>::lowest(), std::numeric_limits<float>::lowest(),
                 std::numeric_limits<float>::lowest()};
  for (size_t p = 0; p < mesh.points.size(); p += 3) {
    for (size_t a = 0; a < 3; ++a) {
      lo[a] = std::min(lo[a], mesh.points[p + a]);
      hi[a] = std::max(hi[a], mesh.points[p + a]);
    }
  }
  const double span_x = std::max(1e-3F, hi[0] - lo[0]), span_z = std::max(1e-3F, hi[2] - lo[2]);
  const double scale = (width - 4) / span_x;
  height = std::max(8, static_cast<int>(std::ceil(span_z * scale)) + 4);
  std::vector<float> depth(static_cast<size_t>(width) * static_cast<size_t>(height),
                           std::numeric_limits<float>::max());
  std::vector<unsigned char> grey(depth.size(), 0);
  auto screen = [&](int32_t v) {
    const float* q = &mesh.points[static_cast<size_t>(v) * 3];
    return std::array<double, 3>{2 + (q[0] - lo[0]) * scale, 2 + (hi[2] - q[2]) * scale, q[1]};
  };
  for (size_t t = 0; t + 2 < mesh.triangles.size(); t += 3) {
    const auto a = screen(mesh.triangles[t]), b = screen(mesh.triangles[t + 1]),
               c = screen(mesh.triangles[t + 2]);
    // The facet's normal in patient space, for shading: facing the viewer (-y) is bright.
    const float* pa = &mesh.points[static_cast<size_t>(mesh.triangles[t]) * 3];
    const float* pb = &mesh.points[static_cast<size_t>(mesh.triangles[t + 1]) * 3];
    const float* pc = &mesh.points[static_cast<size_t>(mesh.triangles[t + 2]) * 3];
    const double ux = pb[0] - pa[0], uy = pb[1] - pa[1], uz = pb[2] - pa[2];
    const double vx = pc[0] - pa[0], vy = pc[1] - pa[1], vz = pc[2] - pa[2];
    const double nx = uy * vz - uz * vy, ny = uz * vx - ux * vz, nz = ux * vy - uy * vx;
    const double norm = std::sqrt(nx * nx + ny * ny + nz * nz);
    if (norm <= 0)
      continue;
    const double light = std::abs(ny / norm);  // two-sided
    const auto shade = static_cast<unsigned char>(40 + 215 * light);
    const double area = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]);
    if (std::abs(area) < 1e-12)
      continue;
    const int x0 = std::max(0, static_cast<int>(std::floor(std::min({a[0], b[0], c[0]}))));
    const int x1 = std::min(width - 1, static_cast<int>(std::ceil(std::max({a[0], b[0], c[0]}))));
    const int y0 = std::max(0, static_cast<int>(std::floor(std::min({a[1], b[1], c[1]}))));
    const int y1 = std::min(height - 1, static_cast<int>(std::ceil(std::max({a[1], b[1], c[1]}))));
    for (int y = y0; y <= y1; ++y) {
      for (int x = x0; x <= x1; ++x) {
        const double px = x + 0.5, py = y + 0.5;
        const double w0 = ((b[0] - px) * (c[1] - py) - (b[1] - py) * (c[0] - px)) / area;
        const double w1 = ((c[0] - px) * (a[1] - py) - (c[1] - py) * (a[0] - px)) / area;
        const double w2 = 1 - w0 - w1;
        if (w0 < 0 || w1 < 0 || w2 < 0)
          continue;
        const auto d = static_cast<float>(w0 * a[2] + w1 * b[2] + w2 * c[2]);
        const size_t at =
            static_cast<size_t>(y) * static_cast<size_t>(width) + static_cast<size_t>(x);
        if (d < depth[at]) {
          depth[at] = d;
          grey[at] = shade;
        }
      }
    }
  }
  return grey;
}

}  // namespace dxhub::imaging
