// libFuzzer target for the TOML files dxhub reads from outside: `serve --config` files
// (core/config.h) and model cards from researchers (ai/model_card.h). Both must refuse bad input
// with an error, never crash.

#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "ai/model_card.h"
#include "core/config.h"

namespace {

const std::string& Dir() {
  static const std::string dir = [] {
    std::string d = "/tmp/dxhub-fuzz-" + std::to_string(::getpid()) + "-card";
    ::mkdir(d.c_str(), 0700);
    return d;
  }();
  return dir;
}

void Write(const std::string& path, const uint8_t* data, size_t size) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr)
    return;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string card = Dir() + "/card.toml";
  Write(card, data, size);
  auto config = dxhub::LoadConfigFile(card, dxhub::Config{});
  if (config.ok())
    (void)dxhub::ValidateConfig(*config);
  (void)dxhub::ai::LoadModelCard(Dir());
  return 0;
}
