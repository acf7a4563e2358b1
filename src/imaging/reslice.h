#pragma once
// Multiplanar reformatting and projections: any plane through a volume (axial, coronal, sagittal
// or oblique), and maximum / minimum intensity projections over the whole volume or a slab.
// Resampling is ITK's (trilinear, physical-space aware); ITK types stay in reslice.cpp.

#include <vector>

#include "core/result.h"
#include "imaging/volume.h"

namespace dxhub::imaging {

/// A rectangle in patient space: its centre, two orthonormal in-plane directions (u along the
/// output's columns, v down its rows), size in pixels and square pixel spacing (mm).
struct PlaneSpec {
  Vec3 center{0, 0, 0};
  Vec3 u{1, 0, 0};
  Vec3 v{0, 1, 0};
  int width = 0;
  int height = 0;
  double spacing = 1;
};

/// A 2-D result; pixel (x, y) is at center + (x - (width-1)/2) * spacing * u
/// + (y - (height-1)/2) * spacing * v.
struct Image2D {
  int width = 0;
  int height = 0;
  double spacing = 1;
  std::vector<float> pixels;  // row by row
  float At(int x, int y) const {
    return pixels[static_cast<size_t>(y) * static_cast<size_t>(width) + static_cast<size_t>(x)];
  }
};

enum class Axis { kAxial, kCoronal, kSagittal };

/// The standard plane through the volume's centre shifted `offset_mm` along the plane's normal,
/// covering the whole volume at its finest in-plane spacing. Axial planes look from the feet,
/// coronal from the front, sagittal from the patient's left, as radiologists read them.
PlaneSpec StandardPlane(const Volume& volume, Axis axis, double offset_mm = 0);

/// Samples `plane` trilinearly; points outside the volume get `outside`.
/// kInvalidArgument for an empty plane or non-orthonormal directions.
Result<Image2D> Reslice(const Volume& volume, const PlaneSpec& plane, float outside = -1024);

enum class Projection { kMax, kMin };

/// Projects along the plane's normal (u x v) over a slab `slab_mm` thick centred on the plane,
/// sampled every `step_mm` (0: the volume's smallest spacing); slab_mm <= 0 projects through the
/// whole volume. Samples outside the volume are ignored.
Result<Image2D> Project(const Volume& volume, const PlaneSpec& plane, Projection kind,
                        double slab_mm = 0, double step_mm = 0);

}  // namespace dxhub::imaging
