// STOW-RS (PS3.18 §10.5): every part goes through the archive's one ingest path, so a part
// reported as stored is fsync'd and indexed exactly like an instance received by C-STORE.

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/fs.h"
#include "core/uid.h"
#include "dicom/instance.h"
#include "web/dicomweb_routes.h"
#include "web/multipart.h"

namespace dxhub::web {
namespace {

using nlohmann::json;

json Ui(const std::string& v) {
  return {{"vr", "UI"}, {"Value", json::array({v})}};
}

// Writes the request body to `path` as it is received.
Status SpoolBody(const httplib::ContentReader& content_reader, const std::string& path,
                 const httplib::Response& res) {
  std::unique_ptr<std::FILE, decltype(&std::fclose)> out(std::fopen(path.c_str(), "wbe"),
                                                         &std::fclose);
  if (!out)
    return fs::ErrnoError(errno, "create " + path);
  int write_error = 0;
  const bool received = content_reader([&](const char* data, size_t length) {
    if (std::fwrite(data, 1, length, out.get()) != length) {
      write_error = errno;
      return false;
    }
    return true;
  });
  if (write_error == 0 && std::fflush(out.get()) != 0)
    write_error = errno;
  if (write_error != 0)
    return fs::ErrnoError(write_error, "spool upload");
  if (!received && res.status == 413) {
    return MakeError(ErrorCode::kTooLarge,
                     "upload exceeds the configured limit (max-upload-mb); send fewer instances "
                     "per request");
  }
  if (!received) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "upload incomplete: the body ended before its Content-Length");
  }
  return Ok();
}

}  // namespace

void DicomWebRoutes::Stow(RouteTable& s, const std::string& pattern, bool study_in_path) {
  s.Upload(
      pattern, Needs(Role::kClinician, Data::kPatient),
      [this, study_in_path](const RequestContext& ctx, const httplib::Request& req,
                            httplib::Response& res, const httplib::ContentReader& content_reader) {
        // A client of an institution stores for it; a regional account's uploads go by the
        // datasets' InstitutionName.
        const store::Attribution attribution{ctx.caller ? ctx.caller->user.institution : 0, "", ""};
        std::string study_uid;
        if (study_in_path) {
          study_uid = req.matches[1];
          Status valid = ValidateUid(study_uid, "StudyInstanceUID");
          if (!valid.ok())
            return SendErrorResponse(res,
                                     MakeError(ErrorCode::kInvalidArgument, valid.error().message));
        }
        const std::string content_type = req.get_header_value("Content-Type");
        if (content_type.rfind("multipart/related", 0) != 0) {
          return SendErrorResponse(res, MakeError(ErrorCode::kUnsupported,
                                                  "STOW-RS takes multipart/related; "
                                                  "type=\"application/dicom\""));
        }
        const std::string type = ContentTypeParam(content_type, "type");
        if (!type.empty() && type != "application/dicom") {
          return SendErrorResponse(
              res, MakeError(ErrorCode::kUnsupported, "only application/dicom parts are accepted"));
        }
        auto boundary = MultipartBoundary(content_type);
        if (!boundary.ok())
          return SendErrorResponse(res, boundary.error());
        // The body goes to a temp file on the archive's filesystem as it arrives, so an upload is
        // bounded by the disk, not by memory, and is then parsed in place. The whole body is
        // checked before anything is stored: a truncated upload stores nothing.
        const std::string body_path = archive_.NewTempPath() + ".body";
        struct RemoveOnExit {
          std::string path;
          ~RemoveOnExit() { fs::RemoveQuiet(path); }
        } remove_body{body_path};
        Status spooled = SpoolBody(content_reader, body_path, res);
        if (!spooled.ok())
          return SendErrorResponse(res, spooled.error());
        auto mapped = fs::MappedFile::Open(body_path);
        if (!mapped.ok())
          return SendErrorResponse(res, mapped.error());
        auto parts = ParseMultipart(mapped->view(), *boundary);
        if (!parts.ok())
          return SendErrorResponse(res, parts.error());
        if (parts->empty())
          return SendErrorResponse(res, MakeError(ErrorCode::kInvalidArgument, "no parts"));

        const std::string base = BaseUrl(req);
        json referenced = json::array();
        json failed = json::array();
        std::string last_study;
        for (const auto& part : *parts) {
          auto failure = [&](uint16_t status, const std::string& why,
                             const dicom::InstanceInfo* info) {
            json item = {{"00081197", {{"vr", "US"}, {"Value", json::array({status})}}}};
            if (info != nullptr) {
              item["00081150"] = Ui(info->sop_class_uid);
              item["00081155"] = Ui(info->sop_uid);
            }
            failed.push_back(std::move(item));
            spdlog::warn("stow: part refused: {}", why);
          };
          auto it = part.headers.find("content-type");
          std::string part_type = it == part.headers.end() ? "" : it->second;
          if (part_type.rfind("application/dicom", 0) != 0) {
            failure(0xC000, "part is not application/dicom", nullptr);
            continue;
          }
          if (part.body.size() < 132 || part.body.substr(128, 4) != "DICM") {
            failure(0xC000, "part is not a DICOM Part-10 file", nullptr);
            continue;
          }
          // Parsed and hashed from memory (one copy of the part) rather than read back from the
          // file, as C-STORE does; a larger part is read from its file.
          std::shared_ptr<const std::string> contents;
          if (part.body.size() <= dicom::kInMemoryIngestLimit)
            contents = std::make_shared<const std::string>(part.body);
          std::string temp = archive_.NewTempPath();
          Status written = fs::WriteFile(
              temp,
              std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(part.body.data()),
                                       part.body.size()),
              /*sync=*/false);  // Ingest hashes and fsyncs it
          if (!written.ok()) {
            fs::RemoveQuiet(temp);
            failure(written.error().DicomStatus(), written.error().message, nullptr);
            continue;
          }
          if (study_in_path) {
            // Refuse before storing anything of a part that belongs to another study.
            auto info = dicom::ReadInstance(temp, contents ? std::string_view(*contents) : "");
            if (info.ok() && info->study_uid != study_uid) {
              fs::RemoveQuiet(temp);
              failure(0xA900, "instance belongs to another study than the URL names", &*info);
              continue;
            }
          }
          auto outcome = archive_.Ingest(
              temp, store::IngestContext{"stow", "", "", false, attribution}, contents);
          if (!outcome.ok()) {
            failure(outcome.error().DicomStatus(), outcome.error().message, nullptr);
            continue;
          }
          const auto& info = outcome->info;
          last_study = info.study_uid;
          referenced.push_back(
              {{"00081150", Ui(info.sop_class_uid)},
               {"00081155", Ui(info.sop_uid)},
               {"00081190",
                {{"vr", "UR"},
                 {"Value", json::array({base + "/studies/" + info.study_uid + "/series/" +
                                        info.series_uid + "/instances/" + info.sop_uid})}}}});
        }
        json body = json::object();
        if (!last_study.empty()) {
          body["00081190"] = {{"vr", "UR"},
                              {"Value", json::array({base + "/studies/" + last_study})}};
        }
        if (!referenced.empty())
          body["00081199"] = {{"vr", "SQ"}, {"Value", referenced}};
        if (!failed.empty())
          body["00081198"] = {{"vr", "SQ"}, {"Value", failed}};
        // 200 all stored, 202 some stored, 409 none stored (PS3.18 §10.5.3).
        res.status = failed.empty() ? 200 : (referenced.empty() ? 409 : 202);
        res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace),
                        "application/dicom+json");
      });
}

}  // namespace dxhub::web
