// libFuzzer target for the DICOMweb Accept header (web/media_type.h): parsing any header and
// negotiating frames for every stored encoding must answer, never crash or hang.

#include <cstdint>
#include <string>

#include "web/media_type.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string header(reinterpret_cast<const char*>(data), size);
  const auto ranges = dxhub::web::ParseAccept(header);
  for (const char* ts : {"1.2.840.10008.1.2.1", "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.50",
                         "1.2.840.10008.1.2.5", "1.2.840.10008.1.2.4.80"}) {
    (void)dxhub::web::NegotiateFrames(ranges, ts);
    (void)dxhub::web::FrameMediaType(ts);
  }
  return 0;
}
