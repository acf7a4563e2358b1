#include <itkImageFileReader.h>
#include <itkNiftiImageIO.h>

#include "imaging/nifti.h"

namespace dxhub::imaging {
namespace {

template <typename T>
Result<typename itk::Image<T, 3>::Pointer> ReadNifti(const std::string& path,
                                                     const std::string& what) {
  auto reader = itk::ImageFileReader<itk::Image<T, 3>>::New();
  reader->SetFileName(path);
  // Explicitly NIfTI: the factory list in a static link may not include it.
  reader->SetImageIO(itk::NiftiImageIO::New());
  try {
    reader->Update();
  } catch (const itk::ExceptionObject& e) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "cannot read NIfTI " + what + " " + path + ": " + e.GetDescription());
  }
  return typename itk::Image<T, 3>::Pointer(reader->GetOutput());
}

}  // namespace

Result<LabelVolume> ReadLabelsOnto(const std::string& path, const Geometry& grid) {
  using Labels = itk::Image<int32_t, 3>;
  auto read = ReadNifti<int32_t>(path, "labels");
  if (!read.ok())
    return read.error();
  const Labels::Pointer image = *read;
  LabelVolume out = LabelVolume::On(grid);
  for (int k = 0; k < grid.size[2]; ++k) {
    for (int j = 0; j < grid.size[1]; ++j) {
      for (int i = 0; i < grid.size[0]; ++i) {
        const Vec3 p = grid.PointAt(i, j, k);
        Labels::PointType point;
        point[0] = p[0];
        point[1] = p[1];
        point[2] = p[2];
        Labels::IndexType index;
        if (!image->TransformPhysicalPointToIndex(point, index))
          continue;
        const int32_t label = image->GetPixel(index);
        if (label < 0 || label > 255)
          return MakeError(ErrorCode::kInvalidArgument,
                           "NIfTI label " + std::to_string(label) + " is out of range 0-255");
        out.labels[grid.Index(i, j, k)] = static_cast<uint8_t>(label);
      }
    }
  }
  return out;
}

Result<Volume> ReadVolume(const std::string& path) {
  auto read = ReadNifti<float>(path, "image");
  if (!read.ok())
    return read.error();
  const itk::Image<float, 3>::Pointer image = *read;
  const auto region = image->GetLargestPossibleRegion();
  Volume v;
  for (int a = 0; a < 3; ++a) {
    v.size[a] = static_cast<int>(region.GetSize()[a]);
    v.spacing[a] = image->GetSpacing()[a];
    v.origin[a] = image->GetOrigin()[a];
    // ITK's direction columns are the index axes in LPS.
    v.row_dir[a] = image->GetDirection()[a][0];
    v.col_dir[a] = image->GetDirection()[a][1];
    v.normal[a] = image->GetDirection()[a][2];
  }
  if (v.size[0] < 2 || v.size[1] < 2 || v.size[2] < 2)
    return MakeError(ErrorCode::kInvalidArgument, "NIfTI image " + path + " is not a volume");
  const float* data = image->GetBufferPointer();
  v.voxels.assign(data, data + v.Count());
  return v;
}

}  // namespace dxhub::imaging
