#include "imaging/mesh.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <numbers>

#include "../test_util.h"
#include "imaging/mesh_preview.h"
#include "phantoms.h"

namespace dxhub::imaging {
namespace {

using phantoms::Ball;

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

TEST(Mesh, FrontPictureShowsTheSphereShaded) {
  const Volume ball = phantoms::Ball(20, 1.0);
  MeshOptions o;
  o.iso = 500;
  auto mesh = IsoSurface(ball, o);
  ASSERT_TRUE(mesh.ok());
  int height = 0;
  const auto grey = RenderFront(*mesh, 200, height);
  ASSERT_EQ(grey.size(), 200U * static_cast<size_t>(height));
  EXPECT_NEAR(height, 200, 3);  // a sphere is as tall as it is wide
  const auto at = [&](int x, int y) {
    return grey[static_cast<size_t>(y) * 200 + static_cast<size_t>(x)];
  };
  EXPECT_GT(at(100, height / 2), 230);                // the centre faces the viewer
  EXPECT_EQ(at(2, 2), 0);                             // the corners are background
  EXPECT_LT(at(8, height / 2), at(100, height / 2));  // the rim turns away: darker
}

}  // namespace
}  // namespace dxhub::imaging
