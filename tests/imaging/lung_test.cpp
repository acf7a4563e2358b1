#include "imaging/lung.h"

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <numbers>
#include <random>

#include "phantoms.h"

namespace dxhub::imaging {
namespace {

using phantoms::Chest;
using phantoms::MakeChest;

struct Scores {
  double dice_left, dice_right, airway_as_lung;
};

Scores Score(const Chest& c, const LungResult& r) {
  int64_t inter[3] = {0, 0, 0}, a[3] = {0, 0, 0}, b[3] = {0, 0, 0}, airway = 0, airway_lung = 0;
  for (size_t i = 0; i < c.truth.size(); ++i) {
    const uint8_t t = c.truth[i];
    const uint8_t s = r.labels.labels[i];
    for (uint8_t l : {1, 2}) {
      a[l] += t == l;
      b[l] += s == l;
      inter[l] += t == l && s == l;
    }
    airway += t == 3;
    airway_lung += t == 3 && s != 0;
  }
  auto dice = [&](int l) { return 2.0 * inter[l] / static_cast<double>(a[l] + b[l]); };
  return {dice(1), dice(2), static_cast<double>(airway_lung) / static_cast<double>(airway)};
}

TEST(Lungs, PhantomDiceAirwaysAndVolumes) {
  const Chest c = MakeChest(200, 150, 120, 15, false);
  auto r = SegmentLungs(c.ct);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  const Scores s = Score(c, *r);
  std::printf(
      "lungs, noise 15: Dice left %.4f right %.4f, airway voxels as lung %.3f%%, "
      "%.0f / %.0f mL\n",
      s.dice_left, s.dice_right, 100 * s.airway_as_lung, r->left_ml, r->right_ml);
  EXPECT_TRUE(r->airways_found);
  EXPECT_FALSE(r->split_touching);
  EXPECT_GE(s.dice_left, 0.99);
  EXPECT_GE(s.dice_right, 0.99);
  EXPECT_LT(s.airway_as_lung, 0.005);
  // Each lung is an ellipsoid of 55 x 75 x 120 mm semi-axes, less the bronchus inside it.
  const double ellipsoid = 4.0 / 3.0 * std::numbers::pi * 55 * 75 * 120 / 1000;
  EXPECT_NEAR(r->left_ml, ellipsoid, 0.03 * ellipsoid);
  EXPECT_NEAR(r->right_ml, ellipsoid, 0.03 * ellipsoid);
}

TEST(Lungs, NoisierPhantom) {
  const Chest c = MakeChest(200, 150, 120, 40, false);
  auto r = SegmentLungs(c.ct);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  const Scores s = Score(c, *r);
  std::printf("lungs, noise 40: Dice left %.4f right %.4f, airway voxels as lung %.3f%%\n",
              s.dice_left, s.dice_right, 100 * s.airway_as_lung);
  EXPECT_GE(s.dice_left, 0.98);
  EXPECT_GE(s.dice_right, 0.98);
}

TEST(Lungs, TouchingLungsAreSplit) {
  const Chest c = MakeChest(200, 150, 120, 15, true);
  auto r = SegmentLungs(c.ct);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  const Scores s = Score(c, *r);
  std::printf("touching lungs: Dice left %.4f right %.4f\n", s.dice_left, s.dice_right);
  EXPECT_TRUE(r->split_touching);
  EXPECT_GE(s.dice_left, 0.98);
  EXPECT_GE(s.dice_right, 0.98);
}

// A field of view narrower than the chest (a cardiac CT's, or a crop) cuts both lungs at the
// image's edge: that air reaches the edge but is lung, not the air around the patient.
TEST(Lungs, FieldOfViewCuttingTheLungs) {
  const Chest full = MakeChest(200, 150, 120, 15, false);
  // x from -108.8 to 108.8 mm; the lungs reach +-130 mm.
  const std::array<int, 3> lo = {32, 0, 0}, hi = {168, 150, 120};
  auto ct = Crop(full.ct, lo, hi);
  ASSERT_TRUE(ct.ok()) << ct.error().ToString();
  Chest cut{*ct, {}};
  for (int k = lo[2]; k < hi[2]; ++k) {
    for (int j = lo[1]; j < hi[1]; ++j) {
      for (int i = lo[0]; i < hi[0]; ++i)
        cut.truth.push_back(full.truth[full.ct.Index(i, j, k)]);
    }
  }
  auto r = SegmentLungs(cut.ct);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  const Scores s = Score(cut, *r);
  std::printf("lungs cut by the field of view: Dice left %.4f right %.4f, airway as lung %.3f%%\n",
              s.dice_left, s.dice_right, 100 * s.airway_as_lung);
  EXPECT_GE(s.dice_left, 0.99);
  EXPECT_GE(s.dice_right, 0.99);
  EXPECT_LT(s.airway_as_lung, 0.005);
}

TEST(Lungs, RefusesAVolumeWithoutLungs) {
  Volume v;
  v.size = {40, 40, 10};
  v.voxels.assign(v.Count(), 40);
  EXPECT_EQ(SegmentLungs(v).error().code, ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace dxhub::imaging
