// libFuzzer target for the parser of outside input every ingest path uses
// (dicom::ReadInstanceFile, and dicom::ReadInstance on the bytes in memory as C-STORE parses
// them), with and without blank-UID coercion and the coerced rewrite.
// Build and run: `make fuzz` (clang, -fsanitize=fuzzer,address,undefined).

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "dicom/instance.h"

namespace {

std::string ScratchPath(const char* what) {
  return "/tmp/dxhub-fuzz-" + std::to_string(::getpid()) + "-" + what;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string input = ScratchPath("in.dcm");
  static const std::string output = ScratchPath("out.dcm");
  static bool quiet = (dxhub::dicom::ConfigureDcmtkLogging(false), true);
  (void)quiet;
  FILE* f = std::fopen(input.c_str(), "wb");
  if (f == nullptr)
    return 0;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  auto from_file = dxhub::dicom::ReadInstanceFile(input, false);
  auto from_memory = dxhub::dicom::ReadInstance(
      input, std::string_view(reinterpret_cast<const char*>(data), size), false);
  // The two must agree on every input: a C-STORE must be judged as an import of the same file.
  if (size > 0 && from_file.ok() != from_memory.ok())
    __builtin_trap();
  auto coerced = dxhub::dicom::ReadInstanceFile(input, true);
  if (coerced.ok() && !coerced->coerced.empty()) {
    (void)dxhub::dicom::WriteCoerced(input, *coerced, output);
  }
  return 0;
}
