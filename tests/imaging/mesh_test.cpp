#include "imaging/mesh.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <numbers>

#include "../test_util.h"

namespace dxhub::imaging {
namespace {

// A ball of radius `r` mm (1000 inside, 0 outside) on an isotropic grid, with partial-volume
// edges: each voxel holds the fraction of it inside the ball (4x4x4 supersampling).
Volume Ball(double r, double voxel, Vec3 centre_offset = {0.3, -0.2, 0.1}) {
  Volume v;
  const int n = static_cast<int>(std::ceil(2 * r / voxel)) + 6;
  v.size = {n, n, n};
  v.spacing = {voxel, voxel, voxel};
  v.origin = {-100, 20, 7};
  v.voxels.assign(v.Count(), 0);
  const double c = (n - 1) * voxel / 2;
  for (int k = 0; k < n; ++k) {
    for (int j = 0; j < n; ++j) {
      for (int i = 0; i < n; ++i) {
        int inside = 0;
        for (int s = 0; s < 64; ++s) {
          const double x = (i + ((s & 3) + 0.5) / 4 - 0.5) * voxel - c - centre_offset[0];
          const double y = (j + (((s >> 2) & 3) + 0.5) / 4 - 0.5) * voxel - c - centre_offset[1];
          const double z = (k + ((s >> 4) + 0.5) / 4 - 0.5) * voxel - c - centre_offset[2];
          inside += x * x + y * y + z * z <= r * r ? 1 : 0;
        }
        v.At(i, j, k) = static_cast<float>(1000.0 * inside / 64);
      }
    }
  }
  return v;
}

TEST(Mesh, SphereVolumeAndAreaWithinHalfAPercentAndWatertight) {
  const double r = 20;
  const Volume ball = Ball(r, 1.0);
  MeshOptions options;
  options.iso = 500;
  auto mesh = IsoSurface(ball, options);
  ASSERT_TRUE(mesh.ok()) << mesh.error().ToString();
  const MeshStats s = Measure(*mesh);
  const double volume = 4.0 / 3.0 * std::numbers::pi * r * r * r;
  const double area = 4 * std::numbers::pi * r * r;
  EXPECT_LT(std::abs(s.volume_mm3 - volume) / volume, 0.005) << s.volume_mm3 << " vs " << volume;
  EXPECT_LT(std::abs(s.area_mm2 - area) / area, 0.005) << s.area_mm2 << " vs " << area;
  EXPECT_EQ(s.boundary_edges, 0);
  EXPECT_EQ(s.non_manifold_edges, 0);
  std::printf("sphere R=20 mm: volume error %.3f%%, area error %.3f%%, %zu triangles\n",
              100 * (s.volume_mm3 - volume) / volume, 100 * (s.area_mm2 - area) / area,
              mesh->TriangleCount());

  // 90% fewer triangles, the volume still within 1.5%.
  options.decimation = 0.9;
  auto coarse = IsoSurface(ball, options);
  ASSERT_TRUE(coarse.ok());
  EXPECT_LT(coarse->TriangleCount(), mesh->TriangleCount() / 9);
  const MeshStats d = Measure(*coarse);
  EXPECT_LT(std::abs(d.volume_mm3 - volume) / volume, 0.015) << d.volume_mm3;
  EXPECT_EQ(d.boundary_edges, 0);
  EXPECT_EQ(d.non_manifold_edges, 0);
  std::printf("after 90%% decimation: volume error %.3f%%, %zu triangles\n",
              100 * (d.volume_mm3 - volume) / volume, coarse->TriangleCount());
}

TEST(Mesh, KeepsTheLargestPieceAndRefusesAnEmptySurface) {
  Volume v = Ball(10, 1.0);
  v.At(1, 1, 1) = 1000;  // a speck far from the ball
  MeshOptions options;
  options.iso = 500;
  options.smoothing_iterations = 0;
  options.largest_component = false;
  const double both = Measure(IsoSurface(v, options).value()).area_mm2;
  options.largest_component = true;
  const double ball = Measure(IsoSurface(v, options).value()).area_mm2;
  EXPECT_LT(ball, both);
  options.iso = 5000;
  EXPECT_EQ(IsoSurface(v, options).error().code, ErrorCode::kInvalidArgument);
  options.iso = 500;
  options.decimation = 1.5;
  EXPECT_FALSE(IsoSurface(v, options).ok());
}

TEST(Mesh, ClosesSurfacesCutByTheVolumeEdge) {
  // A bar of "bone" running through the whole volume along k.
  Volume v;
  v.size = {20, 20, 12};
  v.voxels.assign(v.Count(), -100);
  for (int k = 0; k < 12; ++k) {
    for (int j = 6; j < 14; ++j) {
      for (int i = 6; i < 14; ++i)
        v.At(i, j, k) = 1000;
    }
  }
  MeshOptions options;
  options.iso = 300;
  options.smoothing_iterations = 0;
  const MeshStats closed = Measure(IsoSurface(v, options).value());
  EXPECT_EQ(closed.boundary_edges, 0);
  // The 300 HU crossing lies 0.636 voxel beyond the last bone voxel on each side (linear
  // between 1000 and -100): 7 + 1.27 across, 11 + 1.27 along; marching cubes rounds the edges.
  const double box = 8.27 * 8.27 * 12.27;
  EXPECT_NEAR(closed.volume_mm3, box, 0.05 * box);
  options.close_at_borders = false;
  EXPECT_GT(Measure(IsoSurface(v, options).value()).boundary_edges, 0);
}

TEST(Mesh, StlObjAndGltfRoundTrip) {
  MeshOptions options;
  options.iso = 500;
  auto mesh = IsoSurface(Ball(8, 1.0), options);
  ASSERT_TRUE(mesh.ok());
  const MeshStats original = Measure(*mesh);
  dxhub::testing::ScratchDir dir;
  for (const char* name : {"stl", "obj", "gltf"}) {
    const MeshFormat format = ParseMeshFormat(name).value();
    const std::string path = dir / (std::string("ball.") + name);
    ASSERT_TRUE(WriteMesh(*mesh, format, path).ok()) << name;
    auto back = ReadMesh(format, path);
    ASSERT_TRUE(back.ok()) << name << ": " << back.error().ToString();
    EXPECT_EQ(back->TriangleCount(), mesh->TriangleCount()) << name;
    const MeshStats s = Measure(*back);
    EXPECT_NEAR(s.volume_mm3, original.volume_mm3, 1e-3 * original.volume_mm3) << name;
    EXPECT_EQ(s.boundary_edges, 0) << name;
  }
  EXPECT_FALSE(ParseMeshFormat("ply").ok());
  EXPECT_EQ(ReadMesh(MeshFormat::kStl, dir / "missing.stl").error().code, ErrorCode::kNotFound);
}

}  // namespace
}  // namespace dxhub::imaging
