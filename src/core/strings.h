#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace dxhub {

/// Parses the whole of `text` as a decimal number; false (value untouched) otherwise.
bool ParseNumber(std::string_view text, double& value);

/// Splits `text` at every character in `separators`, keeping empty fields ("a,,b" -> a, "", b;
/// "" -> one empty field), so callers can reject empty list items explicitly.
std::vector<std::string> Split(std::string_view text, std::string_view separators);

/// `text` with A-Z turned to a-z and every other byte kept (UTF-8 stays intact): for names
/// compared without case, e.g. an incoming InstitutionName.
std::string AsciiLower(std::string_view text);

}  // namespace dxhub
