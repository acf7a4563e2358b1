#pragma once
// What an ONNX file declares about its input and output tensors, read with Debian's libonnx
// (the ONNX project's own protobuf classes). OpenCV's dnn runs a network on whatever shape it is
// given, so the declared shape is the only way to tell that a card and its model disagree.

#include <cstdint>
#include <string>
#include <vector>

#include "core/result.h"

namespace dxhub::ai {

struct OnnxTensor {
  std::string name;
  std::vector<int64_t> dims;  // -1 where the dimension is symbolic (e.g. the batch)
};

struct OnnxSignature {
  std::vector<OnnxTensor> inputs;  // real inputs only (initializers listed as inputs are left out)
  std::vector<OnnxTensor> outputs;
  int64_t opset = 0;  // of the default ("ai.onnx") domain
};

/// Reads the graph's declared inputs and outputs. kInvalidArgument when the file is not an ONNX
/// model.
Result<OnnxSignature> ReadOnnxSignature(const std::string& path);

}  // namespace dxhub::ai
