#include "web/params.h"

#include <charconv>
#include <ctime>

namespace dxhub::web {

Result<int> ParseInt(const std::string& name, const std::string& text, int min, int max) {
  int value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || value < min || value > max) {
    return MakeError(
        ErrorCode::kInvalidArgument,
        name + " must be an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]");
  }
  return value;
}

Result<std::string> ParseDate(const std::string& name, const std::string& text) {
  std::string digits;
  for (char c : text) {
    if (c != '-')
      digits.push_back(c);
  }
  bool ok = digits.size() == 8 && digits.find_first_not_of("0123456789") == std::string::npos;
  if (!ok)
    return MakeError(ErrorCode::kInvalidArgument, name + " must be YYYYMMDD or YYYY-MM-DD");
  return digits;
}

int64_t DayStartMillis(const std::string& yyyymmdd) {
  std::tm tm{};
  tm.tm_year = std::stoi(yyyymmdd.substr(0, 4)) - 1900;
  tm.tm_mon = std::stoi(yyyymmdd.substr(4, 2)) - 1;
  tm.tm_mday = std::stoi(yyyymmdd.substr(6, 2));
  return static_cast<int64_t>(timegm(&tm)) * 1000;
}

}  // namespace dxhub::web
