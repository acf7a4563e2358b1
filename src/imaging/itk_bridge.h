#pragma once
// The imaging layer's door to ITK, private to the layer. Only the itk_*.cpp files include ITK:
// Debian's ITK 5.2 headers were generated for GCC and refuse to parse under clang, so clang-tidy
// skips those files (see the Makefile's tidy target); keeping them few and thin keeps the rest of
// the layer linted.

#include <memory>

#include "imaging/volume.h"

namespace dxhub::imaging {

/// Trilinear interpolation of a volume at patient-space points (ITK's
/// LinearInterpolateImageFunction over a no-copy view of the voxels). The volume must outlive it.
class TrilinearSampler {
 public:
  explicit TrilinearSampler(const Volume& volume);
  ~TrilinearSampler();
  TrilinearSampler(const TrilinearSampler&) = delete;
  TrilinearSampler& operator=(const TrilinearSampler&) = delete;

  /// The value at `point` (mm); false when the point lies outside the volume's voxel centres.
  bool Sample(const Vec3& point, float& value) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dxhub::imaging
