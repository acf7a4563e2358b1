// The reference point for bench/inference.sh: the same model on the same files in a tight loop
// on one thread (decode, window, resize, normalise, OpenCV dnn forward), with no queue, index or
// threads around it. Prints one JSON line: images, seconds, images_per_s.
//
// Usage: dxhub_inference_loop CARD_DIR THREADS REPEAT FILE...

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "ai/classifier.h"
#include "ai/model_card.h"
#include "dicom/instance.h"

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: %s CARD_DIR THREADS REPEAT FILE...\n", argv[0]);
    return 2;
  }
  dxhub::dicom::ConfigureDcmtkLogging(false);
  auto card = dxhub::ai::LoadModelCard(argv[1]);
  if (!card.ok()) {
    std::fprintf(stderr, "%s\n", card.error().message.c_str());
    return 1;
  }
  auto classifier = dxhub::ai::Classifier::Load(*card, {std::stoi(argv[2])});
  if (!classifier.ok()) {
    std::fprintf(stderr, "%s\n", classifier.error().message.c_str());
    return 1;
  }
  const int repeat = std::stoi(argv[3]);
  std::vector<std::string> files(argv + 4, argv + argc);
  (*classifier)->Classify(files.front(), 1);  // warm-up: first-run allocations
  const auto start = std::chrono::steady_clock::now();
  int images = 0;
  for (int r = 0; r < repeat; ++r) {
    for (const auto& file : files) {
      auto result = (*classifier)->Classify(file, 1);
      if (result.failure) {
        std::fprintf(stderr, "%s: %s\n", file.c_str(), result.failure->message.c_str());
        return 1;
      }
      ++images;
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("{\"images\": %d, \"seconds\": %.3f, \"images_per_s\": %.2f}\n", images, seconds,
              images / seconds);
  return 0;
}
