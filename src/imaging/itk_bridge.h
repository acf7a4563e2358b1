#pragma once
// The imaging layer's door to ITK, private to the layer. Only the itk_*.cpp files include ITK:
// Debian's ITK 5.2 headers were generated for GCC and refuse to parse under clang, so clang-tidy
// skips those files (see the Makefile's tidy target); keeping them few and thin keeps the rest of
// the layer linted.

#include <cstdint>
#include <memory>
#include <vector>

#include "imaging/volume.h"

namespace dxhub::imaging {

/// Connected components of a 0/1 mask, numbered by size (1 = largest, 0 background);
/// `sizes[n - 1]` is the voxel count of component n. Face-connected unless `fully_connected`.
std::vector<uint32_t> Components(const Geometry& grid, const std::vector<uint8_t>& mask,
                                 std::vector<int64_t>& sizes, bool fully_connected = false);

/// The same, computed in the mask's bounding box only (bone or lungs fill a fraction of a CT):
/// several times faster on sparse masks.
std::vector<uint32_t> ComponentsInBox(const Geometry& grid, const std::vector<uint8_t>& mask,
                                      std::vector<int64_t>& sizes, bool fully_connected = false);

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
