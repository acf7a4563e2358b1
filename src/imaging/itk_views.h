#pragma once
// No-copy ITK images over the imaging layer's voxel arrays. Includes ITK: only for itk_*.cpp
// files (and the benchmark), see itk_bridge.h for why.

#include <itkImage.h>
#include <itkImportImageFilter.h>

#include "imaging/volume.h"

namespace dxhub::imaging {

/// An ITK image over `data` (grid.Count() values, i fastest), which must outlive it. ITK only
/// reads through the pointer here. In patient space it carries the grid's origin and direction
/// (for physical-point work such as interpolation); otherwise it stays in index space with the
/// real spacing (for neighbourhood filters, which then need no direction handling).
template <typename T>
typename itk::Image<T, 3>::Pointer ItkView(const T* data, const Geometry& grid,
                                           bool patient_space) {
  auto import = itk::ImportImageFilter<T, 3>::New();
  typename itk::ImportImageFilter<T, 3>::SizeType size;
  typename itk::ImportImageFilter<T, 3>::IndexType start;
  double spacing[3];
  double origin[3] = {0, 0, 0};
  for (int a = 0; a < 3; ++a) {
    size[a] = static_cast<itk::SizeValueType>(grid.size[a]);
    start[a] = 0;
    spacing[a] = grid.spacing[a];
    if (patient_space)
      origin[a] = grid.origin[a];
  }
  import->SetRegion(itk::ImageRegion<3>(start, size));
  import->SetSpacing(spacing);
  import->SetOrigin(origin);
  if (patient_space) {
    typename itk::Image<T, 3>::DirectionType direction;
    for (int r = 0; r < 3; ++r) {
      direction[r][0] = grid.row_dir[r];
      direction[r][1] = grid.col_dir[r];
      direction[r][2] = grid.normal[r];
    }
    import->SetDirection(direction);
  }
  import->SetImportPointer(const_cast<T*>(data), grid.Count(),
                           /*LetImageContainerManageMemory=*/false);
  import->Update();
  return import->GetOutput();
}

}  // namespace dxhub::imaging
