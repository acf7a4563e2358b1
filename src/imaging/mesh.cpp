#include "imaging/mesh.h"

#include <vtkCellArray.h>
#include <vtkCleanPolyData.h>
#include <vtkFeatureEdges.h>
#include <vtkFloatArray.h>
#include <vtkFlyingEdges3D.h>
#include <vtkGLTFReader.h>
#include <vtkGLTFWriter.h>
#include <vtkIdList.h>
#include <vtkImageData.h>
#include <vtkMassProperties.h>
#include <vtkMultiBlockDataSet.h>
#include <vtkOBJReader.h>
#include <vtkOBJWriter.h>
#include <vtkPointData.h>
#include <vtkPoints.h>
#include <vtkPolyData.h>
#include <vtkPolyDataConnectivityFilter.h>
#include <vtkQuadricDecimation.h>
#include <vtkSTLReader.h>
#include <vtkSTLWriter.h>
#include <vtkSmartPointer.h>
#include <vtkTriangleFilter.h>
#include <vtkWindowedSincPolyDataFilter.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <filesystem>

namespace dxhub::imaging {
namespace {

template <typename T>
vtkSmartPointer<T> New() {
  return vtkSmartPointer<T>::New();
}

vtkSmartPointer<vtkPolyData> ToPolyData(const Mesh& mesh) {
  auto points = New<vtkPoints>();
  points->SetDataTypeToFloat();
  const auto n = static_cast<vtkIdType>(mesh.points.size() / 3);
  points->SetNumberOfPoints(n);
  for (vtkIdType i = 0; i < n; ++i)
    points->SetPoint(i, mesh.points[3 * i], mesh.points[3 * i + 1], mesh.points[3 * i + 2]);
  auto cells = New<vtkCellArray>();
  for (size_t t = 0; t + 2 < mesh.triangles.size(); t += 3) {
    const vtkIdType ids[3] = {mesh.triangles[t], mesh.triangles[t + 1], mesh.triangles[t + 2]};
    cells->InsertNextCell(3, ids);
  }
  auto poly = New<vtkPolyData>();
  poly->SetPoints(points);
  poly->SetPolys(cells);
  return poly;
}

// Triangles only (readers may hand back polygons or strips), points as given.
Mesh FromPolyData(vtkPolyData* input) {
  auto triangulate = New<vtkTriangleFilter>();
  triangulate->SetInputData(input);
  triangulate->PassLinesOff();
  triangulate->PassVertsOff();
  triangulate->Update();
  vtkPolyData* poly = triangulate->GetOutput();
  Mesh mesh;
  const vtkIdType n = poly->GetNumberOfPoints();
  mesh.points.resize(static_cast<size_t>(n) * 3);
  for (vtkIdType i = 0; i < n; ++i) {
    double p[3];
    poly->GetPoint(i, p);
    for (int a = 0; a < 3; ++a)
      mesh.points[static_cast<size_t>(3 * i + a)] = static_cast<float>(p[a]);
  }
  auto ids = New<vtkIdList>();
  vtkCellArray* polys = poly->GetPolys();
  polys->InitTraversal();
  while (polys->GetNextCell(ids)) {
    if (ids->GetNumberOfIds() != 3)
      continue;
    for (int k = 0; k < 3; ++k)
      mesh.triangles.push_back(static_cast<int32_t>(ids->GetId(k)));
  }
  return mesh;
}

int64_t CountEdges(vtkPolyData* poly, bool boundary) {
  auto edges = New<vtkFeatureEdges>();
  edges->SetInputData(poly);
  edges->FeatureEdgesOff();
  edges->ManifoldEdgesOff();
  edges->SetBoundaryEdges(boundary);
  edges->SetNonManifoldEdges(!boundary);
  edges->Update();
  return edges->GetOutput()->GetNumberOfCells();
}

}  // namespace

Result<Mesh> IsoSurface(const Volume& volume, const MeshOptions& options) {
  if (options.decimation < 0 || options.decimation > 0.99)
    return MakeError(ErrorCode::kInvalidArgument, "decimation must be in [0, 0.99]");
  if (options.smoothing_iterations < 0 || options.smoothing_iterations > 200)
    return MakeError(ErrorCode::kInvalidArgument, "smoothing iterations must be 0..200");
  if (volume.voxels.empty())
    return MakeError(ErrorCode::kInvalidArgument, "empty volume");
  // The surface is built in voxel-aligned millimetres from the first voxel, then placed in
  // patient space below, so oblique acquisitions need no direction support from VTK.
  // With closing, the voxels sit inside a one-voxel frame below the iso-value.
  const int pad = options.close_at_borders ? 1 : 0;
  const std::array<int, 3> dims{volume.size[0] + 2 * pad, volume.size[1] + 2 * pad,
                                volume.size[2] + 2 * pad};
  auto image = New<vtkImageData>();
  image->SetDimensions(dims[0], dims[1], dims[2]);
  image->SetSpacing(volume.spacing[0], volume.spacing[1], volume.spacing[2]);
  image->SetOrigin(0, 0, 0);
  auto scalars = New<vtkFloatArray>();
  std::vector<float> padded;
  if (pad == 0) {
    // No copy: VTK only reads the voxels (save = 1: VTK must not free them).
    scalars->SetArray(const_cast<float*>(volume.voxels.data()),
                      static_cast<vtkIdType>(volume.voxels.size()), 1);
  } else {
    const float outside =
        std::min(*std::min_element(volume.voxels.begin(), volume.voxels.end()), options.iso - 1);
    padded.assign(static_cast<size_t>(dims[0]) * dims[1] * dims[2], outside);
    for (int k = 0; k < volume.size[2]; ++k) {
      for (int j = 0; j < volume.size[1]; ++j) {
        const float* row = &volume.voxels[volume.Index(0, j, k)];
        std::copy(
            row, row + volume.size[0],
            padded.begin() +
                static_cast<long>((static_cast<size_t>(k + 1) * dims[1] + (j + 1)) * dims[0] + 1));
      }
    }
    scalars->SetArray(padded.data(), static_cast<vtkIdType>(padded.size()), 1);
  }
  image->GetPointData()->SetScalars(scalars);

  auto surface = New<vtkFlyingEdges3D>();
  surface->SetInputData(image);
  surface->SetValue(0, options.iso);
  surface->ComputeNormalsOff();
  surface->ComputeGradientsOff();
  surface->ComputeScalarsOff();
  surface->Update();
  if (surface->GetOutput()->GetNumberOfCells() == 0)
    return MakeError(ErrorCode::kInvalidArgument,
                     "no surface: nothing in the volume crosses " + std::to_string(options.iso));
  vtkSmartPointer<vtkPolyData> poly = surface->GetOutput();
  if (options.largest_component) {
    auto largest = New<vtkPolyDataConnectivityFilter>();
    largest->SetInputData(poly);
    largest->SetExtractionModeToLargestRegion();
    auto clean = New<vtkCleanPolyData>();  // drop the points of the discarded pieces
    clean->SetInputConnection(largest->GetOutputPort());
    clean->Update();
    poly = clean->GetOutput();
  }
  if (options.smoothing_iterations > 0) {
    auto smooth = New<vtkWindowedSincPolyDataFilter>();
    smooth->SetInputData(poly);
    smooth->SetNumberOfIterations(options.smoothing_iterations);
    smooth->SetPassBand(options.smoothing_passband);
    smooth->NormalizeCoordinatesOn();  // passband independent of the mesh's size
    smooth->BoundarySmoothingOff();
    smooth->FeatureEdgeSmoothingOff();
    smooth->NonManifoldSmoothingOn();
    smooth->Update();
    poly = smooth->GetOutput();
  }
  if (options.decimation > 0) {
    // Quadric decimation keeps the volume best (0.2% on a sphere at 90%), but on complex real
    // surfaces (a spine at 50%) it can leave a few holes or non-manifold edges; Measure() tells,
    // and `dxhub process` reports it. DecimatePro with topology preserved did worse here (lost
    // 14% of the volume and still made non-manifold edges).
    auto decimate = New<vtkQuadricDecimation>();
    decimate->SetInputData(poly);
    decimate->SetTargetReduction(options.decimation);
    decimate->VolumePreservationOn();
    decimate->Update();
    poly = decimate->GetOutput();
  }
  Mesh mesh = FromPolyData(poly);
  for (size_t p = 0; p + 2 < mesh.points.size(); p += 3) {
    const double i = mesh.points[p] / volume.spacing[0] - pad;
    const double j = mesh.points[p + 1] / volume.spacing[1] - pad;
    const double k = mesh.points[p + 2] / volume.spacing[2] - pad;
    const Vec3 at = volume.PointAt(i, j, k);
    for (int a = 0; a < 3; ++a)
      mesh.points[p + static_cast<size_t>(a)] = static_cast<float>(at[a]);
  }
  // A left-handed voxel frame (e.g. a stack sorted against its normal) mirrors the surface and
  // turns its triangles inside out; flip them back so outward normals stay outward.
  const double handedness = Dot(Cross(volume.row_dir, volume.col_dir), volume.normal);
  if (handedness < 0) {
    for (size_t t = 0; t + 2 < mesh.triangles.size(); t += 3)
      std::swap(mesh.triangles[t + 1], mesh.triangles[t + 2]);
  }
  return mesh;
}

MeshStats Measure(const Mesh& mesh) {
  MeshStats stats;
  if (mesh.triangles.empty())
    return stats;
  auto poly = ToPolyData(mesh);
  auto mass = New<vtkMassProperties>();
  mass->SetInputData(poly);
  mass->Update();
  stats.volume_mm3 = mass->GetVolume();
  stats.area_mm2 = mass->GetSurfaceArea();
  stats.boundary_edges = CountEdges(poly, true);
  stats.non_manifold_edges = CountEdges(poly, false);
  return stats;
}

Result<MeshFormat> ParseMeshFormat(const std::string& name) {
  std::string lower = name;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  if (lower == "stl")
    return MeshFormat::kStl;
  if (lower == "obj")
    return MeshFormat::kObj;
  if (lower == "gltf")
    return MeshFormat::kGltf;
  return MakeError(ErrorCode::kInvalidArgument, "mesh format must be stl, obj or gltf");
}

Status WriteMesh(const Mesh& mesh, MeshFormat format, const std::string& path) {
  auto poly = ToPolyData(mesh);
  int ok = 0;
  switch (format) {
    case MeshFormat::kStl: {
      auto writer = New<vtkSTLWriter>();
      writer->SetInputData(poly);
      writer->SetFileName(path.c_str());
      writer->SetFileTypeToBinary();
      ok = writer->Write();
      break;
    }
    case MeshFormat::kObj: {
      auto writer = New<vtkOBJWriter>();
      writer->SetInputData(poly);
      writer->SetFileName(path.c_str());
      ok = writer->Write();
      break;
    }
    case MeshFormat::kGltf: {
      // VTK 9.1's glTF writer crashes on a flat multiblock of polydata: nest it one level.
      auto inner = New<vtkMultiBlockDataSet>();
      inner->SetNumberOfBlocks(1);
      inner->SetBlock(0, poly);
      auto outer = New<vtkMultiBlockDataSet>();
      outer->SetNumberOfBlocks(1);
      outer->SetBlock(0, inner);
      auto writer = New<vtkGLTFWriter>();
      writer->SetInputData(outer);
      writer->SetFileName(path.c_str());
      writer->InlineDataOn();  // one self-contained .gltf file
      ok = writer->Write();
      break;
    }
  }
  std::error_code ec;
  if (ok != 1 || !std::filesystem::exists(path, ec))
    return MakeError(ErrorCode::kIo, "cannot write mesh to " + path);
  return Ok();
}

Result<Mesh> ReadMesh(MeshFormat format, const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    return MakeError(ErrorCode::kNotFound, "no such file: " + path);
  vtkSmartPointer<vtkPolyData> poly;
  switch (format) {
    case MeshFormat::kStl: {
      auto reader = New<vtkSTLReader>();
      reader->SetFileName(path.c_str());
      reader->MergingOn();
      reader->Update();
      poly = reader->GetOutput();
      break;
    }
    case MeshFormat::kObj: {
      auto reader = New<vtkOBJReader>();
      reader->SetFileName(path.c_str());
      reader->Update();
      poly = reader->GetOutput();
      break;
    }
    case MeshFormat::kGltf: {
      auto reader = New<vtkGLTFReader>();
      reader->SetFileName(path.c_str());
      reader->Update();
      // The first polydata leaf of the scene.
      std::vector<vtkDataObject*> stack = {reader->GetOutput()};
      while (!stack.empty() && poly == nullptr) {
        vtkDataObject* object = stack.back();
        stack.pop_back();
        if (auto* p = vtkPolyData::SafeDownCast(object)) {
          poly = p;
        } else if (auto* mb = vtkMultiBlockDataSet::SafeDownCast(object)) {
          for (unsigned b = 0; b < mb->GetNumberOfBlocks(); ++b) {
            if (mb->GetBlock(b) != nullptr)
              stack.push_back(mb->GetBlock(b));
          }
        }
      }
      break;
    }
  }
  if (poly == nullptr || poly->GetNumberOfCells() == 0)
    return MakeError(ErrorCode::kInvalidArgument, "no triangles in " + path);
  return FromPolyData(poly);
}

}  // namespace dxhub::imaging
