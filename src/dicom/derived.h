#pragma once
// Derived images dxhub writes back into the archive as new series of the source's study: the
// bone-free CT, reformats and projections, DSA frames. Patient, study and frame of reference come
// from an image of the source series; every image names the image it was derived from.

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "core/result.h"

namespace dxhub::dicom {

/// The image an output was made from (SourceImageSequence).
struct SourceRef {
  std::string sop_class_uid;
  std::string sop_uid;
};

struct DerivedImage {
  /// Secondary Capture Image Storage (pictures: projections, reformats, DSA frames); otherwise
  /// the source's own SOP class (a derived CT volume stays CT so viewers stack and window it).
  bool secondary_capture = false;
  std::string series_uid;
  std::string sop_uid;
  int series_number = 0;
  int instance_number = 0;
  std::string series_description;
  std::string image_type = "DERIVED\\SECONDARY";
  std::string derivation_description;
  int rows = 0;
  int columns = 0;
  /// More than one: a Multi-frame Grayscale Word Secondary Capture image (DSA runs), frames one
  /// after another in `pixels`, `frame_time_ms` apart.
  int frames = 1;
  double frame_time_ms = 0;
  std::vector<int16_t> pixels;  // row by row (frame by frame); value = pixel * slope + intercept
  double slope = 1;
  double intercept = 0;
  double window_centre = 40;
  double window_width = 400;
  /// Geometry for volume slices (ImagePositionPatient etc.); pictures carry only a spacing.
  bool has_position = false;
  std::array<double, 3> position{0, 0, 0};
  std::array<double, 6> orientation{1, 0, 0, 0, 1, 0};
  std::array<double, 2> pixel_spacing{1, 1};  // between rows, between columns
  double slice_thickness = 0;
  std::vector<SourceRef> sources;
};

/// Writes `image` as a Part-10 file at `dst` (explicit VR little endian, fsync'd), with the
/// patient and study attributes of the source image file `source_path`. kInvalidArgument for an
/// image whose pixel count does not match its size or a bad UID; kIo when it cannot be written.
Status WriteDerivedImage(const std::string& source_path, const DerivedImage& image,
                         const std::string& dst);

}  // namespace dxhub::dicom
