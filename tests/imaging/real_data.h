#pragma once
// The real abdominal CT of ../shared/data, imported into a scratch archive and assembled, for the
// imaging tests that check themselves against reality (and its reference labels).

#include <string>

#include "core/result.h"
#include "imaging/volume.h"

namespace dxhub::imaging::real_data {

/// The 20-slice abdominal CT as a volume (HU); `scratch` is an empty folder for the archive.
Result<Volume> AbdomenCt(const std::string& scratch);

/// Its TotalSegmentator reference labels on the volume's grid.
Result<LabelVolume> AbdomenLabels(const Geometry& grid);

/// TotalSegmentator's bone labels (v2 numbering: sacrum, vertebrae, limb and girdle bones, skull,
/// ribs, sternum; not the costal cartilage). In this series: vertebrae T11-T12, ribs 6-12 on both
/// sides and the upper arms (69, 70).
bool IsBone(uint8_t label);

/// Where the tests write pictures of their results (created on first use).
std::string PicturePath(const std::string& name);

}  // namespace dxhub::imaging::real_data
