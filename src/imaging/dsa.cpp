#include "imaging/dsa.h"

#include <algorithm>
#include <cmath>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "dicom/pixels.h"

namespace dxhub::imaging {
namespace {

// Shifts smaller than this are noise of the estimate: applying them would only blur.
constexpr double kNoShift = 1e-3;

cv::Mat View(const std::vector<float>& pixels, int width, int height) {
  // OpenCV reads through the pointer only (the Mat does not own the data).
  return {height, width, CV_32F, const_cast<float*>(pixels.data())};
}

std::vector<float> LogOf(const std::vector<float>& frame) {
  std::vector<float> out(frame.size());
  std::transform(frame.begin(), frame.end(), out.begin(),
                 [](float v) { return std::log(std::max(v, 0.f) + 1.f); });
  return out;
}

double Mean(const std::vector<float>& v) {
  double sum = 0;
  for (float x : v)
    sum += x;
  return v.empty() ? 0 : sum / static_cast<double>(v.size());
}

}  // namespace

namespace {

// Sharpens a shift estimate to a small fraction of a pixel: Gauss-Newton on the intensity
// difference (Lucas-Kanade for a pure translation), masked to ignore the borders a shift
// uncovers and the pixels that changed for another reason (the contrast agent: the largest 10%
// of differences). Phase correlation alone is biased towards whole pixels.
cv::Point2d Refine(const cv::Mat& whole_from, const cv::Mat& whole_to, cv::Point2d shift) {
  // The central 576 x 576 pixels carry enough structure for a translation and keep each
  // iteration's resampling cheap on 1024^2 frames.
  const int w = std::min(whole_from.cols, 576);
  const int h = std::min(whole_from.rows, 576);
  const cv::Rect centre((whole_from.cols - w) / 2, (whole_from.rows - h) / 2, w, h);
  const cv::Mat from = whole_from(centre);
  const cv::Mat to = whole_to(centre);
  for (int iteration = 0; iteration < 10; ++iteration) {
    cv::Mat moved;
    const cv::Mat m = (cv::Mat_<double>(2, 3) << 1, 0, shift.x, 0, 1, shift.y);
    cv::warpAffine(from, moved, m, from.size(), cv::INTER_CUBIC, cv::BORDER_REPLICATE);
    cv::Mat gx, gy;
    cv::Sobel(moved, gx, CV_32F, 1, 0, 3, 1.0 / 8);
    cv::Sobel(moved, gy, CV_32F, 0, 1, 3, 1.0 / 8);
    const cv::Mat diff = to - moved;
    const int margin =
        static_cast<int>(std::ceil(std::max(std::abs(shift.x), std::abs(shift.y)))) + 4;
    if (2 * margin >= from.cols || 2 * margin >= from.rows)
      break;
    const cv::Rect inner(margin, margin, from.cols - 2 * margin, from.rows - 2 * margin);
    const cv::Mat abs_diff = cv::abs(diff(inner));
    std::vector<float> sorted(abs_diff.begin<float>(), abs_diff.end<float>());
    auto cut = sorted.begin() + static_cast<long>(sorted.size() * 9 / 10);
    std::nth_element(sorted.begin(), cut, sorted.end());
    const float limit = *cut;
    double a = 0, b = 0, c = 0, p = 0, q = 0;
    for (int y = inner.y; y < inner.y + inner.height; ++y) {
      const auto* dx = gx.ptr<float>(y);
      const auto* dy = gy.ptr<float>(y);
      const auto* d = diff.ptr<float>(y);
      for (int x = inner.x; x < inner.x + inner.width; ++x) {
        if (std::abs(d[x]) > limit)
          continue;
        a += dx[x] * dx[x];
        b += dx[x] * dy[x];
        c += dy[x] * dy[x];
        p += dx[x] * d[x];
        q += dy[x] * d[x];
      }
    }
    const double det = a * c - b * b;
    if (!(std::abs(det) > 1e-12))
      break;
    // moved(x) = from(x - s), so to - moved ~ -(ds . grad moved): solve for ds.
    const cv::Point2d step(-(c * p - b * q) / det, -(a * q - b * p) / det);
    shift += step;
    if (std::hypot(step.x, step.y) < 1e-4)
      break;
  }
  return shift;
}

}  // namespace

std::array<double, 2> EstimateShift(const std::vector<float>& from, const std::vector<float>& to,
                                    int width, int height) {
  cv::Mat window;
  cv::createHanningWindow(window, cv::Size(width, height), CV_32F);
  // Copies: OpenCV 4.6's phaseCorrelate works in place on inputs whose size is already
  // DFT-friendly, which would corrupt the caller's frames. The means go first: windowing an
  // image with a large mean leaves a strong window-shaped pattern common to both frames, which
  // pins the correlation peak at zero shift.
  cv::Mat a = View(from, width, height).clone();
  cv::Mat b = View(to, width, height).clone();
  a -= cv::mean(a);
  b -= cv::mean(b);
  const cv::Point2d coarse = cv::phaseCorrelate(a, b, window);
  const cv::Point2d fine = Refine(View(from, width, height), View(to, width, height), coarse);
  return {fine.x, fine.y};
}

Result<DsaResult> Subtract(const FrameSeries& series, const DsaOptions& options) {
  const size_t n = series.frames.size();
  if (n < 2)
    return MakeError(ErrorCode::kInvalidArgument, "DSA needs at least two frames");
  const size_t pixels = static_cast<size_t>(series.width) * static_cast<size_t>(series.height);
  for (const auto& f : series.frames) {
    if (f.size() != pixels)
      return MakeError(ErrorCode::kInvalidArgument, "frames differ in size");
  }
  if (options.mask_average < 1)
    return MakeError(ErrorCode::kInvalidArgument, "mask_average must be at least 1");
  std::vector<std::vector<float>> logs;
  logs.reserve(n);
  for (const auto& f : series.frames)
    logs.push_back(LogOf(f));

  DsaResult result;
  if (options.mask_frame >= 0) {
    if (static_cast<size_t>(options.mask_frame) >= n)
      return MakeError(ErrorCode::kInvalidArgument, "mask frame " +
                                                        std::to_string(options.mask_frame) +
                                                        " of " + std::to_string(n) + " frames");
    result.mask_frame = options.mask_frame;
  } else {
    // Contrast darkens the image: the brightest early frame has the least of it.
    const size_t candidates = std::max<size_t>(1, n / 4);
    double best = -1;
    for (size_t f = 0; f < candidates; ++f) {
      const double m = Mean(logs[f]);
      if (m > best) {
        best = m;
        result.mask_frame = static_cast<int>(f);
      }
    }
  }
  const size_t first = static_cast<size_t>(result.mask_frame);
  const size_t last = std::min(n, first + static_cast<size_t>(options.mask_average));
  std::vector<float> mask(pixels, 0.f);
  for (size_t f = first; f < last; ++f) {
    for (size_t i = 0; i < pixels; ++i)
      mask[i] += logs[f][i];
  }
  for (float& v : mask)
    v /= static_cast<float>(last - first);

  const cv::Mat mask_view = View(mask, series.width, series.height);
  for (size_t f = 0; f < n; ++f) {
    std::array<double, 2> shift{0, 0};
    if (options.manual_shift) {
      shift = *options.manual_shift;
    } else if (options.motion_correction) {
      shift = EstimateShift(mask, logs[f], series.width, series.height);
      const double length = std::hypot(shift[0], shift[1]);
      if (length < kNoShift || length > options.max_shift_px)
        shift = {0, 0};
    }
    std::vector<float> out(pixels);
    if (shift[0] == 0 && shift[1] == 0) {
      for (size_t i = 0; i < pixels; ++i)
        out[i] = logs[f][i] - mask[i];
    } else {
      cv::Mat moved;
      const cv::Mat m = (cv::Mat_<double>(2, 3) << 1, 0, shift[0], 0, 1, shift[1]);
      cv::warpAffine(mask_view, moved, m, mask_view.size(), cv::INTER_CUBIC, cv::BORDER_REPLICATE);
      const auto* moved_px = moved.ptr<float>();
      for (size_t i = 0; i < pixels; ++i)
        out[i] = logs[f][i] - moved_px[i];
    }
    result.frames.push_back(std::move(out));
    result.shifts.push_back(shift);
  }
  return result;
}

std::vector<unsigned char> WindowSubtracted(const std::vector<float>& frame, double width,
                                            int level) {
  std::vector<unsigned char> out(frame.size());
  const double scale = width > 0 ? 255.0 / width : 0;
  std::transform(frame.begin(), frame.end(), out.begin(), [&](float v) {
    return static_cast<unsigned char>(std::clamp(level + v * scale, 0.0, 255.0));
  });
  return out;
}

Status WritePng(const std::string& path, const std::vector<unsigned char>& grey, int width,
                int height) {
  if (grey.size() != static_cast<size_t>(width) * static_cast<size_t>(height))
    return MakeError(ErrorCode::kInvalidArgument, "pixel count does not match the size");
  const cv::Mat image(height, width, CV_8U, const_cast<unsigned char*>(grey.data()));
  try {
    if (!cv::imwrite(path, image))
      return MakeError(ErrorCode::kIo, "cannot write " + path);
  } catch (const cv::Exception& e) {
    return MakeError(ErrorCode::kIo, "cannot write " + path + ": " + e.what());
  }
  return Ok();
}

Result<FrameSeries> LoadFrames(store::Archive& archive, const std::string& sop_uid) {
  store::IndexQuery query;
  query.level = store::Level::kInstance;
  query.filters.push_back({store::Field::kSopUid, store::Filter::Kind::kExact, {sop_uid}});
  auto rows = archive.index().Query(store::Scope::Everything(), query);  // see assembly.cpp
  if (!rows.ok())
    return rows.error();
  if (rows->empty())
    return MakeError(ErrorCode::kNotFound, "no such instance: " + sop_uid);
  const std::string path = archive.blobs().PathOf(rows->front().blob_key);
  FrameSeries series;
  const int frames = std::max(1, rows->front().instance.frames);
  for (int f = 1; f <= frames; ++f) {
    auto plane = dicom::ReadImagePlane(path, f);
    if (!plane.ok())
      return plane.error();
    series.width = plane->columns;
    series.height = plane->rows;
    series.frames.push_back(std::move(plane->values));
  }
  return series;
}

}  // namespace dxhub::imaging
