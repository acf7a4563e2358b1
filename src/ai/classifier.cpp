#include "ai/classifier.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "ai/onnx_signature.h"

namespace dxhub::ai {
namespace {

double MsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

dicom::DisplayWindow WindowOf(const ModelCard& card) {
  dicom::DisplayWindow w;
  switch (card.window) {
    case ModelCard::Window::kDataset:
      w.kind = dicom::DisplayWindow::Kind::kDataset;
      break;
    case ModelCard::Window::kMinMax:
      w.kind = dicom::DisplayWindow::Kind::kMinMax;
      break;
    case ModelCard::Window::kExplicit:
      w.kind = dicom::DisplayWindow::Kind::kExplicit;
      w.center = card.window_center;
      w.width = card.window_width;
      break;
  }
  return w;
}

}  // namespace

std::string ClassifyFailure::KindName() const {
  switch (kind) {
    case Kind::kDecode:
      return "decode_error";
    case Kind::kUnsupportedImage:
      return "unsupported_image";
    case Kind::kModel:
      return "model_error";
  }
  return "model_error";
}

Tensor Preprocess(const dicom::DisplayFrame& frame, const ModelCard& card) {
  // Brightness in [0, 1], as many channels as the image has.
  cv::Mat pixels(frame.rows, frame.columns, CV_16UC(frame.samples),
                 const_cast<uint16_t*>(frame.pixels.data()));  // NOLINT: read only
  cv::Mat image;
  pixels.convertTo(image, CV_32F, 1.0 / 65535.0);
  if (card.channels == 3 && frame.samples == 1) {
    cv::cvtColor(image, image, cv::COLOR_GRAY2RGB);
  } else if (card.channels == 1 && frame.samples == 3) {
    cv::cvtColor(image, image, cv::COLOR_RGB2GRAY);
  }
  cv::Mat sized;
  // INTER_AREA averages when shrinking (no aliasing), the usual choice for model inputs.
  if (card.resize == ModelCard::Resize::kStretch) {
    cv::resize(image, sized, cv::Size(card.width, card.height), 0, 0, cv::INTER_AREA);
  } else {
    const double scale = std::min(static_cast<double>(card.width) / frame.columns,
                                  static_cast<double>(card.height) / frame.rows);
    const int w = std::max(1, static_cast<int>(std::lround(frame.columns * scale)));
    const int h = std::max(1, static_cast<int>(std::lround(frame.rows * scale)));
    cv::Mat inner;
    cv::resize(image, inner, cv::Size(w, h), 0, 0, cv::INTER_AREA);
    sized = cv::Mat::zeros(card.height, card.width, image.type());
    inner.copyTo(sized(cv::Rect((card.width - w) / 2, (card.height - h) / 2, w, h)));
  }
  Tensor t;
  t.n = 1;
  t.c = card.channels;
  t.h = card.height;
  t.w = card.width;
  t.data.resize(static_cast<size_t>(t.c) * t.h * t.w);
  std::vector<cv::Mat> planes;
  cv::split(sized, planes);
  const size_t plane_size = static_cast<size_t>(t.h) * t.w;
  for (int c = 0; c < t.c; ++c) {
    cv::Mat plane(t.h, t.w, CV_32F, t.data.data() + c * plane_size);
    planes[static_cast<size_t>(c)].convertTo(plane, CV_32F, 1.0 / card.std[c],
                                             -card.mean[c] / card.std[c]);
  }
  return t;
}

Prediction Interpret(const ModelCard& card, const std::vector<float>& raw) {
  Prediction p;
  p.probabilities = raw;
  if (card.activation == ModelCard::Activation::kSoftmax && !raw.empty()) {
    const float top = *std::max_element(raw.begin(), raw.end());
    double sum = 0;
    for (auto& v : p.probabilities) {
      v = std::exp(v - top);
      sum += v;
    }
    for (auto& v : p.probabilities)
      v = static_cast<float>(v / sum);
  } else if (card.activation == ModelCard::Activation::kSigmoid) {
    for (auto& v : p.probabilities)
      v = 1.0F / (1.0F + std::exp(-v));
  }
  size_t best = 0;
  for (size_t i = 0; i < p.probabilities.size(); ++i) {
    if (p.probabilities[i] > p.probabilities[best])
      best = i;
    if (std::find(card.high_risk.begin(), card.high_risk.end(), card.labels[i]) !=
        card.high_risk.end()) {
      p.risk_score = std::max(p.risk_score, static_cast<double>(p.probabilities[i]));
    }
  }
  p.label = card.labels[best];
  p.score = p.probabilities[best];
  p.high_risk = !card.high_risk.empty() && p.risk_score >= card.threshold;
  return p;
}

namespace {

// The card must describe the tensors the ONNX file declares: one NCHW input whose fixed
// dimensions are the card's channels, height and width, and (when fixed) one score per label.
Result<bool> MatchSignature(const ModelCard& card) {
  auto sig = ReadOnnxSignature(card.OnnxPath());
  if (!sig.ok())
    return sig.error();
  const std::string id = card.Id();
  if (sig->inputs.size() != 1 || sig->outputs.empty()) {
    return MakeError(ErrorCode::kInvalidArgument, "model " + id +
                                                      " must have one input tensor (it has " +
                                                      std::to_string(sig->inputs.size()) + ")");
  }
  const auto& dims = sig->inputs[0].dims;
  auto shape_text = [](const std::vector<int64_t>& d) {
    std::string s;
    for (size_t i = 0; i < d.size(); ++i) {
      if (i > 0)
        s += 'x';
      s += d[i] < 0 ? std::string("?") : std::to_string(d[i]);
    }
    return s;
  };
  const std::vector<int64_t> wanted = {card.channels, card.height, card.width};
  bool matches = dims.size() == 4;
  for (size_t i = 0; matches && i < 3; ++i)
    matches = dims[i + 1] < 0 || dims[i + 1] == wanted[i];
  if (!matches) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "model " + id + " takes input " + shape_text(dims) + " but its card says 1x" +
                         std::to_string(card.channels) + "x" + std::to_string(card.height) + "x" +
                         std::to_string(card.width));
  }
  const auto& out = sig->outputs[0].dims;
  if (!out.empty() && out.back() > 0 && static_cast<size_t>(out.back()) != card.labels.size()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "model " + id + " gives " + std::to_string(out.back()) +
                         " scores per image but its card lists " +
                         std::to_string(card.labels.size()) + " labels");
  }
  return dims[0] < 0;  // a symbolic batch dimension: several images per forward pass
}

}  // namespace

Result<std::unique_ptr<Classifier>> Classifier::Load(const ModelCard& card,
                                                     const BackendOptions& options) {
  auto batchable = MatchSignature(card);
  if (!batchable.ok())
    return batchable.error();
  auto backend = LoadOpenCvBackend(card.OnnxPath(), options);
  if (!backend.ok())
    return backend.error();
  Tensor probe{1, card.channels, card.height, card.width, {}};
  probe.data.assign(static_cast<size_t>(card.channels) * card.height * card.width, 0.0F);
  auto out = (*backend)->Run(probe);
  if (!out.ok()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "model " + card.Id() + " does not take the card's input 1x" +
                         std::to_string(card.channels) + "x" + std::to_string(card.height) + "x" +
                         std::to_string(card.width) + ": " + out.error().message);
  }
  if (out->front().size() != card.labels.size()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "model " + card.Id() + " gives " + std::to_string(out->front().size()) +
                         " scores per image but its card lists " +
                         std::to_string(card.labels.size()) + " labels");
  }
  if (*batchable) {
    // Check that the runtime really takes a batch (some exports pin shapes inside the graph).
    Tensor pair{2, card.channels, card.height, card.width, {}};
    pair.data.assign(probe.data.size() * 2, 0.0F);
    auto two = (*backend)->Run(pair);
    *batchable = two.ok() && two->size() == 2 && two->front().size() == card.labels.size();
  }
  return std::unique_ptr<Classifier>(new Classifier(card, std::move(backend.value()), *batchable));
}

Result<std::vector<float>> Classifier::RunTensor(const Tensor& tensor) {
  auto out = backend_->Run(tensor);
  if (!out.ok())
    return out.error();
  return std::move(out->front());
}

std::vector<int> Classifier::FramesToRead(int frames) {
  const int total = std::max(1, frames);
  const int count = std::min(total, kMaxFrames);
  std::vector<int> out;
  out.reserve(static_cast<size_t>(count));
  for (int i = 0; i < count; ++i) {
    out.push_back(count == 1 ? 1
                             : 1 + static_cast<int>(std::lround(static_cast<double>(i) *
                                                                (total - 1) / (count - 1))));
  }
  return out;
}

Result<Tensor> Classifier::Prepare(const std::string& path, int frame) {
  // With jpeg2000_reduced_resolution the frame is decoded at the lowest resolution level that
  // still has twice the model's input size, so area resampling still makes the final pixels.
  const int min_columns = card_.jpeg2000_reduced ? 2 * card_.width : 0;
  const int min_rows = card_.jpeg2000_reduced ? 2 * card_.height : 0;
  auto display = dicom::ReadDisplayFrame(path, frame, WindowOf(card_), min_columns, min_rows);
  if (!display.ok())
    return display.error();
  return Preprocess(*display, card_);
}

ImageResult Classifier::Classify(const std::string& path, int frames) {
  ImageResult result;
  for (int frame : FramesToRead(frames)) {
    auto start = std::chrono::steady_clock::now();
    auto tensor = Prepare(path, frame);
    if (!tensor.ok()) {
      const bool unsupported = tensor.error().code == ErrorCode::kNotFound;
      result.failure = ClassifyFailure{
          unsupported ? ClassifyFailure::Kind::kUnsupportedImage : ClassifyFailure::Kind::kDecode,
          tensor.error().message};
      return result;
    }
    result.preprocess_ms += MsSince(start);
    start = std::chrono::steady_clock::now();
    auto raw = backend_->Run(*tensor);
    result.inference_ms += MsSince(start);
    if (!raw.ok() || raw->front().size() != card_.labels.size()) {
      result.failure =
          ClassifyFailure{ClassifyFailure::Kind::kModel,
                          raw.ok() ? "model gave " + std::to_string(raw->front().size()) +
                                         " scores, expected " + std::to_string(card_.labels.size())
                                   : raw.error().message};
      return result;
    }
    Prediction p = Interpret(card_, raw->front());
    if (result.frames_analysed == 0 || p.risk_score > result.prediction.risk_score)
      result.prediction = std::move(p);
    ++result.frames_analysed;
  }
  return result;
}

std::vector<ImageResult> Classifier::ClassifyMany(
    const std::vector<std::pair<std::string, int>>& images) {
  std::vector<ImageResult> results(images.size());
  std::vector<size_t> batch;  // indexes of single-frame images prepared into `tensor`
  Tensor tensor{0, card_.channels, card_.height, card_.width, {}};
  for (size_t i = 0; i < images.size(); ++i) {
    const auto& [path, frames] = images[i];
    if (!batchable_ || frames > 1) {
      results[i] = Classify(path, frames);
      continue;
    }
    auto start = std::chrono::steady_clock::now();
    auto one = Prepare(path, 1);
    if (!one.ok()) {
      results[i] = Classify(path, frames);  // reports the failure in the usual way
      continue;
    }
    results[i].preprocess_ms = MsSince(start);
    tensor.data.insert(tensor.data.end(), one->data.begin(), one->data.end());
    ++tensor.n;
    batch.push_back(i);
  }
  if (batch.empty())
    return results;
  auto start = std::chrono::steady_clock::now();
  auto raw = backend_->Run(tensor);
  const double per_image_ms = MsSince(start) / static_cast<double>(batch.size());
  if (!raw.ok() || raw->size() != batch.size()) {
    for (size_t i : batch)
      results[i] = Classify(images[i].first, images[i].second);
    return results;
  }
  for (size_t k = 0; k < batch.size(); ++k) {
    ImageResult& r = results[batch[k]];
    if ((*raw)[k].size() != card_.labels.size()) {
      r.failure = ClassifyFailure{ClassifyFailure::Kind::kModel, "model gave a wrong score count"};
      continue;
    }
    r.prediction = Interpret(card_, (*raw)[k]);
    r.frames_analysed = 1;
    r.inference_ms = per_image_ms;
  }
  return results;
}

std::unique_ptr<Classifier> Classifier::WithBackend(const ModelCard& card,
                                                    InferenceBackendPtr backend) {
  return std::unique_ptr<Classifier>(new Classifier(card, std::move(backend)));
}

}  // namespace dxhub::ai
