#include "web/deid_routes.h"

#include <httplib.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "core/fs.h"
#include "core/uid.h"
#include "store/deid_export.h"
#include "web/dicomweb_routes.h"
#include "web/params.h"

namespace dxhub::web {
namespace {

using nlohmann::json;

Error Invalid(std::string why) {
  return MakeError(ErrorCode::kInvalidArgument, std::move(why));
}

json ToJson(const store::DeidProject& p, const std::vector<store::DeidExport>& exports) {
  json list = json::array();
  for (const auto& e : exports) {
    list.push_back({{"id", e.id},
                    {"created_by", e.created_by},
                    {"created_at", FormatIsoMillis(e.created_ms)},
                    {"studies", e.study_uids.size()},
                    {"download", "/api/deid/exports/" + std::to_string(e.id) + "/zip"}});
  }
  return {{"name", p.name},
          {"options",
           {{"retain_longitudinal_full_dates", p.retain_dates},
            {"retain_patient_characteristics", p.retain_patient_characteristics},
            {"clean_descriptors", p.clean_descriptors}}},
          {"members", p.members},
          {"created_by", p.created_by},
          {"created_at", FormatIsoMillis(p.created_ms)},
          {"exports", std::move(list)}};
}

bool IsMember(const store::DeidProject& p, const std::string& user) {
  return std::find(p.members.begin(), p.members.end(), user) != p.members.end();
}

// STOW-RS of de-identified files to a DICOMweb peer, in batches of a few instances so that no
// request grows past a few tens of megabytes.
class StowBatches {
 public:
  explicit StowBatches(const DicomWebPeer& peer) : peer_(peer) {}
  ~StowBatches() {
    for (const auto& p : pending_)
      fs::RemoveQuiet(p);
  }
  StowBatches(const StowBatches&) = delete;
  StowBatches& operator=(const StowBatches&) = delete;

  Status Add(const std::string& path) {
    pending_.push_back(path);
    if (pending_.size() >= kPerRequest)
      return Flush();
    return Ok();
  }

  Status Flush() {
    if (pending_.empty())
      return Ok();
    const std::string boundary = "dxhub-deid-" + std::to_string(sent_ + pending_.size());
    std::string body;
    for (const auto& path : pending_) {
      std::ifstream in(path, std::ios::binary);
      std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      body += "--";
      body += boundary;
      body += "\r\nContent-Type: application/dicom\r\n\r\n";
      body += bytes;
      body += "\r\n";
    }
    body += "--";
    body += boundary;
    body += "--\r\n";
    const size_t scheme_end = peer_.url.find("://") + 3;
    const size_t path_at = peer_.url.find('/', scheme_end);
    const std::string origin = peer_.url.substr(0, path_at);
    const std::string root = path_at == std::string::npos ? "" : peer_.url.substr(path_at);
    httplib::Client client(origin);
    client.set_connection_timeout(10);
    client.set_read_timeout(120);
    httplib::Headers headers = {{"Accept", "application/dicom+json"}};
    if (!peer_.token.empty())
      headers.emplace("Authorization", "Bearer " + peer_.token);
    auto res = client.Post(root + "/studies", headers, body,
                           "multipart/related; type=\"application/dicom\"; boundary=" + boundary);
    if (!res)
      return MakeError(ErrorCode::kUnavailable,
                       peer_.name + " cannot be reached: " + httplib::to_string(res.error()));
    if (res->status != 200 && res->status != 202)
      return MakeError(ErrorCode::kUnavailable, peer_.name + " answered HTTP " +
                                                    std::to_string(res->status) +
                                                    " to STOW-RS: " + res->body.substr(0, 200));
    sent_ += static_cast<int>(pending_.size());
    for (const auto& p : pending_)
      fs::RemoveQuiet(p);
    pending_.clear();
    return Ok();
  }

  int sent() const { return sent_; }

 private:
  static constexpr size_t kPerRequest = 16;
  DicomWebPeer peer_;
  std::vector<std::string> pending_;  // de-identified files not sent yet (ours to remove)
  int sent_ = 0;
};

}  // namespace

void DeidRoutes::Register(RouteTable& routes) {
  store::DeidStore& deid = archive_.index().deid();

  routes.Post(
      "/api/deid/projects", Needs(Role::kAdmin),
      [this, &deid](const RequestContext& ctx, const httplib::Request& req,
                    httplib::Response& res) {
        const json body = json::parse(req.body, nullptr, false);
        if (!body.is_object() || !body.contains("name") || !body["name"].is_string())
          return SendErrorResponse(
              res, Invalid("send {\"name\": ..., \"retain_longitudinal_full_dates\": bool, "
                           "\"retain_patient_characteristics\": bool, \"clean_descriptors\": "
                           "bool, \"members\": [usernames]}"));
        store::DeidProject p;
        p.name = body["name"].get<std::string>();
        auto flag = [&](const char* key) {
          return body.contains(key) && body[key].is_boolean() && body[key].get<bool>();
        };
        p.retain_dates = flag("retain_longitudinal_full_dates");
        p.retain_patient_characteristics = flag("retain_patient_characteristics");
        p.clean_descriptors = flag("clean_descriptors");
        if (body.contains("members")) {
          if (!body["members"].is_array() || body["members"].size() > 256)
            return SendErrorResponse(res, Invalid("members must be a list of user names"));
          for (const auto& m : body["members"]) {
            if (!m.is_string() || m.get_ref<const std::string&>().size() > 64)
              return SendErrorResponse(res, Invalid("members must be a list of user names"));
            p.members.push_back(m.get<std::string>());
          }
        }
        p.created_by = ctx.caller->user.username;
        const int64_t now = clock_.NowMillis();
        if (!archive_.index()
                 .users()
                 .Audit({now, p.created_by, "deid.project", p.name, req.remote_addr, ""})
                 .ok())
          return SendErrorResponse(res,
                                   MakeError(ErrorCode::kUnavailable, "audit log unavailable"));
        auto made = deid.AddProject(p, now);
        if (!made.ok())
          return SendErrorResponse(res, made.error());
        SendJsonResponse(res, 201, ToJson(*made, {}));
      });

  routes.Get("/api/deid/projects", Needs(Role::kResearcher),
             [&deid](const RequestContext& ctx, const httplib::Request&, httplib::Response& res) {
               const bool admin = ctx.caller->user.role == "admin";
               auto projects = deid.Projects(admin ? "" : ctx.caller->user.username);
               if (!projects.ok())
                 return SendErrorResponse(res, projects.error());
               json list = json::array();
               for (const auto& p : *projects) {
                 auto exports = deid.Exports(p.name);
                 if (!exports.ok())
                   return SendErrorResponse(res, exports.error());
                 list.push_back(ToJson(p, *exports));
               }
               SendJsonResponse(res, 200, {{"projects", std::move(list)}});
             });

  // Choosing studies needs seeing them: the caller's scope decides which exist.
  routes.Post(
      R"(/api/deid/projects/([^/]+)/exports)", Needs(Role::kRadiologist, Data::kPatient),
      [this, &deid](const RequestContext& ctx, const httplib::Request& req,
                    httplib::Response& res) {
        const std::string name = req.matches[1];
        auto project = deid.Project(name);
        if (!project.ok())
          return SendErrorResponse(res, project.error());
        if (!project->has_value())
          return SendErrorResponse(res, MakeError(ErrorCode::kNotFound, "no such project"));
        const json body = json::parse(req.body, nullptr, false);
        std::vector<std::string> uids;
        if (body.is_object() && body.contains("study_uids") && body["study_uids"].is_array()) {
          if (body["study_uids"].empty() || body["study_uids"].size() > 1000)
            return SendErrorResponse(res, Invalid("study_uids: 1 to 1000 UIDs"));
          for (const auto& u : body["study_uids"]) {
            if (!u.is_string() || !ValidateUid(u.get<std::string>(), "StudyInstanceUID").ok())
              return SendErrorResponse(res, Invalid("study_uids must be valid UIDs"));
            auto study = archive_.index().GetStudy(ctx.caller->scope, u.get<std::string>());
            if (!study.ok())
              return SendErrorResponse(res, study.error());
            if (!study->has_value())
              return SendErrorResponse(
                  res, MakeError(ErrorCode::kNotFound, "no such study: " + u.get<std::string>()));
            uids.push_back(u.get<std::string>());
          }
        } else if (body.is_object() && body.contains("query") && body["query"].is_object()) {
          const json& q = body["query"];
          store::StudyQuery query;
          auto text = [&](const char* key) {
            return q.contains(key) && q[key].is_string() ? q[key].get<std::string>() : "";
          };
          query.patient_id = text("patient_id");
          query.modality = text("modality");
          for (const char* key : {"date_from", "date_to"}) {
            if (text(key).empty())
              continue;
            auto day = ParseDate(key, text(key));
            if (!day.ok())
              return SendErrorResponse(res, day.error());
            (key[5] == 'f' ? query.date_from : query.date_to) = *day;
          }
          query.limit = 1000;
          auto page = archive_.index().FindStudies(ctx.caller->scope, query);
          if (!page.ok())
            return SendErrorResponse(res, page.error());
          for (const auto& s : page->studies)
            uids.push_back(s.study_uid);
          if (uids.empty())
            return SendErrorResponse(res, MakeError(ErrorCode::kNotFound, "no study matches"));
        } else {
          return SendErrorResponse(
              res, Invalid("send {\"study_uids\": [...]} or {\"query\": {\"patient_id\", "
                           "\"modality\", \"date_from\", \"date_to\"}}"));
        }
        auto made = deid.AddExport(name, ctx.caller->user.username, uids, clock_.NowMillis());
        if (!made.ok())
          return SendErrorResponse(res, made.error());
        SendJsonResponse(res, 201,
                         {{"id", made->id},
                          {"project", name},
                          {"studies", uids.size()},
                          {"download", "/api/deid/exports/" + std::to_string(made->id) + "/zip"}});
      });

  routes.Get(R"(/api/deid/exports/(\d+)/zip)", Needs(Role::kResearcher),
             [this, &deid](const RequestContext& ctx, const httplib::Request& req,
                           httplib::Response& res) {
               auto id = ParseInt("id", req.matches[1], 1, 2'000'000'000);
               if (!id.ok())
                 return SendErrorResponse(res, id.error());
               auto e = deid.Export(*id);
               if (!e.ok())
                 return SendErrorResponse(res, e.error());
               auto project = e->has_value()
                                  ? deid.Project((*e)->project)
                                  : Result<std::optional<store::DeidProject>>(std::nullopt);
               if (!project.ok())
                 return SendErrorResponse(res, project.error());
               const std::string& user = ctx.caller->user.username;
               // Members, the maker and administrators; to anyone else it does not exist.
               if (!e->has_value() || !project->has_value() ||
                   (ctx.caller->user.role != "admin" && (*e)->created_by != user &&
                    !IsMember(**project, user)))
                 return SendErrorResponse(res, MakeError(ErrorCode::kNotFound, "no such export"));
               const store::DeidProject& p = **project;
               const int64_t now = clock_.NowMillis();
               if (!archive_.index()
                        .users()
                        .Audit({now, user, "deid.download", p.name + "/" + std::to_string(*id),
                                req.remote_addr, ""})
                        .ok())
                 return SendErrorResponse(
                     res, MakeError(ErrorCode::kUnavailable, "audit log unavailable"));
               auto key = store::PseudonymKey(archive_.index());
               if (!key.ok())
                 return SendErrorResponse(res, key.error());
               const dicom::DeidOptions options{p.retain_dates, p.retain_patient_characteristics,
                                                p.clean_descriptors};
               const dicom::Pseudonyms pseudonyms(*key, p.name);
               const std::string zip_path = archive_.NewTempPath();
               // The export was allowed when it was made, by its maker's scope.
               auto summary = store::WriteDeidZip(archive_, store::Scope::Everything(),
                                                  (*e)->study_uids, options, pseudonyms, zip_path);
               if (!summary.ok()) {
                 fs::RemoveQuiet(zip_path);
                 return SendErrorResponse(res, summary.error());
               }
               auto file = std::make_shared<std::ifstream>(zip_path, std::ios::binary);
               file->seekg(0, std::ios::end);
               const auto size = static_cast<size_t>(file->tellg());
               file->seekg(0);
               res.set_header("Content-Disposition", "attachment; filename=\"" + p.name + "-" +
                                                         std::to_string(*id) + ".zip\"");
               res.set_header("X-Dxhub-Exported", std::to_string(summary->exported));
               res.set_header("X-Dxhub-Refused", std::to_string(summary->refused));
               res.set_content_provider(
                   size, "application/zip",
                   [file](size_t offset, size_t length, httplib::DataSink& sink) {
                     std::vector<char> buffer(std::min<size_t>(length, size_t{1} << 20));
                     file->seekg(static_cast<std::streamoff>(offset));
                     file->read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
                     const auto got = static_cast<size_t>(file->gcount());
                     return got > 0 && sink.write(buffer.data(), got);
                   },
                   [file, zip_path](bool) {
                     file->close();
                     fs::RemoveQuiet(zip_path);
                   });
             });

  // The same export to a research archive over STOW-RS (a DICOMweb peer of /api/peers).
  routes.Post(
      R"(/api/deid/exports/(\d+)/send)", Needs(Role::kResearcher),
      [this, &deid](const RequestContext& ctx, const httplib::Request& req,
                    httplib::Response& res) {
        auto id = ParseInt("id", req.matches[1], 1, 2'000'000'000);
        if (!id.ok())
          return SendErrorResponse(res, id.error());
        const json body = json::parse(req.body, nullptr, false);
        if (!body.is_object() || !body.contains("peer") || !body["peer"].is_string())
          return SendErrorResponse(res, Invalid("send {\"peer\": NAME} (a DICOMweb peer)"));
        const std::string peer_name = body["peer"].get<std::string>();
        auto e = deid.Export(*id);
        if (!e.ok())
          return SendErrorResponse(res, e.error());
        auto project = e->has_value() ? deid.Project((*e)->project)
                                      : Result<std::optional<store::DeidProject>>(std::nullopt);
        if (!project.ok())
          return SendErrorResponse(res, project.error());
        const std::string& user = ctx.caller->user.username;
        if (!e->has_value() || !project->has_value() ||
            (ctx.caller->user.role != "admin" && (*e)->created_by != user &&
             !IsMember(**project, user)))
          return SendErrorResponse(res, MakeError(ErrorCode::kNotFound, "no such export"));
        std::optional<DicomWebPeer> peer;
        for (const auto& p : peers_.Current()->dicomweb_peers) {
          if (p.name == peer_name)
            peer = p;
        }
        if (!peer)
          return SendErrorResponse(
              res, MakeError(ErrorCode::kNotFound, "no DICOMweb peer named '" + peer_name + "'"));
        const store::DeidProject& p = **project;
        if (!archive_.index()
                 .users()
                 .Audit({clock_.NowMillis(), user, "deid.send",
                         p.name + "/" + std::to_string(*id) + " -> " + peer_name, req.remote_addr,
                         ""})
                 .ok())
          return SendErrorResponse(res,
                                   MakeError(ErrorCode::kUnavailable, "audit log unavailable"));
        auto key = store::PseudonymKey(archive_.index());
        if (!key.ok())
          return SendErrorResponse(res, key.error());
        const dicom::DeidOptions options{p.retain_dates, p.retain_patient_characteristics,
                                         p.clean_descriptors};
        const dicom::Pseudonyms pseudonyms(*key, p.name);
        StowBatches stow(*peer);
        json refused = json::array();
        auto summary = store::DeidentifyEach(
            archive_, store::Scope::Everything(), (*e)->study_uids, options, pseudonyms,
            [&stow](const std::string& path, const dicom::DeidOutcome&) { return stow.Add(path); },
            refused);
        if (!summary.ok())
          return SendErrorResponse(res, summary.error());
        if (Status flushed = stow.Flush(); !flushed.ok())
          return SendErrorResponse(res, flushed.error());
        SendJsonResponse(
            res, 200,
            {{"peer", peer_name}, {"sent", stow.sent()}, {"refused", std::move(refused)}});
      });
}

}  // namespace dxhub::web
