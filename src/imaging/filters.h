#pragma once
// Fast separable filters on whole volumes (OpenCV's vectorised row and column passes per slice,
// then one pass across slices).

#include <vector>

#include "imaging/volume.h"

namespace dxhub::imaging {

/// The volume smoothed by a Gaussian of `sigma_mm` (truncated at 3 sigma, edges replicated);
/// across slices only when sigma is a useful fraction of the slice spacing. A copy when sigma is
/// 0. About 10x faster than ITK's recursive Gaussian here, which matters at 78 Mvox.
std::vector<float> Smoothed(const Volume& volume, double sigma_mm);

}  // namespace dxhub::imaging
