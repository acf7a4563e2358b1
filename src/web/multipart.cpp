#include "web/multipart.h"

#include <algorithm>
#include <cctype>

namespace dxhub::web {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

Error Bad(const std::string& why) {
  return MakeError(ErrorCode::kInvalidArgument, "multipart body: " + why);
}

}  // namespace

std::string ContentTypeParam(std::string_view content_type, std::string_view name) {
  const std::string lower = Lower(content_type);
  const std::string key = Lower(name) + "=";
  size_t pos = 0;
  while ((pos = lower.find(';', pos)) != std::string::npos) {
    ++pos;
    while (pos < lower.size() && lower[pos] == ' ')
      ++pos;
    if (lower.compare(pos, key.size(), key) != 0)
      continue;
    std::string_view value = std::string_view(content_type).substr(pos + key.size());
    if (!value.empty() && value.front() == '"') {
      value.remove_prefix(1);
      return std::string(value.substr(0, value.find('"')));
    }
    return std::string(Trim(value.substr(0, value.find(';'))));
  }
  return {};
}

Result<std::string> MultipartBoundary(std::string_view content_type) {
  std::string boundary = ContentTypeParam(content_type, "boundary");
  if (boundary.empty() || boundary.size() > 70)
    return Bad("Content-Type has no usable boundary parameter");
  return boundary;
}

Result<std::vector<MimePart>> ParseMultipart(std::string_view body, std::string_view boundary) {
  const std::string delimiter = "--" + std::string(boundary);
  // The first delimiter opens the body or follows a preamble line.
  size_t pos = 0;
  if (body.substr(0, delimiter.size()) != delimiter) {
    pos = body.find("\r\n" + delimiter);
    if (pos == std::string_view::npos)
      return Bad("no part starts with the boundary given in Content-Type");
    pos += 2;
  }
  std::vector<MimePart> parts;
  for (;;) {
    pos += delimiter.size();
    if (body.substr(pos, 2) == "--")
      return parts;  // close delimiter; anything after it is epilogue
    while (pos < body.size() && (body[pos] == ' ' || body[pos] == '\t'))
      ++pos;  // transport padding
    if (body.substr(pos, 2) != "\r\n")
      return Bad("boundary line is not followed by CRLF");
    pos += 2;
    size_t headers_end = body.find("\r\n\r\n", pos);
    size_t content = headers_end + 4;
    if (body.substr(pos, 2) == "\r\n") {  // a part without headers
      headers_end = pos;
      content = pos + 2;
    }
    if (headers_end == std::string_view::npos)
      return Bad("a part has no end of headers (truncated?)");
    MimePart part;
    std::string_view headers = body.substr(pos, headers_end - pos);
    while (!headers.empty()) {
      size_t eol = headers.find("\r\n");
      std::string_view line = headers.substr(0, eol);
      size_t colon = line.find(':');
      if (colon == std::string_view::npos)
        return Bad("malformed part header");
      part.headers[Lower(Trim(line.substr(0, colon)))] = std::string(Trim(line.substr(colon + 1)));
      if (eol == std::string_view::npos)
        break;
      headers.remove_prefix(eol + 2);
    }
    size_t next = body.find("\r\n" + delimiter, content);
    if (next == std::string_view::npos)
      return Bad("the body ends inside a part: the close delimiter is missing (truncated)");
    part.body = body.substr(content, next - content);
    parts.push_back(std::move(part));
    pos = next + 2;
  }
}

}  // namespace dxhub::web
