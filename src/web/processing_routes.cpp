#include "web/processing_routes.h"

#include <nlohmann/json.hpp>

#include "core/fs.h"
#include "core/strings.h"
#include "core/uid.h"
#include "web/dicomweb_routes.h"
#include "web/json_views.h"

namespace dxhub::web {
namespace {

using nlohmann::json;

json JobJson(const store::ProcessingJob& j) {
  json result = json::parse(j.result_json, nullptr, false);
  json params = json::parse(j.params_json, nullptr, false);
  json body = {{"id", j.id},
               {"series_instance_uid", j.series_uid},
               {"study_instance_uid", j.study_uid},
               {"operation", j.operation},
               {"parameters", params.is_discarded() ? json::object() : params},
               {"state", j.state},
               {"progress", j.progress},
               {"stage", j.stage},
               {"attempts", j.attempts},
               {"requested_by", j.requested_by},
               {"created_at", FormatIsoMillis(j.created_ms)},
               {"started_at", j.started_ms > 0 ? json(FormatIsoMillis(j.started_ms)) : json()},
               {"finished_at", j.finished_ms > 0 ? json(FormatIsoMillis(j.finished_ms)) : json()},
               {"error", j.error.empty() ? json() : json(j.error)},
               {"result", result.is_discarded() ? json::object() : result},
               {"href", "/api/processing/" + std::to_string(j.id)}};
  if (!result.is_discarded() && result.contains("files")) {
    json links = json::array();
    for (const json& f : result["files"])
      links.push_back("/api/processing/" + std::to_string(j.id) + "/files/" + f.get<std::string>());
    body["file_links"] = std::move(links);
  }
  return body;
}

std::string ContentTypeOf(const std::string& name) {
  auto ends = [&](const char* suffix) {
    const std::string s(suffix);
    return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
  };
  if (ends(".png"))
    return "image/png";
  if (ends(".json"))
    return "application/json";
  if (ends(".stl"))
    return "model/stl";
  if (ends(".obj"))
    return "model/obj";
  if (ends(".gltf"))
    return "model/gltf+json";
  return "application/octet-stream";
}

Result<int64_t> JobId(const std::string& text) {
  int64_t id = 0;
  if (text.empty() || text.size() > 18 || text.find_first_not_of("0123456789") != std::string::npos)
    return MakeError(ErrorCode::kInvalidArgument, "job ids are numbers");
  id = std::stoll(text);
  return id;
}

}  // namespace

Status ProcessingRoutes::SeriesInScope(const store::Scope& scope, const std::string& series_uid) {
  auto rows = archive_.index().Query(
      scope, {store::Level::kSeries,
              {{store::Field::kSeriesUid, store::Filter::Kind::kExact, {series_uid}}},
              1,
              0});
  if (!rows.ok())
    return rows.error();
  if (rows->empty())
    return MakeError(ErrorCode::kNotFound, "no such series");
  return Ok();
}

void ProcessingRoutes::Register(RouteTable& routes) {
  auto unavailable = [](httplib::Response& res) {
    SendErrorResponse(
        res, MakeError(ErrorCode::kUnavailable, "image processing is not running on this server"));
  };

  routes.Post(
      R"(/api/series/([^/]+)/process)", Needs(Role::kClinician, Data::kPatient),
      [this, unavailable](const RequestContext& ctx, const httplib::Request& req,
                          httplib::Response& res) {
        if (service_ == nullptr)
          return unavailable(res);
        const std::string uid = req.matches[1];
        if (Status valid = ValidateUid(uid, "SeriesInstanceUID"); !valid.ok())
          return SendErrorResponse(res,
                                   MakeError(ErrorCode::kInvalidArgument, valid.error().message));
        const json body = json::parse(req.body, nullptr, false);
        if (!body.is_object() || !body.contains("operation") || !body["operation"].is_string() ||
            (body.contains("parameters") && !body["parameters"].is_object())) {
          std::string names;
          for (const auto& op : imaging::ProcessingService::Operations())
            names += (names.empty() ? "" : "|") + op;
          return SendErrorResponse(
              res, MakeError(ErrorCode::kInvalidArgument,
                             "send {\"operation\": \"" + names + "\", \"parameters\": {...}}"));
        }
        if (Status visible = SeriesInScope(ctx.caller->scope, uid); !visible.ok())
          return SendErrorResponse(res, visible.error());
        const std::string params = body.contains("parameters") ? body["parameters"].dump() : "{}";
        auto id = service_->Submit(uid, body["operation"].get<std::string>(), params,
                                   ctx.caller->user.username);
        if (!id.ok())
          return SendErrorResponse(res, id.error());
        auto job = archive_.index().processing().Find(*id);
        if (!job.ok() || !job->has_value())
          return SendErrorResponse(res, MakeError(ErrorCode::kInternal, "job vanished"));
        res.set_header("Location", "/api/processing/" + std::to_string(*id));
        SendJsonResponse(res, 202, JobJson(**job));
      });

  routes.Get(
      R"(/api/series/([^/]+)/process)", Needs(Role::kViewer, Data::kPatient),
      [this](const RequestContext& ctx, const httplib::Request& req, httplib::Response& res) {
        const std::string uid = req.matches[1];
        if (Status valid = ValidateUid(uid, "SeriesInstanceUID"); !valid.ok())
          return SendErrorResponse(res,
                                   MakeError(ErrorCode::kInvalidArgument, valid.error().message));
        if (Status visible = SeriesInScope(ctx.caller->scope, uid); !visible.ok())
          return SendErrorResponse(res, visible.error());
        auto jobs = archive_.index().processing().ForSeries(uid);
        if (!jobs.ok())
          return SendErrorResponse(res, jobs.error());
        json list = json::array();
        for (const auto& j : *jobs)
          list.push_back(JobJson(j));
        SendJsonResponse(res, 200, {{"jobs", std::move(list)}});
      });

  routes.Get(
      R"(/api/processing/([^/]+))", Needs(Role::kViewer, Data::kPatient),
      [this](const RequestContext& ctx, const httplib::Request& req, httplib::Response& res) {
        auto id = JobId(req.matches[1]);
        if (!id.ok())
          return SendErrorResponse(res, id.error());
        auto job = archive_.index().processing().Find(*id);
        if (!job.ok())
          return SendErrorResponse(res, job.error());
        if (!job->has_value())
          return SendErrorResponse(res, MakeError(ErrorCode::kNotFound, "no such job"));
        if (!SeriesInScope(ctx.caller->scope, (*job)->series_uid).ok())
          return SendErrorResponse(res, MakeError(ErrorCode::kNotFound, "no such job"));
        res.set_header("Cache-Control", "no-store");
        SendJsonResponse(res, 200, JobJson(**job));
      });

  routes.Get(R"(/api/processing/([^/]+)/files/([^/]+))", Needs(Role::kViewer, Data::kPatient),
             [this, unavailable](const RequestContext& ctx, const httplib::Request& req,
                                 httplib::Response& res) {
               if (service_ == nullptr)
                 return unavailable(res);
               auto id = JobId(req.matches[1]);
               if (!id.ok())
                 return SendErrorResponse(res, id.error());
               const std::string name = req.matches[2];
               auto job = archive_.index().processing().Find(*id);
               if (!job.ok())
                 return SendErrorResponse(res, job.error());
               if (!job->has_value() || !SeriesInScope(ctx.caller->scope, (*job)->series_uid).ok())
                 return SendErrorResponse(res, MakeError(ErrorCode::kNotFound, "no such job"));
               auto path = service_->ResultFile(*id, name);
               if (!path.ok())
                 return SendErrorResponse(res, path.error());
               auto bytes = fs::ReadFile(*path);
               if (!bytes.ok())
                 return SendErrorResponse(res, bytes.error());
               res.set_header("Content-Disposition", "attachment; filename=\"" + name + "\"");
               res.set_content(*bytes, ContentTypeOf(name));
             });
}

}  // namespace dxhub::web
