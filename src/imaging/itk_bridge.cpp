#include "imaging/itk_bridge.h"

#include <itkImage.h>
#include <itkImportImageFilter.h>
#include <itkLinearInterpolateImageFunction.h>

namespace dxhub::imaging {
namespace {

using ItkVolume = itk::Image<float, 3>;

// An ITK view of the volume's voxels (no copy: the Volume outlives the view) with its geometry.
ItkVolume::Pointer View(const Volume& v) {
  auto import = itk::ImportImageFilter<float, 3>::New();
  itk::ImportImageFilter<float, 3>::SizeType size;
  itk::ImportImageFilter<float, 3>::IndexType start;
  double origin[3];
  double spacing[3];
  for (int a = 0; a < 3; ++a) {
    size[a] = static_cast<itk::SizeValueType>(v.size[a]);
    start[a] = 0;
    origin[a] = v.origin[a];
    spacing[a] = v.spacing[a];
  }
  import->SetRegion(itk::ImageRegion<3>(start, size));
  import->SetOrigin(origin);
  import->SetSpacing(spacing);
  ItkVolume::DirectionType direction;
  for (int r = 0; r < 3; ++r) {
    direction[r][0] = v.row_dir[r];
    direction[r][1] = v.col_dir[r];
    direction[r][2] = v.normal[r];
  }
  import->SetDirection(direction);
  // ITK's import API takes a non-const pointer; it only reads through it here.
  import->SetImportPointer(const_cast<float*>(v.voxels.data()), v.voxels.size(),
                           /*LetImageContainerManageMemory=*/false);
  import->Update();
  return import->GetOutput();
}

}  // namespace

struct TrilinearSampler::Impl {
  ItkVolume::Pointer image;
  itk::LinearInterpolateImageFunction<ItkVolume, double>::Pointer interpolator;
};

TrilinearSampler::TrilinearSampler(const Volume& volume) : impl_(std::make_unique<Impl>()) {
  impl_->image = View(volume);
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
