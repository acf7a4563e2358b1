#pragma once
// DICOMweb routes under /dicom-web (PS3.18): QIDO-RS search and WADO-RS retrieve/metadata.
// Private to the web layer (it names httplib types).

#include <httplib.h>

#include "store/archive.h"

namespace dxhub::web {

/// Owns the DICOMweb handlers; must outlive the server it registered them on.
class DicomWebRoutes {
 public:
  explicit DicomWebRoutes(store::Archive& archive) : archive_(archive) {}
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
  void Stow(httplib::Server& s, const std::string& pattern, bool study_in_path);
  Result<std::vector<store::QueryRow>> Instances(const httplib::Request& req,
                                                 const std::vector<store::Field>& fields);

  store::Archive& archive_;
};

/// Writes a JSON error body {"error", "message"} with the error table's HTTP status.
void SendErrorResponse(httplib::Response& res, const Error& error);

}  // namespace dxhub::web
