#include "imaging/filters.h"

#include <algorithm>
#include <cmath>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

namespace dxhub::imaging {

std::vector<float> Smoothed(const Volume& volume, double sigma_mm) {
  std::vector<float> out = volume.voxels;
  if (sigma_mm <= 0)
    return out;
  const int nx = volume.size[0], ny = volume.size[1], nz = volume.size[2];
  const size_t plane = static_cast<size_t>(nx) * static_cast<size_t>(ny);
  const double sx = sigma_mm / volume.spacing[0], sy = sigma_mm / volume.spacing[1];
  cv::parallel_for_(cv::Range(0, nz), [&](const cv::Range& range) {
    for (int k = range.start; k < range.end; ++k) {
      cv::Mat slice(ny, nx, CV_32F, out.data() + static_cast<size_t>(k) * plane);
      cv::GaussianBlur(slice, slice, cv::Size(0, 0), sx, sy, cv::BORDER_REPLICATE);
    }
  });
  const double sz = sigma_mm / volume.spacing[2];
  if (sz < 0.25 || nz < 2)
    return out;
  const int radius = static_cast<int>(std::ceil(3 * sz));
  std::vector<float> weights;
  double sum = 0;
  for (int d = -radius; d <= radius; ++d) {
    weights.push_back(static_cast<float>(std::exp(-d * d / (2 * sz * sz))));
    sum += weights.back();
  }
  for (float& w : weights)
    w = static_cast<float>(w / sum);
  std::vector<float> across(out.size(), 0);
  cv::parallel_for_(cv::Range(0, nz), [&](const cv::Range& range) {
    for (int k = range.start; k < range.end; ++k) {
      float* dst = across.data() + static_cast<size_t>(k) * plane;
      for (size_t t = 0; t < weights.size(); ++t) {
        const int from = std::clamp(k + static_cast<int>(t) - radius, 0, nz - 1);
        const float w = weights[t];
        const float* src = out.data() + static_cast<size_t>(from) * plane;
        for (size_t i = 0; i < plane; ++i)
          dst[i] += w * src[i];
      }
    }
  });
  return across;
}

}  // namespace dxhub::imaging
