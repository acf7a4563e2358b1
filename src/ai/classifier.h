#pragma once
// A loaded model: its card, its backend, and what turns a stored instance into a prediction
// (decode, display window, resize, normalise, run, read the scores).

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ai/inference_backend.h"
#include "ai/model_card.h"
#include "core/result.h"
#include "dicom/pixels.h"

namespace dxhub::ai {

/// The model's reading of one image.
struct Prediction {
  std::string label;                 // the most probable label
  double score = 0;                  // its probability
  double risk_score = 0;             // the highest probability among the high-risk labels
  bool high_risk = false;            // risk_score >= the card's threshold
  std::vector<float> probabilities;  // per label, after the card's activation
};

/// Why an image could not be classified. `retryable` failures (the model threw) are tried again
/// a bounded number of times; the others (the image cannot be decoded) fail at once.
struct ClassifyFailure {
  enum class Kind { kDecode, kUnsupportedImage, kModel };
  Kind kind = Kind::kModel;
  std::string message;
  bool retryable() const { return kind == Kind::kModel; }
  std::string KindName() const;
};

/// The reading of one image, or why there is none.
struct ImageResult {
  std::optional<ClassifyFailure> failure;  // set: no prediction
  Prediction prediction;                   // of the frame with the highest risk
  int frames_analysed = 0;
  double preprocess_ms = 0;
  double inference_ms = 0;
};

/// The input tensor (n = 1) for one displayed frame, as the card describes.
Tensor Preprocess(const dicom::DisplayFrame& frame, const ModelCard& card);

/// Applies the card's activation to raw scores and reads label, score and risk.
Prediction Interpret(const ModelCard& card, const std::vector<float>& raw);

class Classifier {
 public:
  /// Loads the ONNX file and checks it against the card: it must accept the card's input shape
  /// and give one score per label. A mismatch is kInvalidArgument naming both numbers.
  static Result<std::unique_ptr<Classifier>> Load(const ModelCard& card,
                                                  const BackendOptions& options);

  /// A classifier on another backend (tests; other runtimes), without the load-time checks.
  static std::unique_ptr<Classifier> WithBackend(const ModelCard& card,
                                                 InferenceBackendPtr backend);

  const ModelCard& card() const { return card_; }

  /// Classifies the instance at `path` with `frames` frames (0 or 1: single-frame). Multi-frame
  /// images are read at up to kMaxFrames evenly spaced frames; the riskiest frame wins.
  ImageResult Classify(const std::string& path, int frames);

  /// The input tensor for frame `frame` (1-based) of the instance at `path`: decoded, windowed
  /// as the card says, resized and normalised. kNotFound / kUnsupported / kMalformedDicom as
  /// dicom::ReadDisplayFrame.
  Result<Tensor> Prepare(const std::string& path, int frame);
  /// Runs a prepared tensor (for parity checks against other runtimes).
  Result<std::vector<float>> RunTensor(const Tensor& tensor);
  /// Which frames Classify reads of an image with `frames` frames (1-based, evenly spaced).
  static std::vector<int> FramesToRead(int frames);

  /// Classifies several single-frame images with one forward pass when the model's batch
  /// dimension is free (otherwise, and for multi-frame images, one at a time). Results are in
  /// input order; an image that cannot be read fails alone, and if the batched run fails the
  /// images are retried one by one, so one bad image never fails its batch-mates.
  std::vector<ImageResult> ClassifyMany(const std::vector<std::pair<std::string, int>>& images);

  /// Whether the ONNX file declares a free batch dimension.
  bool batchable() const { return batchable_; }

  static constexpr int kMaxFrames = 32;

 private:
  Classifier(ModelCard card, InferenceBackendPtr backend, bool batchable = false)
      : card_(std::move(card)), backend_(std::move(backend)), batchable_(batchable) {}
  ModelCard card_;
  InferenceBackendPtr backend_;
  bool batchable_ = false;
};

}  // namespace dxhub::ai
