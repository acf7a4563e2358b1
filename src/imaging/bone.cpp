#include "imaging/bone.h"

#include <algorithm>
#include <array>
#include <climits>
#include <cmath>
#include <cstdint>
#include <deque>
#include <numbers>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "imaging/filters.h"
#include "imaging/floods.h"
#include "imaging/itk_bridge.h"

namespace dxhub::imaging {
namespace {

// The 26 neighbour offsets with their lengths in mm, for rim growth measured in mm.
struct Step {
  int di, dj, dk;
  double mm;
};

std::vector<Step> Steps26(const Geometry& grid) {
  std::vector<Step> steps;
  for (int dk = -1; dk <= 1; ++dk) {
    for (int dj = -1; dj <= 1; ++dj) {
      for (int di = -1; di <= 1; ++di) {
        if (di == 0 && dj == 0 && dk == 0)
          continue;
        const double x = di * grid.spacing[0], y = dj * grid.spacing[1], z = dk * grid.spacing[2];
        steps.push_back({di, dj, dk, std::sqrt(x * x + y * y + z * z)});
      }
    }
  }
  return steps;
}

// Per dense piece: where its voxels lie (for their principal axes) and how even the density of
// its interior is (voxels whose six neighbours are in the piece too, clear of partial volume).
struct PieceShape {
  double n = 0, sx = 0, sy = 0, sz = 0, sxx = 0, syy = 0, szz = 0, sxy = 0, sxz = 0, syz = 0;
  double inner = 0, hu = 0, hu2 = 0;
  std::array<int, 3> lo{INT32_MAX, INT32_MAX, INT32_MAX}, hi{-1, -1, -1};

  // Eigenvalues of the positions' covariance (mm^2), largest first (trigonometric solution for
  // a symmetric 3x3 matrix).
  std::array<double, 3> Axes() const {
    const double mx = sx / n, my = sy / n, mz = sz / n;
    const double a = sxx / n - mx * mx, b = syy / n - my * my, c = szz / n - mz * mz;
    const double d = sxy / n - mx * my, e = syz / n - my * mz, f = sxz / n - mx * mz;
    const double p1 = d * d + e * e + f * f;
    if (p1 < 1e-12)
      return {std::max({a, b, c}), a + b + c - std::max({a, b, c}) - std::min({a, b, c}),
              std::min({a, b, c})};
    const double q = (a + b + c) / 3;
    const double p2 = (a - q) * (a - q) + (b - q) * (b - q) + (c - q) * (c - q) + 2 * p1;
    const double p = std::sqrt(p2 / 6);
    const double det = ((a - q) * ((b - q) * (c - q) - e * e) - d * (d * (c - q) - e * f) +
                        f * (d * e - (b - q) * f)) /
                       (p * p * p);
    const double phi = std::acos(std::clamp(det / 2, -1.0, 1.0)) / 3;
    const double l1 = q + 2 * p * std::cos(phi);
    const double l3 = q + 2 * p * std::cos(phi + 2 * std::numbers::pi / 3);
    return {l1, 3 * q - l1 - l3, l3};
  }
  double InnerVariation() const {
    if (inner < 8)
      return 1;
    const double mean = hu / inner;
    return std::sqrt(std::max(0.0, hu2 / inner - mean * mean)) / std::max(1.0, std::abs(mean));
  }
};

// Whether a piece is a solid, evenly dense, elongated tube (a vessel full of contrast) rather than
// bone: bone is a shell round marrow in most of its slices and its density varies (cortex,
// trabeculae); a vessel's lumen is even and fills its cross-section. Checked only on pieces that
// look tubular and even, so the per-slice hole count stays cheap.
bool IsContrastTube(const Grid& g, const std::vector<uint32_t>& pieces, uint32_t piece,
                    const PieceShape& shape) {
  const auto axes = shape.Axes();
  if (!(axes[0] >= 4 * axes[1]) || shape.InnerVariation() > 0.08)
    return false;
  // Solid: what the piece encloses slice by slice is a small part of it.
  Geometry box;
  box.size = {shape.hi[0] - shape.lo[0] + 1, shape.hi[1] - shape.lo[1] + 1,
              shape.hi[2] - shape.lo[2] + 1};
  const Grid local(box);
  std::vector<uint8_t> wall(box.Count());
  for (int k = 0; k < box.size[2]; ++k) {
    for (int j = 0; j < box.size[1]; ++j) {
      for (int i = 0; i < box.size[0]; ++i)
        wall[local.Index(i, j, k)] =
            pieces[g.Index(shape.lo[0] + i, shape.lo[1] + j, shape.lo[2] + k)] == piece ? 1 : 0;
    }
  }
  std::vector<int64_t> enclosed(static_cast<size_t>(box.size[2]), 0);
  EnclosedPerSlice(
      local, [&](size_t at) { return wall[at] != 0; },
      [&](int k, const std::vector<uint8_t>& inside) {
        for (uint8_t v : inside)
          enclosed[static_cast<size_t>(k)] += v;
      });
  int64_t holes = 0;
  for (int64_t e : enclosed)
    holes += e;
  return static_cast<double>(holes) < 0.02 * shape.n;
}

}  // namespace

Result<BoneResult> RemoveBone(const Volume& ct, const BoneOptions& options) {
  if (ct.size[2] < 3)
    return MakeError(ErrorCode::kInvalidArgument,
                     "bone removal needs a volume of 3 slices or more");
  if (!(options.seed_hu > options.rim_hu) || !(options.cortex_hu >= options.seed_hu) ||
      options.rim_mm < 0 || options.rim_mm > 10 || options.smoothing_mm < 0 ||
      options.smoothing_mm > 5 || options.closing_mm < 0 || options.closing_mm > 20)
    return MakeError(ErrorCode::kInvalidArgument,
                     "bone options out of range (need cortex >= seed > rim HU, rim 0-10 mm, "
                     "smoothing 0-5 mm, closing 0-20 mm)");
  const Grid g(ct);
  const size_t count = ct.Count();
  const std::vector<float> hu = Smoothed(ct, options.smoothing_mm);

  // Dense pieces, each kept as bone only if some of it is cortical.
  std::vector<uint8_t> dense(count);
  for (size_t i = 0; i < count; ++i)
    dense[i] = hu[i] >= options.seed_hu ? 1 : 0;
  std::vector<int64_t> sizes;
  const std::vector<uint32_t> pieces = ComponentsInBox(ct, dense, sizes, /*fully_connected=*/true);
  std::vector<int64_t> cortical(sizes.size() + 1, 0);
  std::vector<PieceShape> shapes(sizes.size() + 1);
  for (int k = 0; k < g.nz; ++k) {
    for (int j = 0; j < g.ny; ++j) {
      for (int i = 0; i < g.nx; ++i) {
        const size_t at = g.Index(i, j, k);
        const uint32_t n = pieces[at];
        if (n == 0)
          continue;
        cortical[n] += hu[at] >= options.cortex_hu ? 1 : 0;
        PieceShape& s = shapes[n];
        const double x = i * ct.spacing[0], y = j * ct.spacing[1], z = k * ct.spacing[2];
        s.n += 1;
        s.sx += x;
        s.sy += y;
        s.sz += z;
        s.sxx += x * x;
        s.syy += y * y;
        s.szz += z * z;
        s.sxy += x * y;
        s.sxz += x * z;
        s.syz += y * z;
        s.lo = {std::min(s.lo[0], i), std::min(s.lo[1], j), std::min(s.lo[2], k)};
        s.hi = {std::max(s.hi[0], i), std::max(s.hi[1], j), std::max(s.hi[2], k)};
        const bool inner = i > 0 && j > 0 && k > 0 && i + 1 < g.nx && j + 1 < g.ny &&
                           k + 1 < g.nz && pieces[at - 1] == n && pieces[at + 1] == n &&
                           pieces[at - static_cast<size_t>(g.nx)] == n &&
                           pieces[at + static_cast<size_t>(g.nx)] == n &&
                           pieces[at - g.Plane()] == n && pieces[at + g.Plane()] == n;
        if (inner) {
          s.inner += 1;
          s.hu += hu[at];
          s.hu2 += static_cast<double>(hu[at]) * hu[at];
        }
      }
    }
  }
  BoneResult result;
  const auto min_voxels = static_cast<int64_t>(options.min_piece_ml / ct.VoxelMl());
  std::vector<uint8_t> keep(sizes.size() + 1, 0);
  for (size_t n = 1; n <= sizes.size(); ++n) {
    if (sizes[n - 1] < std::max<int64_t>(min_voxels, 1))
      continue;
    // A count, not the maximum: a few noisy voxels of a bright vein would pass a maximum.
    if (cortical[n] >= std::max<int64_t>(3, sizes[n - 1] / 100) &&
        !IsContrastTube(g, pieces, static_cast<uint32_t>(n), shapes[n])) {
      keep[n] = 1;
      ++result.pieces;
    } else {
      ++result.vetoed_pieces;
    }
  }
  std::vector<uint8_t> bone(count);
  for (size_t i = 0; i < count; ++i)
    bone[i] = keep[pieces[i]];

  // Marrow: what the cortex, closed over its gaps, encloses in a slice, if dense enough (the
  // spinal canal is not). The closing's own bridges count as marrow on the same terms.
  std::vector<uint8_t> closed(count, 0);
  const int radius_px =
      static_cast<int>(std::lround(options.closing_mm / std::min(ct.spacing[0], ct.spacing[1])));
  if (radius_px > 0) {
    const cv::Mat disc = cv::getStructuringElement(cv::MORPH_ELLIPSE,
                                                   cv::Size(2 * radius_px + 1, 2 * radius_px + 1));
    for (int k = 0; k < g.nz; ++k) {
      const size_t offset = static_cast<size_t>(k) * g.Plane();
      // Padded so that bone at the image's edge closes as if the image went on.
      cv::Mat slice(g.ny, g.nx, CV_8U, bone.data() + offset);
      cv::Mat padded, result;
      cv::copyMakeBorder(slice, padded, radius_px, radius_px, radius_px, radius_px,
                         cv::BORDER_CONSTANT, 0);
      cv::morphologyEx(padded, result, cv::MORPH_CLOSE, disc);
      result(cv::Rect(radius_px, radius_px, g.nx, g.ny))
          .copyTo(cv::Mat(g.ny, g.nx, CV_8U, closed.data() + offset));
    }
  } else {
    closed = bone;
  }
  for (size_t i = 0; i < count; ++i) {
    if (closed[i] != 0 && bone[i] == 0 && hu[i] >= options.marrow_hu)
      bone[i] = 2;
  }
  EnclosedPerSlice(
      g, [&](size_t at) { return closed[at] != 0; },
      [&](int k, const std::vector<uint8_t>& enclosed) {
        for (size_t p = 0; p < enclosed.size(); ++p) {
          const size_t at = static_cast<size_t>(k) * g.Plane() + p;
          if (enclosed[p] != 0 && hu[at] >= options.marrow_hu)
            bone[at] = 2;
        }
      });

  // The rim: grown from the dense bone while the density falls and stays above rim_hu, at most
  // rim_mm along the path. Marrow voxels do not seed it: growing from them would climb into
  // nothing (they are enclosed) and only cost time.
  std::vector<float> reach(count, -1);
  std::deque<size_t> queue;
  for (size_t i = 0; i < count; ++i) {
    if (bone[i] == 1) {
      reach[i] = 0;
      queue.push_back(i);
    }
  }
  const std::vector<Step> steps = Steps26(ct);
  while (!queue.empty()) {
    const size_t at = queue.front();
    queue.pop_front();
    const auto [i, j, k] = g.Coordinates(at);
    for (const Step& s : steps) {
      const int a = i + s.di, b = j + s.dj, c = k + s.dk;
      if (a < 0 || b < 0 || c < 0 || a >= g.nx || b >= g.ny || c >= g.nz)
        continue;
      const size_t n = g.Index(a, b, c);
      const float d = reach[at] + static_cast<float>(s.mm);
      if (bone[n] != 0 || d > options.rim_mm || hu[n] < options.rim_hu || hu[n] > hu[at])
        continue;
      if (reach[n] < 0 || d < reach[n]) {
        reach[n] = d;
        queue.push_back(n);
      }
    }
  }

  result.mask = LabelVolume::On(ct);
  result.bone_free = ct;
  int64_t voxels = 0;
  for (size_t i = 0; i < count; ++i) {
    if (bone[i] != 0 || reach[i] >= 0) {
      result.mask.labels[i] = 1;
      result.bone_free.voxels[i] = options.removed_hu;
      ++voxels;
    }
  }
  result.bone_ml = static_cast<double>(voxels) * ct.VoxelMl();
  return result;
}

}  // namespace dxhub::imaging
