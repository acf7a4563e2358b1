#pragma once
// multipart/related bodies (RFC 2046 / RFC 2387) as STOW-RS receives them. cpp-httplib parses
// only multipart/form-data, so the splitting of related parts lives here; it is small, strict
// (a missing close delimiter is an error, never a silently shortened upload) and fuzzed.

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace dxhub::web {

struct MimePart {
  std::map<std::string, std::string> headers;  // names lower-cased, values trimmed
  std::string_view body;                       // points into the parsed buffer
};

/// The boundary parameter of a multipart Content-Type header (quoted or not).
Result<std::string> MultipartBoundary(std::string_view content_type);

/// The value of parameter `name` (e.g. "type") of a Content-Type header, lower-cased; empty when
/// absent.
std::string ContentTypeParam(std::string_view content_type, std::string_view name);

/// Splits `body` into its parts. Errors (kInvalidArgument): no opening delimiter (wrong
/// boundary), a part without a header/body separator, a missing close delimiter (truncated).
Result<std::vector<MimePart>> ParseMultipart(std::string_view body, std::string_view boundary);

}  // namespace dxhub::web
