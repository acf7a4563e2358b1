// Lung segmentation. ITK does the smoothing, thresholding, connected components and the airway
// region growing; the geodesic split of touching lungs and the per-slice hole filling are plain
// breadth-first floods over the label array.

#include <itkBinaryBallStructuringElement.h>
#include <itkBinaryDilateImageFilter.h>
#include <itkBinaryErodeImageFilter.h>
#include <itkBinaryThresholdImageFilter.h>
#include <itkConnectedThresholdImageFilter.h>
#include <itkDiscreteGaussianImageFilter.h>

#include <algorithm>
#include <array>
#include <map>

#include "imaging/floods.h"
#include "imaging/itk_bridge.h"
#include "imaging/itk_views.h"
#include "imaging/lung.h"

namespace dxhub::imaging {
namespace {

using FloatImage = itk::Image<float, 3>;
using MaskImage = itk::Image<uint8_t, 3>;

MaskImage::Pointer MaskView(const Geometry& grid, const std::vector<uint8_t>& mask) {
  return ItkView(mask.data(), grid, /*patient_space=*/false);
}

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

}  // namespace

Result<LungResult> SegmentLungs(const Volume& ct, const LungOptions& options) {
  if (ct.size[2] < 3)
    return MakeError(ErrorCode::kInvalidArgument, "lung segmentation needs a volume");
  const Grid g(ct);
  const size_t count = ct.Count();

  // Noise first: thresholds at a few sigma of CT noise would otherwise fray every surface.
  auto gaussian = itk::DiscreteGaussianImageFilter<FloatImage, FloatImage>::New();
  gaussian->SetInput(ItkView(ct.voxels.data(), ct, /*patient_space=*/false));
  gaussian->SetVariance(options.smoothing_mm * options.smoothing_mm);
  gaussian->SetUseImageSpacingOn();
  gaussian->Update();
  FloatImage::Pointer smooth = gaussian->GetOutput();
  const float* hu = smooth->GetBufferPointer();

  // Air, and which of it is outside the body: the components touching the sides of the slices.
  std::vector<uint8_t> air(count);
  for (size_t i = 0; i < count; ++i)
    air[i] = hu[i] < options.air_below ? 1 : 0;
  std::vector<int64_t> sizes;
  std::vector<uint32_t> parts = Components(ct, air, sizes);
  std::vector<uint8_t> outside(sizes.size() + 1, 0);
  for (int k = 0; k < g.nz; ++k) {
    for (int i = 0; i < g.nx; ++i) {
      outside[parts[g.Index(i, 0, k)]] = 1;
      outside[parts[g.Index(i, g.ny - 1, k)]] = 1;
    }
    for (int j = 0; j < g.ny; ++j) {
      outside[parts[g.Index(0, j, k)]] = 1;
      outside[parts[g.Index(g.nx - 1, j, k)]] = 1;
    }
  }
  std::vector<uint8_t> inside(count);
  for (size_t i = 0; i < count; ++i)
    inside[i] = air[i] != 0 && outside[parts[i]] == 0 ? 1 : 0;

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
    grow->SetInput(smooth);
    grow->SetLower(-100000);
    grow->SetUpper(options.airway_below);
    grow->SetReplaceValue(1);
    for (const auto& s : seeds)
      grow->AddSeed(s);
    // One voxel more: the partial-volume rim of the airway wall.
    using Ball = itk::BinaryBallStructuringElement<uint8_t, 3>;
    Ball ball;
    ball.SetRadius(1);
    ball.CreateStructuringElement();
    auto dilate = itk::BinaryDilateImageFilter<MaskImage, MaskImage, Ball>::New();
    dilate->SetInput(grow->GetOutput());
    dilate->SetKernel(ball);
    dilate->SetForegroundValue(1);
    dilate->Update();
    const uint8_t* grown = dilate->GetOutput()->GetBufferPointer();
    std::copy(grown, grown + count, airway.begin());
    result.airways_found = true;
  }
  std::vector<uint8_t> lung(count);
  for (size_t i = 0; i < count; ++i)
    lung[i] = inside[i] != 0 && airway[i] == 0 ? 1 : 0;

  // The two lungs: the two largest pieces, or one piece eroded until it falls in two.
  parts = Components(ct, lung, sizes);
  if (sizes.empty() || sizes[0] * ct.spacing[0] * ct.spacing[1] * ct.spacing[2] < 50'000)
    return MakeError(ErrorCode::kInvalidArgument,
                     "no lungs found (less than 50 mL of air inside "
                     "the body)");
  std::vector<uint8_t> labels(count, 0);
  if (sizes.size() >= 2 && sizes[1] * 5 >= sizes[0]) {
    for (size_t i = 0; i < count; ++i)
      labels[i] = parts[i] == 1 ? 1 : parts[i] == 2 ? 2 : 0;
  } else {
    std::vector<uint8_t> core(count);
    for (size_t i = 0; i < count; ++i)
      core[i] = parts[i] == 1 ? 1 : 0;
    for (size_t i = 0; i < count; ++i)
      lung[i] = core[i];
    using Ball = itk::BinaryBallStructuringElement<uint8_t, 3>;
    bool split = false;
    for (int erosions = 1; erosions <= 12 && !split; ++erosions) {
      Ball ball;
      ball.SetRadius(1);
      ball.CreateStructuringElement();
      auto erode = itk::BinaryErodeImageFilter<MaskImage, MaskImage, Ball>::New();
      erode->SetInput(MaskView(ct, core));
      erode->SetKernel(ball);
      erode->SetForegroundValue(1);
      erode->Update();
      const uint8_t* eroded = erode->GetOutput()->GetBufferPointer();
      std::vector<uint8_t> next(eroded, eroded + count);
      core.swap(next);
      auto pieces = Components(ct, core, sizes);
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

  // Left is the patient's left: +x in LPS.
  std::map<int, double> x_sum, n;
  for (int k = 0; k < g.nz; ++k) {
    for (int j = 0; j < g.ny; ++j) {
      for (int i = 0; i < g.nx; ++i) {
        const uint8_t l = labels[g.Index(i, j, k)];
        if (l != 0) {
          x_sum[l] += ct.PointAt(i, j, k)[0];
          n[l] += 1;
        }
      }
    }
  }
  if (x_sum[1] / std::max(1.0, n[1]) < x_sum[2] / std::max(1.0, n[2])) {
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
