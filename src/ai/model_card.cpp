#include "ai/model_card.h"

#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <set>

namespace dxhub::ai {
namespace {

Error CardError(const std::string& dir, const std::string& what) {
  return MakeError(ErrorCode::kInvalidArgument, "model card " + dir + "/card.toml: " + what);
}

std::vector<std::string> Strings(const toml::node_view<toml::node>& node) {
  std::vector<std::string> out;
  if (auto* arr = node.as_array()) {
    for (auto& item : *arr) {
      if (auto s = item.value<std::string>())
        out.push_back(*s);
    }
  }
  return out;
}

std::vector<float> Floats(const toml::node_view<toml::node>& node) {
  std::vector<float> out;
  if (auto* arr = node.as_array()) {
    for (auto& item : *arr) {
      if (auto d = item.value<double>())
        out.push_back(static_cast<float>(*d));
    }
  }
  return out;
}

bool Contains(const std::vector<std::string>& list, const std::string& value) {
  return list.empty() || std::find(list.begin(), list.end(), value) != list.end();
}

}  // namespace

Result<ModelCard> LoadModelCard(const std::string& dir_in) {
  std::error_code ec;
  const std::string dir = std::filesystem::absolute(dir_in, ec).lexically_normal().string();
  const std::string path = dir + "/card.toml";
  toml::table t;
  try {
    t = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    return CardError(dir, std::string(e.description()));
  }
  static const std::set<std::string> kTop = {"name",  "version",    "file",  "intended_use",
                                             "input", "applies_to", "output"};
  for (const auto& [key, _] : t) {
    if (!kTop.count(std::string(key.str())))
      return CardError(dir, "unknown key '" + std::string(key.str()) + "'");
  }
  ModelCard card;
  card.dir = dir;
  card.name = t["name"].value_or(std::string());
  card.version = t["version"].value_or(std::string());
  card.file = t["file"].value_or(std::string("model.onnx"));
  card.intended_use = t["intended_use"].value_or(std::string());
  const bool name_ok = !card.name.empty() && card.name.size() <= 64 &&
                       std::all_of(card.name.begin(), card.name.end(), [](unsigned char ch) {
                         return std::isalnum(ch) != 0 || ch == '-' || ch == '_' || ch == '.';
                       });
  if (!name_ok)
    return CardError(dir, "name must be 1-64 letters, digits, '-', '_' or '.'");
  if (card.version.empty() || card.version.size() > 32)
    return CardError(dir, "version is required (at most 32 characters)");
  if (card.file.empty() || card.file.find('/') != std::string::npos || card.file[0] == '.')
    return CardError(dir, "file must name an ONNX file in the card's folder");
  if (card.intended_use.empty())
    return CardError(dir, "intended_use is required: say what the model is for and is not for");

  auto input = t["input"];
  if (input["layout"].value_or(std::string("NCHW")) != "NCHW") {
    return CardError(dir, "input.layout must be NCHW");
  }
  card.width = static_cast<int>(input["width"].value_or(int64_t{0}));
  card.height = static_cast<int>(input["height"].value_or(int64_t{0}));
  card.channels = static_cast<int>(input["channels"].value_or(int64_t{1}));
  if (card.width < 1 || card.height < 1 || card.width > 4096 || card.height > 4096)
    return CardError(dir, "input.width and input.height must be 1..4096");
  if (card.channels != 1 && card.channels != 3)
    return CardError(dir, "input.channels must be 1 or 3");
  card.mean = Floats(input["mean"]);
  card.std = Floats(input["std"]);
  if (card.mean.empty())
    card.mean.assign(static_cast<size_t>(card.channels), 0.0F);
  if (card.std.empty())
    card.std.assign(static_cast<size_t>(card.channels), 1.0F);
  if (card.mean.size() != static_cast<size_t>(card.channels) ||
      card.std.size() != static_cast<size_t>(card.channels)) {
    return CardError(dir, "input.mean and input.std need one value per channel");
  }
  if (std::any_of(card.std.begin(), card.std.end(), [](float s) { return s <= 0; }))
    return CardError(dir, "input.std values must be positive");
  card.jpeg2000_reduced = input["jpeg2000_reduced_resolution"].value_or(false);
  const std::string resize = input["resize"].value_or(std::string("stretch"));
  if (resize == "stretch") {
    card.resize = ModelCard::Resize::kStretch;
  } else if (resize == "letterbox") {
    card.resize = ModelCard::Resize::kLetterbox;
  } else {
    return CardError(dir, "input.resize must be \"stretch\" or \"letterbox\"");
  }
  if (auto* window_pair = input["window"].as_array()) {
    auto values = Floats(input["window"]);
    if (values.size() != 2 || window_pair->size() != 2 || values[1] <= 0)
      return CardError(dir, "input.window must be \"dataset\", \"minmax\" or [center, width > 0]");
    card.window = ModelCard::Window::kExplicit;
    card.window_center = values[0];
    card.window_width = values[1];
  } else {
    const std::string window = input["window"].value_or(std::string("dataset"));
    if (window == "dataset") {
      card.window = ModelCard::Window::kDataset;
    } else if (window == "minmax") {
      card.window = ModelCard::Window::kMinMax;
    } else {
      return CardError(dir, "input.window must be \"dataset\", \"minmax\" or [center, width > 0]");
    }
  }

  card.modalities = Strings(t["applies_to"]["modalities"]);
  card.sop_classes = Strings(t["applies_to"]["sop_classes"]);
  card.body_parts = Strings(t["applies_to"]["body_parts"]);

  auto output = t["output"];
  card.labels = Strings(output["labels"]);
  card.high_risk = Strings(output["high_risk"]);
  card.threshold = output["threshold"].value_or(0.5);
  if (card.labels.empty())
    return CardError(dir, "output.labels must list the model's classes in output order");
  if (std::set<std::string>(card.labels.begin(), card.labels.end()).size() != card.labels.size())
    return CardError(dir, "output.labels must be distinct");
  for (const auto& label : card.high_risk) {
    if (std::find(card.labels.begin(), card.labels.end(), label) == card.labels.end())
      return CardError(dir, "output.high_risk label '" + label + "' is not in output.labels");
  }
  if (card.threshold < 0 || card.threshold > 1)
    return CardError(dir, "output.threshold must be in [0, 1]");
  const std::string activation = output["activation"].value_or(std::string("softmax"));
  if (activation == "softmax") {
    card.activation = ModelCard::Activation::kSoftmax;
  } else if (activation == "sigmoid") {
    card.activation = ModelCard::Activation::kSigmoid;
  } else if (activation == "none") {
    card.activation = ModelCard::Activation::kNone;
  } else {
    return CardError(dir, "output.activation must be \"softmax\", \"sigmoid\" or \"none\"");
  }
  if (!std::filesystem::is_regular_file(card.OnnxPath(), ec))
    return CardError(dir, "model file " + card.file + " not found beside the card");
  return card;
}

bool AppliesTo(const ModelCard& card, const std::string& modality, const std::string& sop_class,
               const std::string& body_part) {
  // Documents and overlays are not pictures to classify: a card for "any modality" does not
  // take reports (SR, the report's PDF), segmentations, presentation states or key objects; a
  // card that names one of them does.
  static const std::vector<std::string> kNotPictures = {"SR", "DOC",      "SEG", "PR",
                                                        "KO", "RTSTRUCT", "REG"};
  if (card.modalities.empty() &&
      std::find(kNotPictures.begin(), kNotPictures.end(), modality) != kNotPictures.end())
    return false;
  return Contains(card.modalities, modality) && Contains(card.sop_classes, sop_class) &&
         Contains(card.body_parts, body_part);
}

}  // namespace dxhub::ai
