#include "imaging/vessels.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "imaging/skeleton.h"
#include "phantoms.h"

namespace dxhub::imaging {
namespace {

using phantoms::MakeTubes;
using phantoms::Tubes;

double Distance(const Vec3& a, const Vec3& b) {
  return std::hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]);
}

struct VesselScores {
  double overlap = 0;            // matched reference + matched found points over all of them
  double mean_distance_vox = 0;  // found points to the true centre line
  double radius_error_vox = 0;   // mean absolute
  int on_distractors = 0;        // found points on the plate or the ball
  int64_t mask_on_distractors = 0;
};

VesselScores Score(const Tubes& t, const VesselResult& r) {
  VesselScores s;
  const double voxel = t.ct.spacing[0];
  std::vector<CenterlinePoint> found;
  for (const auto& b : r.branches)
    found.insert(found.end(), b.points.begin(), b.points.end());
  // Reference points every 0.25 mm, less a radius plus a voxel at each end (where a skeleton
  // ends is a matter of definition).
  int64_t ref = 0, ref_matched = 0;
  for (const auto& tube : t.tubes) {
    const size_t skip = static_cast<size_t>((tube.radius + voxel) / 0.05);
    for (size_t p = skip; p + skip < tube.centre_line.size(); p += 5) {
      ++ref;
      for (const auto& f : found) {
        if (Distance(f.position, tube.centre_line[p]) <= tube.radius) {
          ++ref_matched;
          break;
        }
      }
    }
  }
  int64_t found_matched = 0;
  double distance_sum = 0, radius_sum = 0;
  for (const auto& f : found) {
    double best = 1e9, radius = 0;
    for (const auto& tube : t.tubes) {
      for (const Vec3& c : tube.centre_line) {
        const double d = Distance(f.position, c);
        if (d < best) {
          best = d;
          radius = tube.radius;
        }
      }
    }
    if (best <= radius) {
      ++found_matched;
      distance_sum += best;
      radius_sum += std::abs(f.radius_mm - radius);
    }
    const Vec3& p = f.position;
    if (std::hypot(p[0], p[1], p[2] - 15) < 5 ||
        (std::abs(p[0]) < 7 && std::abs(p[1]) < 7 && std::abs(p[2] + 15) < 2.5))
      ++s.on_distractors;
  }
  s.overlap = static_cast<double>(ref_matched + found_matched) /
              static_cast<double>(ref + static_cast<int64_t>(found.size()));
  s.mean_distance_vox =
      distance_sum / static_cast<double>(std::max<int64_t>(1, found_matched)) / voxel;
  s.radius_error_vox =
      radius_sum / static_cast<double>(std::max<int64_t>(1, found_matched)) / voxel;
  for (size_t i = 0; i < t.truth.size(); ++i)
    s.mask_on_distractors += t.truth[i] == 2 && r.mask.labels[i] != 0 ? 1 : 0;
  return s;
}

TEST(Vessels, HelicesAndCurvedTubes) {
  const Tubes t = MakeTubes(128, 0.5, 20);
  auto r = ExtractVessels(t.ct);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  const VesselScores s = Score(t, *r);
  std::printf(
      "vessels: overlap %.3f, mean centre-line distance %.2f voxel, radius error %.2f voxel, "
      "%d trees, %zu branches, %d points / %lld mask voxels on plate or ball\n",
      s.overlap, s.mean_distance_vox, s.radius_error_vox, r->trees, r->branches.size(),
      s.on_distractors, static_cast<long long>(s.mask_on_distractors));
  EXPECT_GE(s.overlap, 0.95);
  EXPECT_LE(s.mean_distance_vox, 0.5);
  EXPECT_LE(s.radius_error_vox, 0.5);
  EXPECT_EQ(s.on_distractors, 0);
  EXPECT_EQ(s.mask_on_distractors, 0);
  EXPECT_EQ(r->trees, 4);
  // The branching tube is one tree of three branches: a root, and two children of it.
  EXPECT_EQ(r->branches.size(), 6u);
  int roots = 0, children = 0;
  for (const auto& b : r->branches) {
    roots += b.parent == -1 ? 1 : 0;
    children += b.parent >= 0 ? 1 : 0;
  }
  EXPECT_EQ(roots, 4);
  EXPECT_EQ(children, 2);
  // Per tube: the radius found near its middle.
  for (const auto& tube : t.tubes) {
    const Vec3& mid = tube.centre_line[tube.centre_line.size() / 2];
    double best = 1e9, radius = 0;
    for (const auto& b : r->branches) {
      for (const auto& p : b.points) {
        if (Distance(p.position, mid) < best) {
          best = Distance(p.position, mid);
          radius = p.radius_mm;
        }
      }
    }
    std::printf("  tube of radius %.2f mm: %.2f mm found, %.2f mm off its centre line\n",
                tube.radius, radius, best);
  }
  // The JSON tree: branches with parents that exist, points as [x, y, z, r].
  const auto json = nlohmann::json::parse(VesselTreeJson(*r));
  EXPECT_EQ(json["trees"], 4);
  for (const auto& b : json["branches"]) {
    EXPECT_LT(b["parent"].get<int>(), static_cast<int>(json["branches"].size()));
    EXPECT_EQ(b["points"][0].size(), 4u);
  }
}

TEST(Vessels, SeedKeepsOnlyItsTree) {
  const Tubes t = MakeTubes(96, 0.5, 20);
  VesselOptions o;
  o.seeds = {t.tubes[2].centre_line[t.tubes[2].centre_line.size() / 2]};
  auto r = ExtractVessels(t.ct, o);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(r->trees, 1);
  ASSERT_FALSE(r->branches.empty());
  EXPECT_EQ(r->branches[0].parent, -1);
}

TEST(Vessels, NothingOnPlatesAndBallsAlone) {
  Tubes t = MakeTubes(64, 0.5, 20);
  // Remove the tubes: only the plate, the ball and noise are left.
  for (size_t i = 0; i < t.truth.size(); ++i) {
    if (t.truth[i] == 1)
      t.ct.voxels[i] = 50;
  }
  auto r = ExtractVessels(t.ct);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->trees, 0);
}

TEST(Skeleton, SimplePointsAndThinning) {
  uint8_t n[27] = {};
  n[12] = 1;  // one neighbour: removing the centre keeps one piece
  n[13] = 1;
  EXPECT_TRUE(IsSimplePoint(n));
  n[14] = 1;  // a line through the centre: removing it splits the line
  EXPECT_FALSE(IsSimplePoint(n));
  // A solid bar thins to a single line of voxels along it, ends kept.
  Geometry g;
  g.size = {30, 9, 9};
  std::vector<uint8_t> mask(g.Count(), 0);
  for (int k = 2; k < 7; ++k)
    for (int j = 2; j < 7; ++j)
      for (int i = 3; i < 27; ++i)
        mask[g.Index(i, j, k)] = 1;
  Thin(g, mask);
  int left = 0;
  for (uint8_t m : mask)
    left += m;
  EXPECT_GE(left, 18);
  EXPECT_LE(left, 26);
  const SkeletonGraph graph = TraceSkeleton(g, mask);
  EXPECT_EQ(graph.nodes.size(), 2u);
  EXPECT_EQ(graph.edges.size(), 1u);
}

}  // namespace
}  // namespace dxhub::imaging
