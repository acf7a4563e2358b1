// Lung segmentation. ITK does the connected components (in the lungs' box only) and the airway
// region growing; smoothing is OpenCV's separable Gaussian; outside air, the airway rim, the
// geodesic split of touching lungs and the per-slice hole filling are plain floods over the
// label array. At 512 x 512 x 300 whole-volume ITK morphology cost ~10 s of a ~19 s pipeline.

#include <itkConnectedThresholdImageFilter.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <map>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "imaging/filters.h"
#include "imaging/floods.h"
#include "imaging/itk_bridge.h"
#include "imaging/itk_views.h"
#include "imaging/lung.h"

namespace dxhub::imaging {
namespace {

using FloatImage = itk::Image<float, 3>;
using MaskImage = itk::Image<uint8_t, 3>;

// Per axial slice, fills the holes of `label` (voxels it encloses that are not the other label,
// nor in `keep_out`): the vessels inside a lung become lung, the bronchi do not.
void FillHolesPerSlice(const Grid& g, std::vector<uint8_t>& labels, uint8_t label,
                       const std::vector<uint8_t>& keep_out) {
  EnclosedPerSlice(
      g, [&](size_t at) { return labels[at] == label; },
      [&](int k, const std::vector<uint8_t>& enclosed) {
        for (size_t p = 0; p < enclosed.size(); ++p) {
          const size_t at = static_cast<size_t>(k) * g.Plane() + p;
          if (enclosed[p] != 0 && labels[at] == 0 && keep_out[at] == 0)
            labels[at] = label;
        }
      });
}

// Marks every voxel within `radius_mm` of a marked voxel (a ball, in mm), visiting only the
// marked voxels: cheap for sparse masks such as airways.
void DilateSparse(const Geometry& grid, std::vector<uint8_t>& mask, double radius_mm) {
  const Grid g(grid);
  std::vector<std::array<int, 3>> ball;
  const int rx = static_cast<int>(radius_mm / grid.spacing[0]),
            ry = static_cast<int>(radius_mm / grid.spacing[1]),
            rz = static_cast<int>(radius_mm / grid.spacing[2]);
  for (int dk = -rz; dk <= rz; ++dk) {
    for (int dj = -ry; dj <= ry; ++dj) {
      for (int di = -rx; di <= rx; ++di) {
        const double x = di * grid.spacing[0], y = dj * grid.spacing[1], z = dk * grid.spacing[2];
        if (x * x + y * y + z * z <= radius_mm * radius_mm)
          ball.push_back({di, dj, dk});
      }
    }
  }
  std::vector<size_t> marked;
  for (size_t i = 0; i < mask.size(); ++i) {
    if (mask[i] != 0)
      marked.push_back(i);
  }
  for (size_t at : marked) {
    const auto [i, j, k] = g.Coordinates(at);
    for (const auto& d : ball) {
      const int a = i + d[0], b = j + d[1], c = k + d[2];
      if (a >= 0 && b >= 0 && c >= 0 && a < g.nx && b < g.ny && c < g.nz)
        mask[g.Index(a, b, c)] = 1;
    }
  }
}

}  // namespace

Result<LungResult> SegmentLungs(const Volume& ct, const LungOptions& options) {
  if (ct.size[2] < 3)
    return MakeError(ErrorCode::kInvalidArgument, "lung segmentation needs a volume");
  const Grid g(ct);
  const size_t count = ct.Count();

  // Noise first: thresholds at a few sigma of CT noise would otherwise fray every surface.
  const std::vector<float> smoothed = Smoothed(ct, options.smoothing_mm);
  const float* hu = smoothed.data();

  // Air inside the body: air a slice's tissue encloses. (Air outside reaches the slice's edge.)
  // A field of view smaller than the chest (cardiac CT, crops) cuts the lungs at the image's
  // edge, so air that reaches the edge is told apart by its density: outside air is almost all
  // below `outside_air_below` (~-1000 HU), lung parenchyma (~-850) almost none of it.
  std::vector<uint8_t> inside(count, 0);
  EnclosedPerSlice(
      g, [&](size_t at) { return hu[at] >= options.air_below; },
      [&](int k, const std::vector<uint8_t>& enclosed) {
        const size_t offset = static_cast<size_t>(k) * g.Plane();
        std::copy(enclosed.begin(), enclosed.end(),
                  inside.begin() + static_cast<std::ptrdiff_t>(offset));
        cv::Mat reaching(g.ny, g.nx, CV_8U);
        for (size_t p = 0; p < g.Plane(); ++p)
          reaching.data[p] = enclosed[p] == 0 && hu[offset + p] < options.air_below ? 1 : 0;
        cv::Mat parts;
        const int n = cv::connectedComponents(reaching, parts, 4, CV_32S);
        std::vector<int64_t> total(static_cast<size_t>(n), 0), dark(static_cast<size_t>(n), 0);
        const auto* part = reinterpret_cast<const int32_t*>(parts.data);
        for (size_t p = 0; p < g.Plane(); ++p) {
          const auto l = static_cast<size_t>(part[p]);
          ++total[l];
          dark[l] += hu[offset + p] < options.outside_air_below ? 1 : 0;
        }
        for (size_t p = 0; p < g.Plane(); ++p) {
          const auto l = static_cast<size_t>(part[p]);
          if (l != 0 && dark[l] * 2 < total[l])
            inside[offset + p] = 1;
        }
      });

  // The airways: grown from the darkest air inside the body in the top (head-most) slices.
  LungResult result;
  const bool head_up = ct.normal[2] >= 0;  // LPS: +z is towards the head
  const int top = head_up ? g.nz - 1 : 0;
  std::vector<FloatImage::IndexType> seeds;
  for (int layer = 0; layer < std::max(1, g.nz / 20) && seeds.empty(); ++layer) {
    const int k = head_up ? top - layer : top + layer;
    for (int j = 0; j < g.ny; ++j) {
      for (int i = 0; i < g.nx; ++i) {
        const size_t at = g.Index(i, j, k);
        if (inside[at] != 0 && hu[at] < options.airway_below) {
          FloatImage::IndexType index;
          index[0] = i;
          index[1] = j;
          index[2] = k;
          seeds.push_back(index);
        }
      }
    }
  }
  std::vector<uint8_t> airway(count, 0);
  if (!seeds.empty()) {
    auto grow = itk::ConnectedThresholdImageFilter<FloatImage, MaskImage>::New();
    grow->SetInput(ItkView(smoothed.data(), ct, /*patient_space=*/false));
    grow->SetLower(-100000);
    grow->SetUpper(options.airway_below);
    grow->SetReplaceValue(1);
    for (const auto& s : seeds)
      grow->AddSeed(s);
    grow->Update();
    const uint8_t* grown = grow->GetOutput()->GetBufferPointer();
    std::copy(grown, grown + count, airway.begin());
    // The airway wall's partial-volume rim (as wide as the smoothing blurs it) goes with it, or
    // it would join the lungs through the mediastinum.
    DilateSparse(ct, airway, std::max(2.5 * options.smoothing_mm, ct.spacing[0]));
    result.airways_found = true;
  }
  std::vector<uint8_t> lung(count);
  for (size_t i = 0; i < count; ++i)
    lung[i] = inside[i] != 0 && airway[i] == 0 ? 1 : 0;

  // The two lungs: the two largest pieces, or one piece eroded until it falls in two.
  std::vector<int64_t> sizes;
  std::vector<uint32_t> parts = ComponentsInBox(ct, lung, sizes);
  if (sizes.empty() || sizes[0] * ct.spacing[0] * ct.spacing[1] * ct.spacing[2] < 50'000)
    return MakeError(ErrorCode::kInvalidArgument,
                     "no lungs found (less than 50 mL of air inside "
                     "the body)");
  std::vector<uint8_t> labels(count, 0);
  if (sizes.size() >= 2 && sizes[1] * 5 >= sizes[0]) {
    for (size_t i = 0; i < count; ++i)
      labels[i] = parts[i] == 1 ? 1 : parts[i] == 2 ? 2 : 0;
  } else {
    // Eroded by thresholding each slice's distance to the lung's edge (OpenCV's exact 2-D
    // transform, cheap), deeper and deeper until the piece falls in two; the junction of touching
    // lungs is a thin sheet, thin in every axial slice too.
    for (size_t i = 0; i < count; ++i)
      lung[i] = parts[i] == 1 ? 1 : 0;
    std::vector<float> depth(count, 0);
    for (int k = 0; k < g.nz; ++k) {
      const size_t offset = static_cast<size_t>(k) * g.Plane();
      const cv::Mat slice(g.ny, g.nx, CV_8U, lung.data() + offset);
      cv::Mat distance(g.ny, g.nx, CV_32F, depth.data() + offset);
      cv::distanceTransform(slice, distance, cv::DIST_L2, cv::DIST_MASK_PRECISE, CV_32F);
    }
    const double pixel = std::min(ct.spacing[0], ct.spacing[1]);
    bool split = false;
    std::vector<uint8_t> core(count);
    for (double mm = 2; mm <= 30 && !split; mm += 2) {
      const auto px = static_cast<float>(mm / pixel);
      for (size_t i = 0; i < count; ++i)
        core[i] = depth[i] > px ? 1 : 0;
      auto pieces = ComponentsInBox(ct, core, sizes);
      if (sizes.size() >= 2 && sizes[1] * 5 >= sizes[0]) {
        for (size_t i = 0; i < count; ++i)
          labels[i] = pieces[i] == 1 ? 1 : pieces[i] == 2 ? 2 : 0;
        split = true;
      }
    }
    if (!split)
      return MakeError(ErrorCode::kInvalidArgument,
                       "found one air region inside the body that does not separate into two "
                       "lungs");
    GeodesicGrow(g, lung, labels);
    result.split_touching = true;
  }

  // Left is the patient's left: +x in LPS. Positions are linear in the indices, so the mean
  // index of each lung places it.
  std::array<std::array<double, 4>, 3> sum{};  // per label: i, j, k, count
  for (int k = 0; k < g.nz; ++k) {
    for (int j = 0; j < g.ny; ++j) {
      const uint8_t* row = labels.data() + g.Index(0, j, k);
      for (int i = 0; i < g.nx; ++i) {
        if (row[i] != 0) {
          auto& s = sum[row[i]];
          s[0] += i;
          s[1] += j;
          s[2] += k;
          s[3] += 1;
        }
      }
    }
  }
  auto mean_x = [&](int l) {
    const auto& s = sum[static_cast<size_t>(l)];
    const double n = std::max(1.0, s[3]);
    return ct.PointAt(s[0] / n, s[1] / n, s[2] / n)[0];
  };
  if (mean_x(1) < mean_x(2)) {
    for (auto& l : labels)
      l = l == 1 ? 2 : l == 2 ? 1 : 0;
  }
  FillHolesPerSlice(g, labels, 1, airway);
  FillHolesPerSlice(g, labels, 2, airway);

  result.labels = LabelVolume::On(ct);
  result.labels.labels = std::move(labels);
  int64_t left = 0, right = 0;
  for (uint8_t l : result.labels.labels) {
    left += l == 1 ? 1 : 0;
    right += l == 2 ? 1 : 0;
  }
  result.left_ml = static_cast<double>(left) * result.labels.VoxelMl();
  result.right_ml = static_cast<double>(right) * result.labels.VoxelMl();
  return result;
}

}  // namespace dxhub::imaging
