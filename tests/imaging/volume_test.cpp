#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "../test_util.h"
#include "core/clock.h"
#include "core/config.h"
#include "imaging/assembly.h"
#include "imaging/reslice.h"

namespace dxhub::imaging {
namespace {

// Slices of an analytic field f(position) on a tilted, shuffled stack.
std::vector<Slice> Stack(int n, double spacing, const std::function<float(const Vec3&)>& f,
                         const std::array<double, 6>& iop = {1, 0, 0, 0, 1, 0},
                         std::array<double, 2> pixel_spacing = {0.5, 0.75}) {
  const Vec3 r{iop[0], iop[1], iop[2]};
  const Vec3 c{iop[3], iop[4], iop[5]};
  const Vec3 nrm{r[1] * c[2] - r[2] * c[1], r[2] * c[0] - r[0] * c[2], r[0] * c[1] - r[1] * c[0]};
  std::vector<Slice> out;
  for (int k = 0; k < n; ++k) {
    Slice s;
    s.sop_uid = "1.2." + std::to_string(k);
    s.rows = 12;
    s.columns = 16;
    s.pixel_spacing = pixel_spacing;  // between rows, between columns
    s.orientation = iop;
    for (int a = 0; a < 3; ++a)
      s.position[a] = 10 * a + k * spacing * nrm[a];
    s.slope = 2;
    s.intercept = -1024;
    for (int j = 0; j < s.rows; ++j) {
      for (int i = 0; i < s.columns; ++i) {
        Vec3 p;
        for (int a = 0; a < 3; ++a)
          p[a] = s.position[a] + i * pixel_spacing[1] * r[a] + j * pixel_spacing[0] * c[a];
        s.values.push_back((f(p) + 1024) / 2);  // stored value; HU = 2 * v - 1024
      }
    }
    out.push_back(std::move(s));
  }
  std::swap(out[0], out[n - 1]);  // arrival order is not slice order
  std::swap(out[1], out[n / 2]);
  return out;
}

float Ramp(const Vec3& p) {
  return static_cast<float>(0.5 * p[0] - 0.25 * p[1] + 0.75 * p[2] + 3);
}

TEST(VolumeAssembly, SortsAlongTheNormalTakesSpacingFromPositionsAndRescales) {
  auto v = AssembleVolume(Stack(9, 1.25, Ramp));
  ASSERT_TRUE(v.ok()) << v.error().ToString();
  EXPECT_EQ(v->size, (std::array<int, 3>{16, 12, 9}));
  EXPECT_DOUBLE_EQ(v->spacing[0], 0.75);
  EXPECT_DOUBLE_EQ(v->spacing[1], 0.5);
  EXPECT_NEAR(v->spacing[2], 1.25, 1e-9);
  for (int k : {0, 4, 8}) {
    for (int j : {0, 11}) {
      for (int i : {0, 15})
        EXPECT_NEAR(v->At(i, j, k), Ramp(v->PointAt(i, j, k)), 1e-3) << i << j << k;
    }
  }
}

TEST(VolumeAssembly, RefusesWhatIsNotOneRegularVolume) {
  auto gap = Stack(8, 1.0, Ramp);
  gap.erase(gap.begin() + 3);
  auto refused = AssembleVolume(gap);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("gap"), std::string::npos) << refused.error().message;

  auto duplicate = Stack(5, 1.0, Ramp);
  duplicate.push_back(duplicate.front());
  EXPECT_NE(AssembleVolume(duplicate).error().message.find("share the position"),
            std::string::npos);

  auto mixed = Stack(5, 1.0, Ramp);
  mixed[2].orientation = {0, 1, 0, 0, 0, -1};
  EXPECT_NE(AssembleVolume(mixed).error().message.find("orientation"), std::string::npos);

  auto sizes = Stack(5, 1.0, Ramp);
  sizes[1].rows = 10;
  EXPECT_FALSE(AssembleVolume(sizes).ok());

  auto tilted = Stack(5, 1.0, Ramp);
  for (size_t k = 0; k < tilted.size(); ++k)
    tilted[k].position[1] += 0.3 * (tilted[k].position[2] - tilted[0].position[2]);
  EXPECT_NE(AssembleVolume(tilted).error().message.find("gantry tilt"), std::string::npos);

  std::vector<Slice> one = {Stack(2, 1.0, Ramp)[0]};
  EXPECT_FALSE(AssembleVolume(one).ok());
}

TEST(Reslice, ObliquePlaneOfALinearRampMatchesTheAnalyticValue) {
  // An oblique acquisition (rotated about z) so the volume's axes are not the patient's.
  const double a = 0.4;
  auto v = AssembleVolume(
      Stack(20, 0.8, Ramp, {std::cos(a), std::sin(a), 0, -std::sin(a), std::cos(a), 0}));
  ASSERT_TRUE(v.ok()) << v.error().ToString();
  PlaneSpec p;
  p.center = v->PointAt(7.3, 5.1, 9.6);
  const double s = 1 / std::sqrt(3.0);
  p.u = {s, s, s};
  const double t = 1 / std::sqrt(2.0);
  p.v = {t, -t, 0};
  p.width = 9;
  p.height = 7;
  p.spacing = 0.3;
  auto image = Reslice(*v, p, -5000);
  ASSERT_TRUE(image.ok()) << image.error().ToString();
  int inside = 0;
  double worst = 0;
  for (int y = 0; y < p.height; ++y) {
    for (int x = 0; x < p.width; ++x) {
      Vec3 q;
      for (int c = 0; c < 3; ++c)
        q[c] = p.center[c] + (x - 4) * 0.3 * p.u[c] + (y - 3) * 0.3 * p.v[c];
      if (image->At(x, y) == -5000)
        continue;
      ++inside;
      worst = std::max(worst, static_cast<double>(std::abs(image->At(x, y) - Ramp(q))));
    }
  }
  EXPECT_EQ(inside, p.width * p.height);
  EXPECT_LT(worst, 1e-4);

  PlaneSpec bad = p;
  bad.v = {1, 0, 0};
  EXPECT_FALSE(Reslice(*v, bad).ok());
}

TEST(Reslice, MipAndMinipFindASingleVoxel) {
  // Isotropic voxels, as MIPs are made after isotropic resampling: every voxel centre is on the
  // sampling grid of the standard planes.
  auto v = AssembleVolume(
      Stack(11, 1.0, [](const Vec3&) { return 0.f; }, {1, 0, 0, 0, 1, 0}, {1.0, 1.0}));
  ASSERT_TRUE(v.ok());
  v->At(5, 7, 3) = 1000;
  v->At(12, 2, 8) = -900;
  for (Axis axis : {Axis::kAxial, Axis::kCoronal, Axis::kSagittal}) {
    const PlaneSpec plane = StandardPlane(*v, axis);
    for (auto [kind, expected] :
         {std::pair{Projection::kMax, 1000.f}, std::pair{Projection::kMin, -900.f}}) {
      auto image = Project(*v, plane, kind);
      ASSERT_TRUE(image.ok()) << image.error().ToString();
      float extreme = 0;
      for (float p : image->pixels)
        extreme = kind == Projection::kMax ? std::max(extreme, p) : std::min(extreme, p);
      EXPECT_NEAR(extreme, expected, 1e-3) << static_cast<int>(axis);
    }
  }
  // A slab that misses the bright voxel does not see it.
  PlaneSpec axial = StandardPlane(*v, Axis::kAxial);
  const Vec3 far = v->PointAt(0, 0, 9);
  axial.center[2] = far[2];
  auto slab = Project(*v, axial, Projection::kMax, 2.0);
  ASSERT_TRUE(slab.ok());
  EXPECT_EQ(*std::max_element(slab->pixels.begin(), slab->pixels.end()), 0.f);
}

TEST(Reslice, StandardPlanesCoverTheVolume) {
  auto v = AssembleVolume(Stack(10, 2.0, Ramp));
  ASSERT_TRUE(v.ok());
  const PlaneSpec axial = StandardPlane(*v, Axis::kAxial);
  EXPECT_EQ(axial.width, 23);   // 15 columns x 0.75 mm at 0.5 mm pixels
  EXPECT_EQ(axial.height, 12);  // 11 rows x 0.5 mm
  const PlaneSpec sagittal = StandardPlane(*v, Axis::kSagittal);
  EXPECT_EQ(sagittal.height, 37);  // 9 x 2 mm at 0.5 mm
  auto image = Reslice(*v, StandardPlane(*v, Axis::kCoronal, 1.0));
  ASSERT_TRUE(image.ok());
}

TEST(VolumeAssembly, LoadsTheRealCtSeriesFromTheArchive) {
  dxhub::testing::ScratchDir dir;
  Config config;
  config.data_dir = dir.path();
  SystemClock clock;
  auto archive = store::Archive::Open(config, clock);
  ASSERT_TRUE(archive.ok()) << archive.error().ToString();
  std::string series;
  for (const auto& entry : std::filesystem::directory_iterator(std::string(DXHUB_SAMPLE_DATA) +
                                                               "/ct-abdomen-20slices")) {
    auto outcome = (*archive)->ImportFile(entry.path().string());
    ASSERT_TRUE(outcome.ok()) << outcome.error().ToString();
  }
  store::IndexQuery q;
  q.level = store::Level::kSeries;
  auto rows = (*archive)->index().Query(dxhub::store::Scope::Everything(), q);
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 1u);
  auto v = LoadSeriesVolume(**archive, rows->front().series.series_uid);
  ASSERT_TRUE(v.ok()) << v.error().ToString();
  EXPECT_EQ(v->size[2], 20);
  EXPECT_EQ(v->size[0], 512);
  // Air outside the body is about -1000 HU, the vertebra well above 150 HU.
  EXPECT_LT(v->At(5, 5, 10), -900);
  EXPECT_GT(*std::max_element(v->voxels.begin(), v->voxels.end()), 700);
  EXPECT_EQ(LoadSeriesVolume(**archive, "1.2.3.4").error().code, ErrorCode::kNotFound);
}

}  // namespace
}  // namespace dxhub::imaging
