#pragma once
// The real abdominal CT of testdata/, imported into a scratch archive and assembled, for the
// imaging tests that check themselves against reality (and its reference labels).

#include <string>
#include <vector>

#include "core/result.h"
#include "imaging/reslice.h"
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

/// One of the contrast chest CT crops (NIfTI, 1.5 mm): "pulmonary" (heart, pulmonary arteries,
/// lungs cut by the crop's edge) or "aorta" (aortic arch, trachea and main bronchi, both lungs).
Result<Volume> ChestCrop(const std::string& name);

/// Grey pictures side by side (HU windowed by centre / width), top-aligned.
std::vector<unsigned char> SideBySide(const std::vector<Image2D>& images, double centre,
                                      double width, int& out_width, int& out_height);

/// Where the tests write pictures of their results (created on first use).
std::string PicturePath(const std::string& name);

}  // namespace dxhub::imaging::real_data
