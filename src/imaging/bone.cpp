#include "imaging/bone.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <deque>
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
  for (size_t i = 0; i < count; ++i) {
    if (pieces[i] != 0 && hu[i] >= options.cortex_hu)
      ++cortical[pieces[i]];
  }
  BoneResult result;
  const auto min_voxels = static_cast<int64_t>(options.min_piece_ml / ct.VoxelMl());
  std::vector<uint8_t> keep(sizes.size() + 1, 0);
  for (size_t n = 1; n <= sizes.size(); ++n) {
    if (sizes[n - 1] < std::max<int64_t>(min_voxels, 1))
      continue;
    // A count, not the maximum: a few noisy voxels of a bright vein would pass a maximum.
    if (cortical[n] >= std::max<int64_t>(3, sizes[n - 1] / 100)) {
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
    const int i = static_cast<int>(at % static_cast<size_t>(g.nx));
    const int j = static_cast<int>((at / static_cast<size_t>(g.nx)) % static_cast<size_t>(g.ny));
    const int k = static_cast<int>(at / g.Plane());
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
