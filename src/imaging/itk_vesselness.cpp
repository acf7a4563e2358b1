// Frangi vesselness with ITK: a multiscale Hessian (recursive Gaussian, scale-normalised) fed to
// the objectness measure for line-like (1-D) objects.

#include <itkHessianToObjectnessMeasureImageFilter.h>
#include <itkMultiScaleHessianBasedMeasureImageFilter.h>
#include <itkSymmetricSecondRankTensor.h>

#include "imaging/itk_views.h"
#include "imaging/vesselness.h"

namespace dxhub::imaging {

std::vector<float> Vesselness(const Volume& volume, const VesselnessParams& p) {
  using Image = itk::Image<float, 3>;
  using Hessian = itk::Image<itk::SymmetricSecondRankTensor<double, 3>, 3>;
  auto objectness = itk::HessianToObjectnessMeasureImageFilter<Hessian, Image>::New();
  objectness->SetObjectDimension(1);
  objectness->SetBrightObject(p.bright);
  objectness->SetScaleObjectnessMeasure(false);
  objectness->SetAlpha(p.alpha);
  objectness->SetBeta(p.beta);
  objectness->SetGamma(p.gamma);
  auto multiscale = itk::MultiScaleHessianBasedMeasureImageFilter<Image, Hessian, Image>::New();
  multiscale->SetInput(ItkView(volume.voxels.data(), volume, /*patient_space=*/false));
  multiscale->SetHessianToMeasureFilter(objectness);
  multiscale->SetSigmaMinimum(p.sigma_min_mm);
  multiscale->SetSigmaMaximum(p.sigma_max_mm);
  multiscale->SetNumberOfSigmaSteps(static_cast<unsigned>(p.scales));
  multiscale->SetSigmaStepMethodToLogarithmic();
  multiscale->Update();
  const float* out = multiscale->GetOutput()->GetBufferPointer();
  return {out, out + volume.Count()};
}

}  // namespace dxhub::imaging
