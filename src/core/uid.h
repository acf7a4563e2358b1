#pragma once

#include <string_view>

#include "core/result.h"

namespace dxhub {

/// Checks that `uid` is a DICOM UID (PS3.5 §9.1): 1..64 characters, dot-separated numeric
/// components, none empty. Leading zeros inside a component are tolerated because real modalities
/// emit them and they cannot cause harm; anything else (letters, '/', '..', spaces) is rejected.
/// `what` names the attribute in the error message.
Status ValidateUid(std::string_view uid, std::string_view what);

}  // namespace dxhub
