#pragma once
// Reference segmentations from research tools (TotalSegmentator, 3D Slicer, nnU-Net) come as
// NIfTI label images; comparing dxhub's masks with them, or importing them, needs them on a
// series' own voxel grid.

#include <string>

#include "core/result.h"
#include "imaging/volume.h"

namespace dxhub::imaging {

/// Reads a NIfTI label image (ITK's reader, which places it in LPS patient space) and samples it
/// onto `grid` by nearest neighbour in patient space; voxels of `grid` outside it get 0. Labels
/// above 255 are refused. kInvalidArgument for an unreadable file.
Result<LabelVolume> ReadLabelsOnto(const std::string& path, const Geometry& grid);

/// Reads a NIfTI scalar image (CT in HU, as research data sets and TotalSegmentator ship them)
/// as a volume in LPS patient space, scaling (scl_slope / scl_inter) applied. kInvalidArgument
/// for an unreadable file or one that is not 3-D.
Result<Volume> ReadVolume(const std::string& path);

}  // namespace dxhub::imaging
