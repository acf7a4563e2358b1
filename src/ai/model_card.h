#pragma once
// A model card: everything dxhub needs to know to run an ONNX classifier on DICOM images and to
// read its answer, kept as data beside the model file (models/<name>/card.toml).

#include <string>
#include <vector>

#include "core/result.h"

namespace dxhub::ai {

struct ModelCard {
  std::string name;     // letters, digits, '-', '_', '.'
  std::string version;  // free text, compared for equality ("1.0.0")
  std::string file;     // ONNX file, relative to the card's folder
  std::string intended_use;
  std::string dir;  // the card's folder (absolute), filled by LoadModelCard

  // Input: one NCHW float tensor.
  int width = 0;
  int height = 0;
  int channels = 1;         // 1 grey or 3 RGB (grey images are replicated into three channels)
  std::vector<float> mean;  // per channel, applied to brightness in [0, 1]: (x - mean) / std
  std::vector<float> std;
  enum class Resize { kStretch, kLetterbox };
  Resize resize = Resize::kStretch;
  enum class Window { kDataset, kMinMax, kExplicit };
  Window window = Window::kDataset;
  double window_center = 0;  // kExplicit, in modality units (HU for CT)
  double window_width = 0;
  /// Decode JPEG 2000 images at a lower resolution level (still at least twice the input size)
  /// instead of full size: several times faster, but the pixels come from the wavelet low-pass
  /// band rather than from resampling the full image. Off unless the card asks for it.
  bool jpeg2000_reduced = false;

  // Which instances it applies to; empty lists mean any.
  std::vector<std::string> modalities;
  std::vector<std::string> sop_classes;
  std::vector<std::string> body_parts;

  // Output: one score per label.
  std::vector<std::string> labels;
  std::vector<std::string> high_risk;  // labels that mean "high risk"
  double threshold = 0.5;              // a high-risk label's probability at or above this flags
  enum class Activation { kNone, kSoftmax, kSigmoid };
  Activation activation = Activation::kSoftmax;

  std::string OnnxPath() const { return dir + "/" + file; }
  /// "name@version": how results and jobs name the model.
  std::string Id() const { return name + "@" + version; }
};

/// Reads and checks `dir`/card.toml: required keys, known values, labels/high-risk consistency,
/// mean/std per channel. Does not open the ONNX file (see ValidateAgainstModel).
Result<ModelCard> LoadModelCard(const std::string& dir);

/// True when the card's applies_to lists admit an instance with these attributes.
bool AppliesTo(const ModelCard& card, const std::string& modality, const std::string& sop_class,
               const std::string& body_part);

}  // namespace dxhub::ai
