#include "ai/onnx_signature.h"

#include <onnx/onnx_pb.h>

#include <fstream>
#include <set>

namespace dxhub::ai {
namespace {

OnnxTensor ToTensor(const onnx::ValueInfoProto& value) {
  OnnxTensor t;
  t.name = value.name();
  for (const auto& dim : value.type().tensor_type().shape().dim())
    t.dims.push_back(dim.has_dim_value() ? dim.dim_value() : -1);
  return t;
}

}  // namespace

Result<OnnxSignature> ReadOnnxSignature(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return MakeError(ErrorCode::kInvalidArgument, "cannot open " + path);
  onnx::ModelProto model;
  if (!model.ParseFromIstream(&in))
    return MakeError(ErrorCode::kInvalidArgument, path + " is not an ONNX model");
  std::set<std::string> initializers;
  for (const auto& init : model.graph().initializer())
    initializers.insert(init.name());
  OnnxSignature sig;
  for (const auto& input : model.graph().input()) {
    if (!initializers.count(input.name()))
      sig.inputs.push_back(ToTensor(input));
  }
  for (const auto& output : model.graph().output())
    sig.outputs.push_back(ToTensor(output));
  for (const auto& opset : model.opset_import()) {
    if (opset.domain().empty() || opset.domain() == "ai.onnx")
      sig.opset = opset.version();
  }
  return sig;
}

}  // namespace dxhub::ai
