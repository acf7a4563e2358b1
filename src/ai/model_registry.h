#pragma once
// Where models come from: folders of model folders (the bundled models/ and the archive's own
// DATA/models, where `dxhub model add` copies new ones), each holding card.toml + ONNX file.

#include <string>
#include <vector>

#include "ai/model_card.h"
#include "core/result.h"

namespace dxhub::ai {

struct ModelScan {
  std::vector<ModelCard> cards;       // valid cards, first occurrence of each name@version
  std::vector<std::string> problems;  // cards that were skipped, with the reason
};

/// Reads every <dir>/<model>/card.toml under `roots` (missing roots are skipped).
ModelScan ScanModels(const std::vector<std::string>& roots);

/// Validates the model folder `source` (card, and the ONNX file against it) and copies it to
/// `dest_root`/<name>-<version>. kAlreadyExists when that model version is already there.
Result<ModelCard> AddModel(const std::string& source, const std::string& dest_root);

}  // namespace dxhub::ai
