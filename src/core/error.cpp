#include "core/error.h"

#include <array>

namespace dxhub {
namespace {

// DICOM statuses: 0xA700 Refused: Out of Resources, 0xA900 Error: Data Set does not match SOP
// Class, 0xC000 Error: Cannot understand, 0x0122 SOP class not supported, 0x0124 not authorized.
constexpr std::array<ErrorInfo, 18> kTable = {{
    {"invalid_argument", 400, 0xC000},
    {"malformed_dicom", 400, 0xC000},
    {"missing_attribute", 400, 0xA900},
    {"sop_mismatch", 409, 0xA900},
    {"not_found", 404, 0xC000},
    {"already_exists", 409, 0x0111},
    {"unauthorized", 401, 0x0124},
    {"forbidden", 403, 0x0124},
    {"io_error", 500, 0xA700},
    {"disk_full", 507, 0xA700},
    {"database_error", 500, 0xA700},
    {"unavailable", 503, 0xA700},
    {"unsupported", 415, 0x0122},
    {"not_acceptable", 406, 0xC000},
    {"too_large", 413, 0xA700},
    {"too_many_requests", 429, 0xA700},
    {"conflict", 409, 0xC000},
    {"internal_error", 500, 0xC000},
}};

}  // namespace

const ErrorInfo& Describe(ErrorCode code) {
  auto index = static_cast<size_t>(code);
  if (index >= kTable.size())
    index = static_cast<size_t>(ErrorCode::kInternal);
  return kTable[index];
}

}  // namespace dxhub
