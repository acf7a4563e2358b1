#pragma once
// HTTP Accept negotiation for WADO-RS (PS3.18 §8.7): parsing media ranges with their parameters,
// and choosing how frames are answered. Free of HTTP library types so it can be unit-tested.

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace dxhub::web {

struct MediaRange {
  std::string type;                           // lower case, e.g. "multipart/related"
  std::map<std::string, std::string> params;  // names lower case, values unquoted
  double q = 1.0;
};

/// The media ranges of an Accept header, best first (by q, then header order). Ranges with q=0
/// are dropped. An empty header gives an empty list (the caller's default applies).
std::vector<MediaRange> ParseAccept(const std::string& header);

/// The single-part media type of a frame in `transfer_syntax_uid` (PS3.18 Table 8.7.3-2):
/// image/jpeg, image/jls, image/jp2, image/jpx, image/dicom-rle, or application/octet-stream
/// for native pixels. Empty for encodings with no frame media type (video).
std::string FrameMediaType(const std::string& transfer_syntax_uid);

/// How to answer a WADO-RS frames request for an instance stored in `stored_syntax`.
struct FrameAnswer {
  bool as_stored = false;  // send the stored bitstream; otherwise decode to native pixels
  std::string part_type;   // Content-Type of each part, with its transfer-syntax parameter
  std::string root_type;   // the `type` parameter of the multipart/related answer
};

/// The first acceptable answer among `accept` (from ParseAccept), or nullopt for a 406.
/// Native pixels (explicit VR little endian, application/octet-stream) are the default for an
/// empty Accept, */* and multipart/related without a type; `transfer-syntax=*` asks for the
/// stored encoding, whatever it is; an image type asks for the stored encoding when it is that
/// type (frames are never re-encoded).
std::optional<FrameAnswer> NegotiateFrames(const std::vector<MediaRange>& accept,
                                           const std::string& stored_syntax);

}  // namespace dxhub::web
