// OpenCV dnn implementation of InferenceBackend. OpenCV throws cv::Exception; it is caught here
// and turned into errors, as at every library edge.

#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>

#include "ai/inference_backend.h"

namespace dxhub::ai {
namespace {

class OpenCvBackend final : public InferenceBackend {
 public:
  // cv::dnn::Net is a shared handle (its copy is cheap and shares the network).
  explicit OpenCvBackend(const cv::dnn::Net& net) : net_(net) {}

  Result<std::vector<std::vector<float>>> Run(const Tensor& batch) override {
    if (batch.n < 1 || batch.data.size() != static_cast<size_t>(batch.n) * batch.c * batch.h *
                                                static_cast<size_t>(batch.w)) {
      return MakeError(ErrorCode::kInternal, "tensor size does not match its shape");
    }
    try {
      const int dims[] = {batch.n, batch.c, batch.h, batch.w};
      // The Mat only borrows the tensor's memory; setInput copies it.
      cv::Mat blob(4, dims, CV_32F, const_cast<float*>(batch.data.data()));  // NOLINT
      net_.setInput(blob);
      cv::Mat out = net_.forward();
      if (out.empty() || out.size[0] != batch.n)
        return MakeError(ErrorCode::kInternal, "model output does not have one row per image");
      const size_t per_image = out.total() / static_cast<size_t>(batch.n);
      cv::Mat flat = out.reshape(1, 1);
      if (flat.type() != CV_32F)
        flat.convertTo(flat, CV_32F);
      std::vector<std::vector<float>> rows(static_cast<size_t>(batch.n));
      const auto* values = flat.ptr<float>(0);
      for (size_t i = 0; i < rows.size(); ++i)
        rows[i].assign(values + i * per_image, values + (i + 1) * per_image);
      return rows;
    } catch (const cv::Exception& e) {
      return MakeError(ErrorCode::kInternal, std::string("model error: ") + e.what());
    }
  }

 private:
  cv::dnn::Net net_;
};

}  // namespace

Result<InferenceBackendPtr> LoadOpenCvBackend(const std::string& onnx_path,
                                              const BackendOptions& options) {
  try {
    if (options.threads > 0)
      cv::setNumThreads(options.threads);
    cv::dnn::Net net = cv::dnn::readNetFromONNX(onnx_path);
    if (net.empty())
      return MakeError(ErrorCode::kInvalidArgument, "OpenCV read no network from " + onnx_path);
    net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
    net.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
    return InferenceBackendPtr(std::make_unique<OpenCvBackend>(net));
  } catch (const cv::Exception& e) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "OpenCV cannot load " + onnx_path + ": " + e.what());
  }
}

}  // namespace dxhub::ai
