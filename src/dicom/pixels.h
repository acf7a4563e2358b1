#pragma once
// Pixel access for WADO-RS frames and rendered images. Decoding uses DCMTK's codecs (JPEG
// baseline/extended/lossless, JPEG-LS, RLE) and OpenJPEG for JPEG 2000 (which Debian's DCMTK
// 3.6.7 cannot decode).

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"

namespace dxhub::dicom {

/// One greyscale frame as stored values, with what places it in patient space: the input of
/// volume assembly (imaging). `has_geometry` is false without ImagePositionPatient /
/// ImageOrientationPatient (a projection radiograph).
struct ImagePlane {
  bool has_geometry = false;
  std::array<double, 3> position{0, 0, 0};
  std::array<double, 6> orientation{1, 0, 0, 0, 1, 0};
  std::array<double, 2> pixel_spacing{1, 1};  // between rows, between columns (mm)
  int rows = 0;
  int columns = 0;
  int frames = 1;
  double slope = 1;
  double intercept = 0;
  std::vector<float> values;  // rows * columns stored values (signed when the data is)
};

/// Frame `frame_number` (1-based) decoded from any stored transfer syntax, as an ImagePlane.
/// kUnsupported for colour images or more than 16 bits allocated.
Result<ImagePlane> ReadImagePlane(const std::string& path, int frame_number);

/// Frame `frame_number` (1-based) of the instance at `path`, decoded to native (uncompressed,
/// little endian) pixel bytes. kNotFound if the frame does not exist.
Result<std::string> ReadFrame(const std::string& path, int frame_number);

/// One frame as stored: the compressed bitstream of an encapsulated frame (all its fragments),
/// or the native bytes of an uncompressed one, with the transfer syntax that describes them.
struct StoredFrame {
  std::string bytes;
  std::string transfer_syntax_uid;  // explicit VR little endian for native frames
};

/// Frame `frame_number` (1-based) without decoding: what a viewer that decodes itself asks for.
Result<StoredFrame> ReadStoredFrame(const std::string& path, int frame_number);

/// Which VOI window turns stored values into displayed brightness.
struct DisplayWindow {
  enum class Kind { kDataset, kMinMax, kExplicit };
  Kind kind = Kind::kDataset;  // the dataset's first window, else min/max
  double center = 0;           // kExplicit: in modality units (e.g. HU)
  double width = 0;
};

/// One frame as a viewer displays it: rescale slope/intercept and the VOI window applied,
/// MONOCHROME1 inverted, colour converted to RGB. Samples are interleaved, 0..65535.
struct DisplayFrame {
  int rows = 0;
  int columns = 0;
  int samples = 1;  // 1 grey, 3 RGB
  std::vector<uint16_t> pixels;
};

/// Frame `frame_number` (1-based) of the instance at `path`, decoded from any stored transfer
/// syntax, as displayed (the input of AI preprocessing). When the caller needs no more than
/// `min_columns` x `min_rows` (both > 0), a JPEG 2000 frame may come back smaller, decoded at a
/// lower resolution level that still covers that size. kNotFound for a missing frame or an
/// instance without pixel data, kUnsupported when the pixels cannot be decoded.
Result<DisplayFrame> ReadDisplayFrame(const std::string& path, int frame_number,
                                      const DisplayWindow& window, int min_columns = 0,
                                      int min_rows = 0);

struct RenderOptions {
  enum class Format { kJpeg, kPng };
  Format format = Format::kJpeg;
  std::optional<double> window_center;  // both or neither
  std::optional<double> window_width;
  int quality = 90;  // JPEG only
  /// Scale to fit a viewport of this many columns and rows, keeping the aspect ratio (PS3.18
  /// `viewport=vw,vh`); 0 keeps the stored size. Images are never scaled up.
  int viewport_columns = 0;
  int viewport_rows = 0;
};

/// Frame `frame_number` rendered to an 8-bit image: VOI window from `options`, else the first
/// window in the dataset, else min/max; MONOCHROME1 inverted as a viewer would show it.
Result<std::string> RenderFrame(const std::string& path, int frame_number,
                                const RenderOptions& options);

}  // namespace dxhub::dicom
