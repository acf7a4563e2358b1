#include <itkImageFileReader.h>
#include <itkNiftiImageIO.h>

#include "imaging/nifti.h"

namespace dxhub::imaging {

Result<LabelVolume> ReadLabelsOnto(const std::string& path, const Geometry& grid) {
  using Labels = itk::Image<int32_t, 3>;
  auto reader = itk::ImageFileReader<Labels>::New();
  reader->SetFileName(path);
  // Explicitly NIfTI: the factory list in a static link may not include it.
  reader->SetImageIO(itk::NiftiImageIO::New());
  try {
    reader->Update();
  } catch (const itk::ExceptionObject& e) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "cannot read NIfTI labels " + path + ": " + e.GetDescription());
  }
  const Labels::Pointer image = reader->GetOutput();
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

}  // namespace dxhub::imaging
