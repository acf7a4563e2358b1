// `dxhub model list|add|enable|disable`: what a researcher or IT engineer does to put a model
// into service or take it out. Enable/disable take effect in a running server within seconds;
// an added model is loaded at the next start of `serve`.

#include <cstdio>
#include <nlohmann/json.hpp>
#include <span>

#include "ai/classifier.h"
#include "ai/model_registry.h"
#include "app/commands.h"
#include "core/clock.h"
#include "core/fs.h"
#include "dicom/instance.h"
#include "store/archive.h"

namespace dxhub::app {

namespace {

// `model run`: one file through one model outside the queue, printing the raw scores per frame
// as JSON (and the input tensors with --dump): for researchers checking a model, and for the
// parity test against PyTorch.
int RunOne(const ai::ModelScan& scan, const ModelOptions& options) {
  const ai::ModelCard* card = nullptr;
  for (const auto& c : scan.cards) {
    if (c.Id() == options.target)
      card = &c;
  }
  if (card == nullptr || options.file.empty()) {
    std::fprintf(stderr, "dxhub: model run needs a known name@version and a DICOM file\n");
    return 2;
  }
  auto classifier = ai::Classifier::Load(*card, ai::BackendOptions{});
  if (!classifier.ok()) {
    std::fprintf(stderr, "dxhub: %s\n", classifier.error().message.c_str());
    return 1;
  }
  auto info = dicom::ReadInstanceFile(options.file, /*coerce_missing_uids=*/true);
  if (!info.ok()) {
    std::fprintf(stderr, "dxhub: %s\n", info.error().message.c_str());
    return 1;
  }
  nlohmann::json frames = nlohmann::json::array();
  for (int frame : ai::Classifier::FramesToRead(info->frames)) {
    auto tensor = (*classifier)->Prepare(options.file, frame);
    if (!tensor.ok()) {
      std::fprintf(stderr, "dxhub: frame %d: %s\n", frame, tensor.error().message.c_str());
      return 1;
    }
    if (!options.dump.empty()) {
      const std::string path = options.dump + "." + std::to_string(frame) + ".f32";
      Status written = fs::WriteFile(
          path,
          std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(tensor->data.data()),
                                   tensor->data.size() * sizeof(float)),
          false);
      if (!written.ok()) {
        std::fprintf(stderr, "dxhub: %s\n", written.error().message.c_str());
        return 1;
      }
    }
    auto raw = (*classifier)->RunTensor(*tensor);
    if (!raw.ok()) {
      std::fprintf(stderr, "dxhub: frame %d: %s\n", frame, raw.error().message.c_str());
      return 1;
    }
    ai::Prediction p = ai::Interpret(*card, *raw);
    frames.push_back({{"frame", frame},
                      {"shape", {tensor->n, tensor->c, tensor->h, tensor->w}},
                      {"raw", *raw},
                      {"probabilities", p.probabilities},
                      {"label", p.label},
                      {"high_risk", p.high_risk}});
  }
  std::printf("%s\n", nlohmann::json{{"model", card->Id()}, {"frames", frames}}.dump().c_str());
  return 0;
}

}  // namespace

int RunModel(const Config& config, const ModelOptions& options) {
  SystemClock clock;
  auto archive = store::Archive::Open(config, clock);
  if (!archive.ok()) {
    std::fprintf(stderr, "dxhub: cannot open archive in %s: %s\n", config.data_dir.c_str(),
                 archive.error().ToString().c_str());
    return 1;
  }
  store::AiStore& ai = (*archive)->index().ai();

  if (options.action == "add") {
    if (options.target.empty()) {
      std::fprintf(stderr, "dxhub: model add needs the model folder\n");
      return 2;
    }
    auto card = ai::AddModel(options.target, config.ModelDir());
    if (!card.ok()) {
      std::fprintf(stderr, "dxhub: %s\n", card.error().message.c_str());
      return 1;
    }
    std::printf("added %s (%s); it runs from the next start of dxhub serve\n", card->Id().c_str(),
                card->dir.c_str());
    return 0;
  }

  auto scan = ai::ScanModels(config.ModelRoots());
  if (options.action == "enable" || options.action == "disable") {
    bool known = false;
    for (const auto& card : scan.cards)
      known = known || card.Id() == options.target;
    if (!known) {
      std::fprintf(stderr, "dxhub: no model %s (see dxhub model list; ids are name@version)\n",
                   options.target.c_str());
      return 1;
    }
    Status st = ai.SetModelEnabled(options.target, options.action == "enable", clock.NowMillis());
    if (!st.ok()) {
      std::fprintf(stderr, "dxhub: %s\n", st.error().message.c_str());
      return 1;
    }
    std::printf("%s %sd\n", options.target.c_str(), options.action.c_str());
    return 0;
  }

  if (options.action == "run")
    return RunOne(scan, options);

  auto disabled = ai.DisabledModels();
  if (!disabled.ok()) {
    std::fprintf(stderr, "dxhub: %s\n", disabled.error().message.c_str());
    return 1;
  }
  std::printf("%-32s %-9s %-10s %s\n", "MODEL", "STATE", "INPUT", "FOLDER");
  for (const auto& card : scan.cards) {
    auto loaded = ai::Classifier::Load(card, ai::BackendOptions{1});
    const char* state = !loaded.ok()                 ? "broken"
                        : disabled->count(card.Id()) ? "disabled"
                                                     : "enabled";
    const std::string input = std::to_string(card.channels) + "x" + std::to_string(card.height) +
                              "x" + std::to_string(card.width);
    std::printf("%-32s %-9s %-10s %s\n", card.Id().c_str(), state, input.c_str(), card.dir.c_str());
    if (!loaded.ok())
      std::printf("  ! %s\n", loaded.error().message.c_str());
  }
  for (const auto& problem : scan.problems)
    std::printf("  ! skipped: %s\n", problem.c_str());
  return 0;
}

}  // namespace dxhub::app
