#pragma once
// Masks as DICOM Segmentation objects (binary SEG, one frame per slice and segment), written with
// DCMTK's dcmseg: what viewers (OHIF, 3D Slicer, dcm4chee's) show as overlays on the source
// series, with the patient, study and frame of reference of the source and per-frame references
// to the source slices.

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "core/result.h"

namespace dxhub::dicom {

/// A segment: its label and what it is (a SNOMED CT code for the anatomical structure).
struct SegmentSpec {
  std::string label;
  std::string code_value;    // SCT, e.g. "39607008"
  std::string code_meaning;  // e.g. "Lung"
};

struct SegmentationInput {
  std::string series_uid;
  std::string sop_uid;
  int series_number = 0;
  std::string series_description;
  std::string algorithm;  // e.g. "dxhub lungs 1"
  int rows = 0;
  int columns = 0;
  std::array<double, 6> orientation{1, 0, 0, 0, 1, 0};
  std::array<double, 2> pixel_spacing{1, 1};  // between rows, between columns
  double slice_thickness = 1;
  struct Slice {
    std::string source_sop_class;
    std::string source_sop_uid;
    std::array<double, 3> position{0, 0, 0};
  };
  std::vector<Slice> slices;
  /// rows x columns x slices, row by row, slice by slice: 0 nothing, n segment n (1-based).
  std::vector<uint8_t> labels;
  std::vector<SegmentSpec> segments;
};

/// Writes a binary Segmentation (explicit VR little endian, fsync'd) at `dst`. Empty frames are
/// left out; a segment with no voxel at all is left out. kInvalidArgument when the input does
/// not add up or has nothing to store; kIo / kInternal when DCMTK refuses.
Status WriteSegmentation(const std::string& source_path, const SegmentationInput& input,
                         const std::string& dst);

}  // namespace dxhub::dicom
