#include "imaging/lung.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <numbers>
#include <random>

namespace dxhub::imaging {
namespace {

// Distance from p to the segment a-b.
double SegmentDistance(const Vec3& p, const Vec3& a, const Vec3& b) {
  Vec3 ab{b[0] - a[0], b[1] - a[1], b[2] - a[2]};
  Vec3 ap{p[0] - a[0], p[1] - a[1], p[2] - a[2]};
  const double len2 = ab[0] * ab[0] + ab[1] * ab[1] + ab[2] * ab[2];
  const double t = std::clamp((ap[0] * ab[0] + ap[1] * ab[1] + ap[2] * ab[2]) / len2, 0.0, 1.0);
  const Vec3 q{a[0] + t * ab[0] - p[0], a[1] + t * ab[1] - p[1], a[2] + t * ab[2] - p[2]};
  return std::sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2]);
}

struct Tube {
  Vec3 a, b;
  double radius;
  // Cheap rejection: a point farther than this from the midpoint cannot be inside.
  bool Near(const Vec3& p) const {
    const double mx = (a[0] + b[0]) / 2 - p[0], my = (a[1] + b[1]) / 2 - p[1],
                 mz = (a[2] + b[2]) / 2 - p[2];
    const double half = std::sqrt((b[0] - a[0]) * (b[0] - a[0]) + (b[1] - a[1]) * (b[1] - a[1]) +
                                  (b[2] - a[2]) * (b[2] - a[2])) /
                            2 +
                        radius;
    return mx * mx + my * my + mz * mz <= half * half;
  }
};

// An analytic chest (LPS mm, head at +z): body 40 HU, lungs -850, trachea and main bronchi
// -1000, 2-3 mm vessels in the lungs 40 HU, spine 700, aorta 300; truth: 1 left lung, 2 right
// (vessels inside count as lung, airways do not), 3 airway.
struct Chest {
  Volume ct;
  std::vector<uint8_t> truth;
};

Chest MakeChest(int nx, int ny, int nz, double noise, bool touching, uint32_t seed = 7) {
  Chest c;
  Volume& v = c.ct;
  v.size = {nx, ny, nz};
  v.spacing = {320.0 / nx, 240.0 / ny, 300.0 / nz};
  v.origin = {-160, -120, -150};
  v.voxels.resize(v.Count());
  c.truth.assign(v.Count(), 0);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(-1, 1), r(1.0, 1.5);
  std::vector<Tube> vessels;
  while (vessels.size() < 40) {
    const double side = vessels.size() % 2 == 0 ? 1 : -1;
    const Vec3 a{side * (75 + 35 * u(rng)), 50 * u(rng), 90 * u(rng)};
    const Vec3 b{a[0] + 25 * u(rng), a[1] + 25 * u(rng), a[2] + 30 * u(rng)};
    vessels.push_back({a, b, r(rng)});
  }
  const std::vector<Tube> airways = {{{0, -20, 160}, {0, -20, 60}, 9},
                                     {{0, -20, 60}, {50, -10, 20}, 6},
                                     {{0, -20, 60}, {-50, -10, 20}, 6}};
  std::normal_distribution<double> n(0, noise);
  for (int k = 0; k < nz; ++k) {
    for (int j = 0; j < ny; ++j) {
      for (int i = 0; i < nx; ++i) {
        const Vec3 p = v.PointAt(i, j, k);
        double hu = -1000;
        uint8_t label = 0;
        const double body = (p[0] / 150) * (p[0] / 150) + (p[1] / 110) * (p[1] / 110);
        if (body <= 1) {
          hu = 40;
          for (int side : {1, -1}) {
            const double e = std::pow((p[0] - side * 75) / 55, 2) + std::pow(p[1] / 75, 2) +
                             std::pow(p[2] / 120, 2);
            if (e <= 1) {
              hu = -850;
              label = side > 0 ? 1 : 2;
            }
          }
          // Lungs touching in front of the heart: a thin bridge of lung tissue.
          if (touching && std::abs(p[0]) <= 55 && p[1] >= -72 && p[1] <= -60 &&
              std::abs(p[2]) <= 30) {
            hu = -850;
            label = p[0] > 0 ? 1 : 2;
          }
          if (label != 0) {
            for (const auto& t : vessels) {
              if (t.Near(p) && SegmentDistance(p, t.a, t.b) <= t.radius)
                hu = 40;
            }
          }
          for (const auto& t : airways) {
            if (t.Near(p) && SegmentDistance(p, t.a, t.b) <= t.radius) {
              hu = -1000;
              label = 3;
            }
          }
          if (std::hypot(p[0], p[1] - 80) <= 20)
            hu = 700;
          if (std::hypot(p[0] - 25, p[1] - 40) <= 12)
            hu = 300;
        }
        v.At(i, j, k) = static_cast<float>(hu + (noise > 0 ? n(rng) : 0));
        c.truth[v.Index(i, j, k)] = label;
      }
    }
  }
  return c;
}

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

TEST(Lungs, RefusesAVolumeWithoutLungs) {
  Volume v;
  v.size = {40, 40, 10};
  v.voxels.assign(v.Count(), 40);
  EXPECT_EQ(SegmentLungs(v).error().code, ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace dxhub::imaging
