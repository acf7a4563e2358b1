// libFuzzer target for the STOW-RS multipart/related splitter (web/multipart.h).

#include <cstdint>
#include <string_view>

#include "web/multipart.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  // First line: a Content-Type header; the rest: the body.
  size_t eol = input.find('\n');
  if (eol == std::string_view::npos)
    return 0;
  auto boundary = dxhub::web::MultipartBoundary(input.substr(0, eol));
  if (boundary.ok())
    (void)dxhub::web::ParseMultipart(input.substr(eol + 1), *boundary);
  return 0;
}
