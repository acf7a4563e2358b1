#include "imaging/itk_bridge.h"

#include <itkLinearInterpolateImageFunction.h>

#include "imaging/itk_views.h"

namespace dxhub::imaging {
using ItkVolume = itk::Image<float, 3>;

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
