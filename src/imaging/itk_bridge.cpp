#include "imaging/itk_bridge.h"

#include <itkConnectedComponentImageFilter.h>
#include <itkLinearInterpolateImageFunction.h>
#include <itkRelabelComponentImageFilter.h>

#include <algorithm>
#include <array>

#include "imaging/floods.h"
#include "imaging/itk_views.h"

namespace dxhub::imaging {
using ItkVolume = itk::Image<float, 3>;
using MaskImage = itk::Image<uint8_t, 3>;
using LabelImage = itk::Image<uint32_t, 3>;

std::vector<uint32_t> Components(const Geometry& grid, const std::vector<uint8_t>& mask,
                                 std::vector<int64_t>& sizes, bool fully_connected) {
  auto components = itk::ConnectedComponentImageFilter<MaskImage, LabelImage>::New();
  components->SetInput(ItkView(mask.data(), grid, /*patient_space=*/false));
  components->SetFullyConnected(fully_connected);
  auto relabel = itk::RelabelComponentImageFilter<LabelImage, LabelImage>::New();
  relabel->SetInput(components->GetOutput());
  relabel->Update();
  sizes.clear();
  for (auto n : relabel->GetSizeOfObjectsInPixels())
    sizes.push_back(static_cast<int64_t>(n));
  const uint32_t* out = relabel->GetOutput()->GetBufferPointer();
  return {out, out + mask.size()};
}

namespace {

// The smallest box holding every nonzero voxel of `mask`, one voxel wider each way; false for
// an empty mask.
bool BoundingBox(const Grid& g, const std::vector<uint8_t>& mask, std::array<int, 3>& lo,
                 std::array<int, 3>& hi) {
  lo = {g.nx, g.ny, g.nz};
  hi = {-1, -1, -1};
  for (int k = 0; k < g.nz; ++k) {
    for (int j = 0; j < g.ny; ++j) {
      const uint8_t* row = mask.data() + g.Index(0, j, k);
      for (int i = 0; i < g.nx; ++i) {
        if (row[i] != 0) {
          lo = {std::min(lo[0], i), std::min(lo[1], j), std::min(lo[2], k)};
          hi = {std::max(hi[0], i), std::max(hi[1], j), std::max(hi[2], k)};
        }
      }
    }
  }
  if (hi[0] < 0)
    return false;
  const std::array<int, 3> n = {g.nx, g.ny, g.nz};
  for (int a = 0; a < 3; ++a) {
    lo[a] = std::max(0, lo[a] - 1);
    hi[a] = std::min(n[a] - 1, hi[a] + 1);
  }
  return true;
}

}  // namespace

std::vector<uint32_t> ComponentsInBox(const Geometry& grid, const std::vector<uint8_t>& mask,
                                      std::vector<int64_t>& sizes, bool fully_connected) {
  const Grid g(grid);
  std::array<int, 3> lo{}, hi{};
  std::vector<uint32_t> out(mask.size(), 0);
  sizes.clear();
  if (!BoundingBox(g, mask, lo, hi))
    return out;
  Geometry box = grid;
  box.size = {hi[0] - lo[0] + 1, hi[1] - lo[1] + 1, hi[2] - lo[2] + 1};
  std::vector<uint8_t> cropped(box.Count());
  for (int k = lo[2], c = 0; k <= hi[2]; ++k) {
    for (int j = lo[1]; j <= hi[1]; ++j) {
      const uint8_t* row = mask.data() + g.Index(lo[0], j, k);
      std::copy(row, row + box.size[0], cropped.begin() + c);
      c += box.size[0];
    }
  }
  const std::vector<uint32_t> parts = Components(box, cropped, sizes, fully_connected);
  for (int k = lo[2], c = 0; k <= hi[2]; ++k) {
    for (int j = lo[1]; j <= hi[1]; ++j) {
      std::copy(parts.begin() + c, parts.begin() + c + box.size[0],
                out.begin() + static_cast<std::ptrdiff_t>(g.Index(lo[0], j, k)));
      c += box.size[0];
    }
  }
  return out;
}

struct TrilinearSampler::Impl {
  ItkVolume::Pointer image;
  itk::LinearInterpolateImageFunction<ItkVolume, double>::Pointer interpolator;
};

TrilinearSampler::TrilinearSampler(const Volume& volume) : impl_(std::make_unique<Impl>()) {
  impl_->image = ItkView(volume.voxels.data(), volume, /*patient_space=*/true);
  impl_->interpolator = itk::LinearInterpolateImageFunction<ItkVolume, double>::New();
  impl_->interpolator->SetInputImage(impl_->image);
}

TrilinearSampler::~TrilinearSampler() = default;

bool TrilinearSampler::Sample(const Vec3& point, float& value) const {
  ItkVolume::PointType p;
  p[0] = point[0];
  p[1] = point[1];
  p[2] = point[2];
  if (!impl_->interpolator->IsInsideBuffer(p))
    return false;
  value = static_cast<float>(impl_->interpolator->Evaluate(p));
  return true;
}

}  // namespace dxhub::imaging
