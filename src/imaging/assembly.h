#pragma once
// Building a volume from the slices of a CT/MR series: sorted along the slice normal, spacing
// from the positions (SliceThickness is not the spacing: overlapping or gapped reconstructions
// differ), values rescaled (HU for CT). Series that do not form one regular volume are refused
// with the reason, never silently resampled.

#include <array>
#include <string>
#include <vector>

#include "core/result.h"
#include "imaging/volume.h"
#include "store/archive.h"

namespace dxhub::imaging {

/// One image of a series with what assembly needs of its header.
struct Slice {
  std::string sop_uid;
  Vec3 position{0, 0, 0};                               // ImagePositionPatient
  std::array<double, 6> orientation{1, 0, 0, 0, 1, 0};  // ImageOrientationPatient
  std::array<double, 2> pixel_spacing{1, 1};  // PixelSpacing: between rows, between columns
  int rows = 0;
  int columns = 0;
  double slope = 1;
  double intercept = 0;
  std::vector<float> values;  // stored values, row by row
};

/// kInvalidArgument with the reason when the slices are fewer than two, differ in size,
/// orientation or pixel spacing, share a position, are not stacked along their normal (gantry
/// tilt), leave a gap (a step over 1.5x the median) or are unevenly spaced (over 10%).
Result<Volume> AssembleVolume(std::vector<Slice> slices);

/// Reads every image of a series from the archive (any stored transfer syntax) and assembles it.
/// kNotFound for an unknown series; kUnsupported for multi-frame or colour images.
Result<Volume> LoadSeriesVolume(store::Archive& archive, const std::string& series_uid);

}  // namespace dxhub::imaging
