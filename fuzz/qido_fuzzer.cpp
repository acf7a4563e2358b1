// libFuzzer target for QIDO-RS query strings (web/qido.h): the input is split as a URL query
// (k=v&k=v, percent-decoding left to the caller as httplib does) and parsed at every level.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "web/qido.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::multimap<std::string, std::string> params;
  size_t start = 0;
  while (start <= input.size()) {
    size_t amp = input.find('&', start);
    if (amp == std::string_view::npos)
      amp = input.size();
    const std::string_view pair = input.substr(start, amp - start);
    const size_t eq = pair.find('=');
    params.emplace(std::string(pair.substr(0, eq)),
                   eq == std::string_view::npos ? "" : std::string(pair.substr(eq + 1)));
    start = amp + 1;
  }
  for (auto level : {dxhub::store::Level::kStudy, dxhub::store::Level::kSeries,
                     dxhub::store::Level::kInstance}) {
    (void)dxhub::web::ParseQido(level, params, {});
  }
  return 0;
}
