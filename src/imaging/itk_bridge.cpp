#include "imaging/itk_bridge.h"

#include <itkConnectedComponentImageFilter.h>
#include <itkLinearInterpolateImageFunction.h>
#include <itkRelabelComponentImageFilter.h>

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
