#pragma once
// The Frangi filter on its own (ITK inside), for vessels.cpp and the benchmark.

#include <vector>

#include "imaging/volume.h"

namespace dxhub::imaging {

struct VesselnessParams {
  double sigma_min_mm, sigma_max_mm;
  int scales;
  double alpha, beta, gamma;
  bool bright;
};

/// Frangi's measure per voxel (maximum over the scales; unscaled, so up to 1 on an ideal tube).
std::vector<float> Vesselness(const Volume& volume, const VesselnessParams& params);

}  // namespace dxhub::imaging
