#pragma once
// Lung segmentation of a chest CT: air inside the body, without the trachea and main bronchi,
// split into left and right lung even where they touch, vessels inside the lungs filled in.

#include "core/result.h"
#include "imaging/volume.h"

namespace dxhub::imaging {

struct LungOptions {
  float air_below = -400;     // HU: lung parenchyma and airways
  float airway_below = -950;  // HU: the air in the trachea and bronchi (lung is ~-850)
  /// HU: air outside the patient. Air reaching the image's edge is outside unless most of it is
  /// denser than this: then it is lung cut by a field of view smaller than the chest.
  float outside_air_below = -950;
  double smoothing_mm = 1.0;  // Gaussian sigma applied before thresholding (noise)
};

struct LungResult {
  LabelVolume labels;  // 1 left lung, 2 right lung (the patient's)
  double left_ml = 0;
  double right_ml = 0;
  bool airways_found = false;
  bool split_touching = false;  // the lungs touched and were separated
};

/// kInvalidArgument when no lungs are found (not a chest CT, or no air inside the body).
Result<LungResult> SegmentLungs(const Volume& ct, const LungOptions& options = {});

}  // namespace dxhub::imaging
