#pragma once
// Surface meshes for surgical planning and VR/AR viewers: an iso-surface of a volume (VTK's
// Flying Edges), reduced to its largest connected piece, smoothed (windowed sinc, which barely
// shrinks), optionally decimated (quadric, volume preserving), and written as STL, OBJ or glTF.
// VTK types stay in itk_/vtk_ files; callers see plain arrays.

#include <cstdint>
#include <string>
#include <vector>

#include "core/result.h"
#include "imaging/volume.h"

namespace dxhub::imaging {

/// A triangle mesh in patient space (mm, LPS).
struct Mesh {
  std::vector<float> points;       // x, y, z per vertex
  std::vector<int32_t> triangles;  // three vertex indices per triangle
  size_t TriangleCount() const { return triangles.size() / 3; }
};

struct MeshOptions {
  float iso = 300;  // e.g. bone at 300 HU
  bool largest_component = true;
  /// Closes surfaces cut by the volume's edges (a bone running out of a slab), as 3-D printing
  /// and VR need; off leaves them open there.
  bool close_at_borders = true;
  int smoothing_iterations = 15;  // 0: none
  double smoothing_passband = 0.1;
  double decimation = 0;  // fraction of triangles to remove, 0 .. 0.99
};

/// kInvalidArgument when nothing in the volume reaches `iso` or an option is out of range.
Result<Mesh> IsoSurface(const Volume& volume, const MeshOptions& options);

/// Enclosed volume, surface area and the edges that make a mesh not watertight.
struct MeshStats {
  double volume_mm3 = 0;
  double area_mm2 = 0;
  int64_t boundary_edges = 0;      // used by one triangle only: a hole
  int64_t non_manifold_edges = 0;  // used by three or more
};
MeshStats Measure(const Mesh& mesh);

enum class MeshFormat { kStl, kObj, kGltf };
/// "stl", "obj", "gltf" (case-insensitive); kInvalidArgument otherwise.
Result<MeshFormat> ParseMeshFormat(const std::string& name);
/// Binary STL, Wavefront OBJ, or glTF 2.0 with its buffer embedded (one self-contained file).
Status WriteMesh(const Mesh& mesh, MeshFormat format, const std::string& path);
/// Reads a file WriteMesh wrote (round-trip checks; STL vertices are merged back).
Result<Mesh> ReadMesh(MeshFormat format, const std::string& path);

}  // namespace dxhub::imaging
