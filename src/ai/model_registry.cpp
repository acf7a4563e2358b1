#include "ai/model_registry.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include "ai/classifier.h"
#include "core/fs.h"

namespace dxhub::ai {

namespace stdfs = std::filesystem;

ModelScan ScanModels(const std::vector<std::string>& roots) {
  ModelScan scan;
  std::set<std::string> seen;
  for (const auto& root : roots) {
    std::error_code ec;
    if (!stdfs::is_directory(root, ec))
      continue;
    std::vector<stdfs::path> dirs;
    for (const auto& entry : stdfs::directory_iterator(root, ec)) {
      if (entry.is_directory() && stdfs::exists(entry.path() / "card.toml"))
        dirs.push_back(entry.path());
    }
    std::sort(dirs.begin(), dirs.end());
    for (const auto& dir : dirs) {
      auto card = LoadModelCard(dir.string());
      if (!card.ok()) {
        scan.problems.push_back(card.error().message);
        continue;
      }
      if (!seen.insert(card->Id()).second) {
        scan.problems.push_back(dir.string() + ": " + card->Id() +
                                " is already provided by another folder; skipped");
        continue;
      }
      scan.cards.push_back(std::move(card.value()));
    }
  }
  return scan;
}

Result<ModelCard> AddModel(const std::string& source, const std::string& dest_root) {
  auto card = LoadModelCard(source);
  if (!card.ok())
    return card.error();
  auto classifier = Classifier::Load(*card, BackendOptions{1});
  if (!classifier.ok())
    return classifier.error();
  const stdfs::path dest = stdfs::path(dest_root) / (card->name + "-" + card->version);
  std::error_code ec;
  if (stdfs::exists(dest, ec)) {
    return MakeError(ErrorCode::kAlreadyExists,
                     card->Id() + " is already installed in " + dest.string());
  }
  DXHUB_TRY(fs::MakeDirs(dest_root));
  // Copy into a temp name, then rename: a half-copied model is never scanned.
  const stdfs::path temp = stdfs::path(dest_root) / (".adding-" + card->name);
  stdfs::remove_all(temp, ec);
  DXHUB_TRY(fs::MakeDirs(temp.string()));
  for (const char* name : {"card.toml", card->file.c_str()}) {
    DXHUB_TRY(fs::CopyFileSynced((stdfs::path(card->dir) / name).string(), (temp / name).string()));
  }
  DXHUB_TRY(fs::RenameDurable(temp.string(), dest.string()));
  return LoadModelCard(dest.string());
}

}  // namespace dxhub::ai
