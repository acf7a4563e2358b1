#pragma once
// DICOMweb routes under /dicom-web (PS3.18): QIDO-RS search, WADO-RS retrieve, metadata, frames,
// rendered and thumbnails, STOW-RS store.
// Private to the web layer (it names httplib types).

#include <httplib.h>

#include <nlohmann/json.hpp>

#include "core/byte_cache.h"
#include "dicom/pixels.h"
#include "store/archive.h"
#include "web/route_table.h"

namespace dxhub::web {

/// Owns the DICOMweb handlers; must outlive the server it registered them on.
class DicomWebRoutes {
 public:
  /// `public_url` (e.g. "https://pacs.example.org"), when set, is the origin of absolute URLs
  /// in answers; otherwise they are built from the request's Host header once it is validated.
  DicomWebRoutes(store::Archive& archive, size_t cache_bytes, std::string public_url = "",
                 bool https = false)
      : archive_(archive),
        cache_(cache_bytes),
        public_url_(std::move(public_url)),
        scheme_(https ? "https" : "http") {}
  void Register(RouteTable& routes);
  /// A rendered frame of `row` from the cache, rendering it on a miss (also for share links).
  Result<ByteCache::Value> Render(const store::QueryRow& row, int frame,
                                  const dicom::RenderOptions& options);

 private:
  void Qido(RouteTable& s, const std::string& pattern, store::Level level,
            const std::vector<store::Field>& path_fields);
  void Metadata(RouteTable& s, const std::string& pattern, const std::vector<store::Field>& fields);
  void Retrieve(RouteTable& s, const std::string& pattern, const std::vector<store::Field>& fields);
  void BulkData(RouteTable& s, const std::string& pattern);
  void Frames(RouteTable& s, const std::string& pattern);
  void Rendered(RouteTable& s, const std::string& pattern, bool frame_in_path);
  void Thumbnail(RouteTable& s, const std::string& pattern, const std::vector<store::Field>& fields,
                 bool frame_in_path);
  void Stow(RouteTable& s, const std::string& pattern, bool study_in_path);
  /// The instances under a WADO-RS path that `scope` sees, or kNotFound.
  Result<std::vector<store::QueryRow>> Instances(const store::Scope& scope,
                                                 const httplib::Request& req,
                                                 const std::vector<store::Field>& fields);

  /// The DICOMweb root as clients reach it, for RetrieveURL and BulkDataURI.
  std::string BaseUrl(const httplib::Request& req) const;

  store::Archive& archive_;
  ByteCache cache_;  // rendered images and metadata JSON, keyed by content hash
  std::string public_url_;
  std::string scheme_;
};

/// True when `host` is a plain host[:port] (name, IPv4 or [IPv6]) fit to put into a URL; a Host
/// header is caller text, and was reflected into answers as it came.
bool IsValidHostHeader(const std::string& host);

/// Writes a JSON error body {"error", "message"} with the error table's HTTP status.
void SendErrorResponse(httplib::Response& res, const Error& error);
/// Writes `body` as application/json (invalid UTF-8 from a dataset is replaced, not thrown on).
void SendJsonResponse(httplib::Response& res, int status, const nlohmann::json& body);

}  // namespace dxhub::web
