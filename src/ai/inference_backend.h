#pragma once
// Runs a model on preprocessed tensors. One backend instance is used by one thread at a time
// (OpenCV's dnn::Net is not re-entrant); the pipeline gives each worker its own.

#include <memory>
#include <string>
#include <vector>

#include "core/result.h"

namespace dxhub::ai {

/// A batch of NCHW float images, contiguous.
struct Tensor {
  int n = 0, c = 0, h = 0, w = 0;
  std::vector<float> data;
};

class InferenceBackend {
 public:
  virtual ~InferenceBackend() = default;
  /// One output row (the model's raw scores) per image of `batch`. Errors are kInternal with the
  /// backend's message (a model that throws, a shape it refuses).
  virtual Result<std::vector<std::vector<float>>> Run(const Tensor& batch) = 0;
};

using InferenceBackendPtr = std::unique_ptr<InferenceBackend>;

struct BackendOptions {
  int threads = 0;  // OpenCV's worker threads; 0 leaves its default (all cores)
};

/// OpenCV dnn (Debian libopencv-dnn-dev 4.6) running an ONNX file on the CPU. The load fails
/// with kInvalidArgument when OpenCV cannot read the file.
Result<InferenceBackendPtr> LoadOpenCvBackend(const std::string& onnx_path,
                                              const BackendOptions& options);

}  // namespace dxhub::ai
