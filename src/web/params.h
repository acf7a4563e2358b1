#pragma once
// Query-parameter parsing shared by the REST routes: bad values are kInvalidArgument errors that
// name the parameter, so a client sees which one to fix.

#include <cstdint>
#include <string>

#include "core/result.h"

namespace dxhub::web {

/// An integer in [min, max].
Result<int> ParseInt(const std::string& name, const std::string& text, int min, int max);
/// Accepts YYYYMMDD or YYYY-MM-DD and returns YYYYMMDD.
Result<std::string> ParseDate(const std::string& name, const std::string& text);
/// Milliseconds since the epoch at 00:00 UTC of a YYYYMMDD day.
int64_t DayStartMillis(const std::string& yyyymmdd);

}  // namespace dxhub::web
