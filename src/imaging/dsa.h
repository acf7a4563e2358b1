#pragma once
// Digital subtraction angiography: a mask frame (before the contrast arrives, or an average of
// several) is subtracted from every live frame in the log domain (X-ray attenuation is
// Beer-Lambert: log I = log I0 - sum(mu x), so the difference keeps only the contrast agent),
// after correcting the patient's motion as a sub-pixel translation found by phase correlation.
// OpenCV does the 2-D work (phase correlation, resampling); its types stay in dsa.cpp.

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "store/archive.h"

namespace dxhub::imaging {

/// The frames of a 2-D sequence (e.g. an XA multi-frame image) as stored values.
struct FrameSeries {
  int width = 0;
  int height = 0;
  std::vector<std::vector<float>> frames;  // row by row
};

struct DsaOptions {
  int mask_frame = -1;   // 0-based; -1 picks the brightest of the first quarter (least contrast)
  int mask_average = 1;  // frames averaged from mask_frame on (noise reduction)
  bool motion_correction = true;
  double max_shift_px = 32;  // larger estimates are distrusted and not applied
  /// The radiologist's manual pixel shift (x, y) of the mask for every frame, instead of the
  /// estimate.
  std::optional<std::array<double, 2>> manual_shift;
};

struct DsaResult {
  int mask_frame = 0;
  /// Per frame: log(live) - log(shifted mask). 0 where nothing changed; contrast-filled vessels
  /// (which absorb more, so the live frame is darker) are negative.
  std::vector<std::vector<float>> frames;
  std::vector<std::array<double, 2>> shifts;  // the mask's shift (x, y) in pixels per frame
};

/// kInvalidArgument for fewer than two frames, unequal sizes or a mask out of range.
Result<DsaResult> Subtract(const FrameSeries& series, const DsaOptions& options);

/// The translation (x, y) in pixels that moves `from` onto `to` (phase correlation, sub-pixel).
std::array<double, 2> EstimateShift(const std::vector<float>& from, const std::vector<float>& to,
                                    int width, int height);

/// A subtracted frame as 8-bit grey for display: 0 (no change) is mid-grey `level`, vessels
/// darker; `width` is the log-difference range mapped to the 256 grey levels.
std::vector<unsigned char> WindowSubtracted(const std::vector<float>& frame, double width,
                                            int level = 200);

/// Writes 8-bit grey pixels as a PNG file (for pictures of results).
Status WritePng(const std::string& path, const std::vector<unsigned char>& grey, int width,
                int height);

/// Reads every frame of a multi-frame instance from the archive (any stored syntax).
/// kNotFound for an unknown instance; kUnsupported for colour.
Result<FrameSeries> LoadFrames(store::Archive& archive, const std::string& sop_uid);

}  // namespace dxhub::imaging
