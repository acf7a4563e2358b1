#include "core/uid.h"

#include <string>

namespace dxhub {

Status ValidateUid(std::string_view uid, std::string_view what) {
  auto fail = [&](std::string_view why) {
    return MakeError(ErrorCode::kInvalidArgument,
                     std::string(what) + " is not a valid UID (" + std::string(why) + ")");
  };
  if (uid.empty())
    return MakeError(ErrorCode::kMissingAttribute, std::string(what) + " is empty");
  if (uid.size() > 64)
    return fail("longer than 64 characters");
  bool component_empty = true;
  for (char c : uid) {
    if (c == '.') {
      if (component_empty)
        return fail("empty component");
      component_empty = true;
    } else if (c >= '0' && c <= '9') {
      component_empty = false;
    } else {
      return fail("only digits and '.' are allowed");
    }
  }
  if (component_empty)
    return fail("ends with '.'");
  return Ok();
}

}  // namespace dxhub
