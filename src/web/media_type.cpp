#include "web/media_type.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "core/strings.h"

namespace dxhub::web {
namespace {

constexpr const char* kExplicitLe = "1.2.840.10008.1.2.1";
constexpr const char* kOctetStream = "application/octet-stream";

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t");
  size_t e = s.find_last_not_of(" \t");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string Unquote(std::string s) {
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"')
    return s.substr(1, s.size() - 2);
  return s;
}

// Splits on `sep` outside double quotes (a quoted type="a, b" stays whole).
std::vector<std::string> SplitOutsideQuotes(const std::string& s, char sep) {
  std::vector<std::string> out(1);
  bool quoted = false;
  for (char c : s) {
    if (c == '"')
      quoted = !quoted;
    if (c == sep && !quoted) {
      out.emplace_back();
    } else {
      out.back().push_back(c);
    }
  }
  return out;
}

bool IsUncompressed(const std::string& ts) {
  return ts == kExplicitLe || ts == "1.2.840.10008.1.2" || ts == "1.2.840.10008.1.2.2" ||
         ts == "1.2.840.10008.1.2.1.99";  // deflate compresses the dataset, not the pixels
}

std::string WithSyntax(const std::string& type, const std::string& ts) {
  return type + "; transfer-syntax=" + ts;
}

}  // namespace

std::vector<MediaRange> ParseAccept(const std::string& header) {
  std::vector<MediaRange> ranges;
  for (const auto& item : SplitOutsideQuotes(header, ',')) {
    auto fields = SplitOutsideQuotes(item, ';');
    MediaRange range;
    range.type = Lower(Trim(fields[0]));
    if (range.type.empty())
      continue;
    for (size_t i = 1; i < fields.size(); ++i) {
      const std::string field = Trim(fields[i]);
      const size_t eq = field.find('=');
      if (eq == std::string::npos)
        continue;
      std::string name = Lower(Trim(field.substr(0, eq)));
      std::string value = Unquote(Trim(field.substr(eq + 1)));
      if (name == "q") {
        range.q = std::strtod(value.c_str(), nullptr);
      } else {
        range.params[name] = value;
      }
    }
    if (range.q > 0)
      ranges.push_back(std::move(range));
  }
  std::stable_sort(ranges.begin(), ranges.end(),
                   [](const MediaRange& a, const MediaRange& b) { return a.q > b.q; });
  return ranges;
}

std::string FrameMediaType(const std::string& ts) {
  static const std::map<std::string, std::string> kTypes = {
      {"1.2.840.10008.1.2.4.50", "image/jpeg"},  {"1.2.840.10008.1.2.4.51", "image/jpeg"},
      {"1.2.840.10008.1.2.4.57", "image/jpeg"},  {"1.2.840.10008.1.2.4.70", "image/jpeg"},
      {"1.2.840.10008.1.2.4.80", "image/jls"},   {"1.2.840.10008.1.2.4.81", "image/jls"},
      {"1.2.840.10008.1.2.4.90", "image/jp2"},   {"1.2.840.10008.1.2.4.91", "image/jp2"},
      {"1.2.840.10008.1.2.4.92", "image/jpx"},   {"1.2.840.10008.1.2.4.93", "image/jpx"},
      {"1.2.840.10008.1.2.5", "image/dicom-rle"}};
  if (IsUncompressed(ts))
    return kOctetStream;
  auto it = kTypes.find(ts);
  return it == kTypes.end() ? std::string() : it->second;
}

std::optional<FrameAnswer> NegotiateFrames(const std::vector<MediaRange>& accept,
                                           const std::string& stored_syntax) {
  const FrameAnswer native{false, WithSyntax(kOctetStream, kExplicitLe), kOctetStream};
  if (accept.empty())
    return native;
  const std::string stored_type = FrameMediaType(stored_syntax);
  const bool stored_is_native = stored_type == kOctetStream;
  for (const auto& range : accept) {
    std::string type = range.type;
    std::string syntax;
    if (auto it = range.params.find("transfer-syntax"); it != range.params.end())
      syntax = it->second;
    if (type == "multipart/related") {
      auto it = range.params.find("type");
      type = it == range.params.end() ? kOctetStream : Lower(it->second);
    }
    if (type == "image/x-dicom-rle")
      type = "image/dicom-rle";  // the name before PS3.18 2019
    if (type == "*/*")
      return native;
    if (type == kOctetStream) {
      if (syntax.empty() || syntax == kExplicitLe || (syntax == "*" && stored_is_native))
        return native;
      if (syntax == "*" && !stored_type.empty()) {
        return FrameAnswer{true, WithSyntax(kOctetStream, stored_syntax), kOctetStream};
      }
      continue;
    }
    if (!stored_is_native && type == stored_type &&
        (syntax.empty() || syntax == "*" || syntax == stored_syntax)) {
      return FrameAnswer{true, WithSyntax(type, stored_syntax), type};
    }
  }
  return std::nullopt;
}

}  // namespace dxhub::web
