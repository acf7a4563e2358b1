#include "imaging/reslice.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>

#include "imaging/itk_bridge.h"

namespace dxhub::imaging {
namespace {

Status CheckPlane(const PlaneSpec& p) {
  if (p.width < 1 || p.height < 1 || p.width > 8192 || p.height > 8192 || !(p.spacing > 0))
    return MakeError(ErrorCode::kInvalidArgument, "plane size must be 1..8192 with spacing > 0");
  if (std::abs(Dot(p.u, p.u) - 1) > 1e-6 || std::abs(Dot(p.v, p.v) - 1) > 1e-6 ||
      std::abs(Dot(p.u, p.v)) > 1e-6)
    return MakeError(ErrorCode::kInvalidArgument, "plane directions must be orthonormal");
  return Ok();
}

// Calls sample(x, y, point) for every output pixel of `plane` shifted by `shift` mm along n.
template <typename F>
void ForEachPoint(const PlaneSpec& p, const Vec3& n, double shift, F&& sample) {
  const double cx = (p.width - 1) / 2.0;
  const double cy = (p.height - 1) / 2.0;
  for (int y = 0; y < p.height; ++y) {
    for (int x = 0; x < p.width; ++x) {
      const double du = (x - cx) * p.spacing;
      const double dv = (y - cy) * p.spacing;
      Vec3 point;
      for (int a = 0; a < 3; ++a)
        point[a] = p.center[a] + du * p.u[a] + dv * p.v[a] + shift * n[a];
      sample(x, y, point);
    }
  }
}

}  // namespace

PlaneSpec StandardPlane(const Volume& volume, Axis axis, double offset_mm) {
  const Vec3 center = volume.PointAt((volume.size[0] - 1) / 2.0, (volume.size[1] - 1) / 2.0,
                                     (volume.size[2] - 1) / 2.0);
  // Patient axes (LPS): x to the left, y to the back, z to the head.
  PlaneSpec p;
  Vec3 n{0, 0, 0};
  switch (axis) {
    case Axis::kAxial:  // seen from the feet: patient's right on the left, anterior up
      p.u = {1, 0, 0};
      p.v = {0, 1, 0};
      break;
    case Axis::kCoronal:  // seen from the front: head up
      p.u = {1, 0, 0};
      p.v = {0, 0, -1};
      break;
    case Axis::kSagittal:  // seen from the left: anterior on the left, head up
      p.u = {0, 1, 0};
      p.v = {0, 0, -1};
      break;
  }
  n = Cross(p.u, p.v);
  p.spacing = std::min(volume.spacing[0], volume.spacing[1]);
  // Extent of the volume's bounding box along u and v.
  double lo_u = std::numeric_limits<double>::max(), hi_u = -lo_u;
  double lo_v = lo_u, hi_v = -lo_u;
  for (int c = 0; c < 8; ++c) {
    const Vec3 corner =
        volume.PointAt((c & 1) ? volume.size[0] - 1 : 0, (c & 2) ? volume.size[1] - 1 : 0,
                       (c & 4) ? volume.size[2] - 1 : 0);
    const Vec3 d{corner[0] - center[0], corner[1] - center[1], corner[2] - center[2]};
    lo_u = std::min(lo_u, Dot(d, p.u));
    hi_u = std::max(hi_u, Dot(d, p.u));
    lo_v = std::min(lo_v, Dot(d, p.v));
    hi_v = std::max(hi_v, Dot(d, p.v));
  }
  // The grid starts on the first voxel centre, so axis-aligned planes sample voxels exactly.
  p.width = static_cast<int>(std::floor((hi_u - lo_u) / p.spacing + 1e-6)) + 1;
  p.height = static_cast<int>(std::floor((hi_v - lo_v) / p.spacing + 1e-6)) + 1;
  const double mid_u = lo_u + (p.width - 1) * p.spacing / 2;
  const double mid_v = lo_v + (p.height - 1) * p.spacing / 2;
  for (int a = 0; a < 3; ++a)
    p.center[a] = center[a] + mid_u * p.u[a] + mid_v * p.v[a] + offset_mm * n[a];
  return p;
}

Result<Image2D> Reslice(const Volume& volume, const PlaneSpec& plane, float outside) {
  DXHUB_TRY(CheckPlane(plane));
  const TrilinearSampler sampler(volume);
  Image2D out{plane.width, plane.height, plane.spacing, {}};
  out.pixels.assign(static_cast<size_t>(plane.width) * static_cast<size_t>(plane.height), outside);
  ForEachPoint(plane, Cross(plane.u, plane.v), 0, [&](int x, int y, const Vec3& point) {
    float value = 0;
    if (sampler.Sample(point, value))
      out.pixels[static_cast<size_t>(y) * static_cast<size_t>(plane.width) +
                 static_cast<size_t>(x)] = value;
  });
  return out;
}

namespace {

// The common case done directly: a plane parallel to the slices whose pixels fall on voxel
// centres (the standard planes of a volume with square pixels). Rays then run along the slice
// axis through voxel centres and need no interpolation: ~100x faster than sampling.
std::optional<Image2D> ProjectAlongSlices(const Volume& v, const PlaneSpec& p, const Vec3& n,
                                          double from, double to, bool max) {
  const bool parallel = std::abs(std::abs(Dot(p.u, v.row_dir)) - 1) < 1e-9 &&
                        std::abs(std::abs(Dot(p.v, v.col_dir)) - 1) < 1e-9 &&
                        std::abs(p.spacing - v.spacing[0]) < 1e-9 &&
                        std::abs(p.spacing - v.spacing[1]) < 1e-9;
  if (!parallel)
    return std::nullopt;
  const double cx = (p.width - 1) / 2.0;
  const double cy = (p.height - 1) / 2.0;
  auto index_of = [&](int x, int y, double& i, double& j, double& k) {
    Vec3 d;
    for (int a = 0; a < 3; ++a)
      d[a] =
          p.center[a] + (x - cx) * p.spacing * p.u[a] + (y - cy) * p.spacing * p.v[a] - v.origin[a];
    i = Dot(d, v.row_dir) / v.spacing[0];
    j = Dot(d, v.col_dir) / v.spacing[1];
    k = Dot(d, v.normal) / v.spacing[2];
  };
  double i0 = 0, j0 = 0, k0 = 0;
  index_of(0, 0, i0, j0, k0);
  if (std::abs(i0 - std::round(i0)) > 1e-6 || std::abs(j0 - std::round(j0)) > 1e-6)
    return std::nullopt;
  const double along = Dot(n, v.normal) / v.spacing[2];  // index steps per mm along the ray
  double lo = k0 + from * along;
  double hi = k0 + to * along;
  if (lo > hi)
    std::swap(lo, hi);
  const int k_first = std::max(0, static_cast<int>(std::ceil(lo - 1e-6)));
  const int k_last = std::min(v.size[2] - 1, static_cast<int>(std::floor(hi + 1e-6)));
  Image2D out{p.width, p.height, p.spacing, {}};
  out.pixels.assign(static_cast<size_t>(p.width) * static_cast<size_t>(p.height), 0.f);
  if (k_first > k_last)
    return out;
  // Where each output pixel reads in a slice (or -1 outside); slices are then swept in memory
  // order.
  std::vector<int64_t> source(out.pixels.size(), -1);
  for (int y = 0; y < p.height; ++y) {
    for (int x = 0; x < p.width; ++x) {
      double fi = 0, fj = 0, fk = 0;
      index_of(x, y, fi, fj, fk);
      const auto i = static_cast<int>(std::lround(fi));
      const auto j = static_cast<int>(std::lround(fj));
      if (i >= 0 && j >= 0 && i < v.size[0] && j < v.size[1])
        source[static_cast<size_t>(y) * static_cast<size_t>(p.width) + static_cast<size_t>(x)] =
            static_cast<int64_t>(v.Index(i, j, 0));
    }
  }
  const size_t plane = static_cast<size_t>(v.size[0]) * static_cast<size_t>(v.size[1]);
  for (size_t o = 0; o < source.size(); ++o) {
    if (source[o] >= 0)
      out.pixels[o] =
          v.voxels[static_cast<size_t>(source[o]) + static_cast<size_t>(k_first) * plane];
  }
  for (int k = k_first + 1; k <= k_last; ++k) {
    const float* slice = v.voxels.data() + static_cast<size_t>(k) * plane;
    for (size_t o = 0; o < source.size(); ++o) {
      if (source[o] < 0)
        continue;
      const float value = slice[source[o]];
      out.pixels[o] = max ? std::max(out.pixels[o], value) : std::min(out.pixels[o], value);
    }
  }
  return out;
}

}  // namespace

Result<Image2D> Project(const Volume& volume, const PlaneSpec& plane, Projection kind,
                        double slab_mm, double step_mm) {
  DXHUB_TRY(CheckPlane(plane));
  const Vec3 n = Cross(plane.u, plane.v);
  if (step_mm <= 0)
    step_mm = std::min({volume.spacing[0], volume.spacing[1], volume.spacing[2]});
  double from = -slab_mm / 2;
  double to = slab_mm / 2;
  if (slab_mm <= 0) {
    // Through the whole volume: the range of its corners along n.
    from = std::numeric_limits<double>::max();
    to = -from;
    for (int c = 0; c < 8; ++c) {
      const Vec3 corner =
          volume.PointAt((c & 1) ? volume.size[0] - 1 : 0, (c & 2) ? volume.size[1] - 1 : 0,
                         (c & 4) ? volume.size[2] - 1 : 0);
      const Vec3 d{corner[0] - plane.center[0], corner[1] - plane.center[1],
                   corner[2] - plane.center[2]};
      from = std::min(from, Dot(d, n));
      to = std::max(to, Dot(d, n));
    }
  }
  const bool max = kind == Projection::kMax;
  if (auto fast = ProjectAlongSlices(volume, plane, n, from, to, max))
    return std::move(*fast);
  const TrilinearSampler sampler(volume);
  const float none =
      max ? -std::numeric_limits<float>::infinity() : std::numeric_limits<float>::infinity();
  Image2D out{plane.width, plane.height, plane.spacing, {}};
  out.pixels.assign(static_cast<size_t>(plane.width) * static_cast<size_t>(plane.height), none);
  const int steps = static_cast<int>(std::floor((to - from) / step_mm + 1e-9)) + 1;
  for (int s = 0; s < steps; ++s) {
    ForEachPoint(plane, n, from + s * step_mm, [&](int x, int y, const Vec3& point) {
      float v = 0;
      if (!sampler.Sample(point, v))
        return;
      float& o = out.pixels[static_cast<size_t>(y) * static_cast<size_t>(plane.width) +
                            static_cast<size_t>(x)];
      o = max ? std::max(o, v) : std::min(o, v);
    });
  }
  for (float& o : out.pixels) {
    if (std::isinf(o))
      o = 0;  // no sample of the volume along this ray
  }
  return out;
}

}  // namespace dxhub::imaging
