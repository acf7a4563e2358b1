#pragma once
// DICOMweb routes under /dicom-web (PS3.18): QIDO-RS search, WADO-RS retrieve, metadata, frames,
// rendered and thumbnails, STOW-RS store.
// Private to the web layer (it names httplib types).

#include <httplib.h>

#include <nlohmann/json.hpp>

#include "core/byte_cache.h"
#include "dicom/pixels.h"
#include "store/archive.h"

namespace dxhub::web {

/// Owns the DICOMweb handlers; must outlive the server it registered them on.
class DicomWebRoutes {
 public:
  DicomWebRoutes(store::Archive& archive, size_t cache_bytes)
      : archive_(archive), cache_(cache_bytes) {}
  void Register(httplib::Server& server);

 private:
  void Qido(httplib::Server& s, const std::string& pattern, store::Level level,
            const std::vector<store::Field>& path_fields);
  void Metadata(httplib::Server& s, const std::string& pattern,
                const std::vector<store::Field>& fields);
  void Retrieve(httplib::Server& s, const std::string& pattern,
                const std::vector<store::Field>& fields);
  void BulkData(httplib::Server& s, const std::string& pattern);
  void Frames(httplib::Server& s, const std::string& pattern);
  void Rendered(httplib::Server& s, const std::string& pattern, bool frame_in_path);
  void Thumbnail(httplib::Server& s, const std::string& pattern,
                 const std::vector<store::Field>& fields, bool frame_in_path);
  /// A rendered frame of `row` from the cache, rendering it on a miss.
  Result<ByteCache::Value> Render(const store::QueryRow& row, int frame,
                                  const dicom::RenderOptions& options);
  void Stow(httplib::Server& s, const std::string& pattern, bool study_in_path);
  Result<std::vector<store::QueryRow>> Instances(const httplib::Request& req,
                                                 const std::vector<store::Field>& fields);

  store::Archive& archive_;
  ByteCache cache_;  // rendered images and metadata JSON, keyed by content hash
};

/// Writes a JSON error body {"error", "message"} with the error table's HTTP status.
void SendErrorResponse(httplib::Response& res, const Error& error);
/// Writes `body` as application/json (invalid UTF-8 from a dataset is replaced, not thrown on).
void SendJsonResponse(httplib::Response& res, int status, const nlohmann::json& body);

}  // namespace dxhub::web
