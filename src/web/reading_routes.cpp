#include "web/reading_routes.h"

#include <httplib.h>

#include <nlohmann/json.hpp>
#include <set>

#include "core/uid.h"
#include "store/report_archive.h"
#include "web/dicomweb_routes.h"
#include "web/params.h"

namespace dxhub::web {
namespace {

using nlohmann::json;

Error Invalid(std::string why) {
  return MakeError(ErrorCode::kInvalidArgument, std::move(why));
}

json ToJson(const store::ReadRequest& q) {
  return {{"id", q.id},
          {"study_instance_uid", q.study_uid},
          {"institution", q.institution_name},
          {"priority", q.priority},
          {"reason", q.reason},
          {"requested_by", q.requested_by},
          {"requested_at", FormatIsoMillis(q.requested_ms)},
          {"due_at", FormatIsoMillis(q.due_ms)},
          {"status", q.status},
          {"claimed_by", q.claimed_by},
          {"claimed_at", q.claimed_ms != 0 ? json(FormatIsoMillis(q.claimed_ms)) : json()},
          {"closed_at", q.closed_ms != 0 ? json(FormatIsoMillis(q.closed_ms)) : json()},
          {"overdue", q.overdue},
          {"patient_name", q.patient_name},
          {"patient_id", q.patient_id},
          {"study_date", q.study_date},
          {"description", q.description},
          {"modalities", q.modalities},
          {"high_risk", q.high_risk}};
}

json ToJson(const store::Report& r) {
  json out = {{"version", r.version},
              {"status", r.status},
              {"findings", r.findings},
              {"impression", r.impression},
              {"author", r.author},
              {"addendum", r.version > 1},
              {"created_at", FormatIsoMillis(r.created_ms)},
              {"updated_at", FormatIsoMillis(r.updated_ms)}};
  if (r.status == "signed") {
    out["signed_at"] = FormatIsoMillis(r.signed_ms);
    out["sr_sop_instance_uid"] = r.sr_uid;
    out["pdf_sop_instance_uid"] = r.pdf_uid;
    out["pdf"] = "/api/studies/" + r.study_uid + "/reports/" + std::to_string(r.version) + "/pdf";
  }
  return out;
}

Result<std::string> StudyUid(const httplib::Request& req) {
  const std::string uid = req.matches[1];
  if (Status valid = ValidateUid(uid, "StudyInstanceUID"); !valid.ok())
    return Invalid(valid.error().message);
  return uid;
}

Result<int64_t> RequestId(const httplib::Request& req) {
  auto id = ParseInt("id", req.matches[1], 1, 2'000'000'000);
  if (!id.ok())
    return id.error();
  return int64_t{*id};
}

// Reads for the requesting institution: a user of the whole region, or of an institution whose
// scope takes in the clinic's studies without being the clinic (a clinic does not read its own
// requests; it asked someone else to).
bool ReadsFor(const Caller& caller, const store::ReadRequest& request) {
  const int64_t mine = caller.user.institution;
  return mine == 0 || (mine != request.institution && caller.scope.Allows(request.institution));
}

bool MayWithdraw(const Caller& caller, const store::ReadRequest& request) {
  return caller.user.institution == 0 || caller.user.institution == request.institution;
}

}  // namespace

void ReadingRoutes::Register(RouteTable& routes) {
  store::ReadingStore& reading = archive_.index().reading();

  routes.Post(
      R"(/api/studies/([^/]+)/read-requests)", Needs(Role::kClinician, Data::kPatient),
      [this, &reading](const RequestContext& ctx, const httplib::Request& req,
                       httplib::Response& res) {
        auto uid = StudyUid(req);
        if (!uid.ok())
          return SendErrorResponse(res, uid.error());
        const json body = req.body.empty() ? json::object() : json::parse(req.body, nullptr, false);
        if (!body.is_object() || (body.contains("priority") && !body["priority"].is_string()) ||
            (body.contains("reason") && !body["reason"].is_string()))
          return SendErrorResponse(
              res,
              Invalid("send {\"priority\": \"stat\"|\"urgent\"|\"routine\", \"reason\": ...}"));
        auto priority = store::ParseReadPriority(body.value("priority", std::string("routine")));
        if (!priority.ok())
          return SendErrorResponse(res, priority.error());
        const int64_t now = clock_.NowMillis();
        auto made = reading.Request(
            ctx.caller->scope, {*uid, *priority, body.value("reason", std::string()),
                                ctx.caller->user.username, now, now + targets_.For(*priority)});
        if (!made.ok())
          return SendErrorResponse(res, made.error());
        SendJsonResponse(res, 201, ToJson(*made));
      });

  routes.Get(
      "/api/read-requests", Needs(Role::kClinician, Data::kPatient),
      [&reading, this](const RequestContext& ctx, const httplib::Request& req,
                       httplib::Response& res) {
        static const std::set<std::string> kKnown = {"status", "mine", "limit", "offset"};
        for (const auto& [key, value] : req.params) {
          if (kKnown.count(key) == 0)
            return SendErrorResponse(res, Invalid("unknown query parameter '" + key + "'"));
        }
        store::ReadQueueQuery q;
        if (req.has_param("status")) {
          static const std::set<std::string> kStatuses = {"open",   "requested", "claimed",
                                                          "signed", "cancelled", "all"};
          q.status = req.get_param_value("status");
          if (kStatuses.count(q.status) == 0)
            return SendErrorResponse(
                res, Invalid("status must be open, requested, claimed, signed, cancelled or all"));
        }
        if (req.get_param_value("mine") == "1")
          q.claimed_by = ctx.caller->user.username;
        for (const char* name : {"limit", "offset"}) {
          if (!req.has_param(name))
            continue;
          auto n = ParseInt(name, req.get_param_value(name), name[0] == 'l' ? 1 : 0,
                            name[0] == 'l' ? 500 : 1'000'000);
          if (!n.ok())
            return SendErrorResponse(res, n.error());
          (name[0] == 'l' ? q.limit : q.offset) = *n;
        }
        q.now_ms = clock_.NowMillis();
        auto page = reading.Queue(ctx.caller->scope, q);
        if (!page.ok())
          return SendErrorResponse(res, page.error());
        json list = json::array();
        for (const auto& r : page->requests) {
          json row = ToJson(r);
          row["can_claim"] = r.status == "requested" &&
                             RoleAtLeast(ctx.caller->user.role, Role::kRadiologist) &&
                             ReadsFor(*ctx.caller, r);
          list.push_back(std::move(row));
        }
        SendJsonResponse(res, 200,
                         {{"total", page->total},
                          {"now", FormatIsoMillis(q.now_ms)},
                          {"requests", std::move(list)}});
      });

  routes.Get(R"(/api/read-requests/(\d+))", Needs(Role::kClinician, Data::kPatient),
             [&reading, this](const RequestContext& ctx, const httplib::Request& req,
                              httplib::Response& res) {
               auto id = RequestId(req);
               if (!id.ok())
                 return SendErrorResponse(res, id.error());
               auto found = reading.Get(ctx.caller->scope, *id, clock_.NowMillis());
               if (!found.ok())
                 return SendErrorResponse(res, found.error());
               if (!found->has_value())
                 return SendErrorResponse(res,
                                          MakeError(ErrorCode::kNotFound, "no such read request"));
               SendJsonResponse(res, 200, ToJson(**found));
             });

  routes.Post(
      R"(/api/read-requests/(\d+)/claim)", Needs(Role::kRadiologist, Data::kPatient),
      [&reading, this](const RequestContext& ctx, const httplib::Request& req,
                       httplib::Response& res) {
        auto id = RequestId(req);
        if (!id.ok())
          return SendErrorResponse(res, id.error());
        const int64_t now = clock_.NowMillis();
        auto found = reading.Get(ctx.caller->scope, *id, now);
        if (!found.ok())
          return SendErrorResponse(res, found.error());
        if (!found->has_value())
          return SendErrorResponse(res, MakeError(ErrorCode::kNotFound, "no such read request"));
        if (!ReadsFor(*ctx.caller, **found))
          return SendErrorResponse(
              res, MakeError(ErrorCode::kForbidden,
                             "only a reader of an institution that reads for " +
                                 (*found)->institution_name + " claims its requests"));
        auto claimed = reading.Claim(ctx.caller->scope, *id, ctx.caller->user.username, now);
        if (!claimed.ok())
          return SendErrorResponse(res, claimed.error());
        SendJsonResponse(res, 200, ToJson(*claimed));
      });

  routes.Post(
      R"(/api/read-requests/(\d+)/release)", Needs(Role::kRadiologist, Data::kPatient),
      [&reading](const RequestContext& ctx, const httplib::Request& req, httplib::Response& res) {
        auto id = RequestId(req);
        if (!id.ok())
          return SendErrorResponse(res, id.error());
        // An administrator frees the claim of a reader who is away.
        const bool force = ctx.caller->user.role == "admin";
        Status released = reading.Release(ctx.caller->scope, *id, ctx.caller->user.username, force);
        if (!released.ok())
          return SendErrorResponse(res, released.error());
        SendJsonResponse(res, 200, {{"status", "requested"}});
      });

  routes.Post(
      R"(/api/read-requests/(\d+)/cancel)", Needs(Role::kClinician, Data::kPatient),
      [&reading, this](const RequestContext& ctx, const httplib::Request& req,
                       httplib::Response& res) {
        auto id = RequestId(req);
        if (!id.ok())
          return SendErrorResponse(res, id.error());
        const int64_t now = clock_.NowMillis();
        auto found = reading.Get(ctx.caller->scope, *id, now);
        if (!found.ok())
          return SendErrorResponse(res, found.error());
        if (!found->has_value())
          return SendErrorResponse(res, MakeError(ErrorCode::kNotFound, "no such read request"));
        if ((*found)->status != "requested")
          return SendErrorResponse(
              res,
              MakeError(ErrorCode::kConflict, "a request is withdrawn only before it is claimed"));
        // The clinic withdraws its own requests; its readers do not.
        if (!MayWithdraw(*ctx.caller, **found))
          return SendErrorResponse(
              res, MakeError(ErrorCode::kForbidden,
                             "only the requesting institution withdraws a request"));
        Status cancelled = reading.Cancel(ctx.caller->scope, *id, now);
        if (!cancelled.ok())
          return SendErrorResponse(res, cancelled.error());
        SendJsonResponse(res, 200, {{"status", "cancelled"}});
      });

  // The study's reading state: its request and its signed reports; the caller's own draft.
  routes.Get(R"(/api/studies/([^/]+)/reports)", Needs(Role::kViewer, Data::kPatient),
             [&reading, this](const RequestContext& ctx, const httplib::Request& req,
                              httplib::Response& res) {
               auto uid = StudyUid(req);
               if (!uid.ok())
                 return SendErrorResponse(res, uid.error());
               const int64_t now = clock_.NowMillis();
               auto study = archive_.index().GetStudy(ctx.caller->scope, *uid);
               if (!study.ok())
                 return SendErrorResponse(res, study.error());
               if (!study->has_value())
                 return SendErrorResponse(res, MakeError(ErrorCode::kNotFound, "no such study"));
               auto reports = reading.Reports(ctx.caller->scope, *uid, /*drafts=*/true);
               if (!reports.ok())
                 return SendErrorResponse(res, reports.error());
               auto request = reading.OfStudy(ctx.caller->scope, *uid, now);
               if (!request.ok())
                 return SendErrorResponse(res, request.error());
               json list = json::array();
               json draft;
               for (const auto& r : *reports) {
                 // A draft is not a report yet: only its author sees it.
                 if (r.status == "draft") {
                   if (r.author == ctx.caller->user.username)
                     draft = ToJson(r);
                   continue;
                 }
                 list.push_back(ToJson(r));
               }
               const bool radiologist = RoleAtLeast(ctx.caller->user.role, Role::kRadiologist);
               json out = {{"study_instance_uid", *uid},
                           {"reports", std::move(list)},
                           {"draft", std::move(draft)},
                           {"request", request->has_value() ? ToJson(**request) : json()}};
               if (request->has_value()) {
                 const auto& q = **request;
                 out["request"]["can_claim"] =
                     q.status == "requested" && radiologist && ReadsFor(*ctx.caller, q);
                 out["request"]["can_cancel"] =
                     q.status == "requested" && MayWithdraw(*ctx.caller, q);
               }
               // Who may write now: the holder of the open request; with none open, any radiologist
               // (the hospital's own studies, or an addendum to a signed report).
               const bool open = request->has_value() && ((*request)->status == "requested" ||
                                                          (*request)->status == "claimed");
               out["can_write"] =
                   radiologist && (!open || (*request)->claimed_by == ctx.caller->user.username);
               // A clinic requests reads of its own studies (regional staff on anyone's behalf);
               // the
               // readers it asks do not request reads of what they read.
               const std::string& mine = ctx.caller->user.institution_name;
               out["can_request"] =
                   RoleAtLeast(ctx.caller->user.role, Role::kClinician) && !open &&
                   (ctx.caller->user.institution == 0 || mine == (*study)->study.institution);
               SendJsonResponse(res, 200, out);
             });

  routes.Put(
      R"(/api/studies/([^/]+)/report)", Needs(Role::kRadiologist, Data::kPatient),
      [&reading, this](const RequestContext& ctx, const httplib::Request& req,
                       httplib::Response& res) {
        auto uid = StudyUid(req);
        if (!uid.ok())
          return SendErrorResponse(res, uid.error());
        const json body = json::parse(req.body, nullptr, false);
        if (!body.is_object() || (body.contains("findings") && !body["findings"].is_string()) ||
            (body.contains("impression") && !body["impression"].is_string()))
          return SendErrorResponse(
              res, Invalid("send {\"findings\": \"...\", \"impression\": \"...\"}"));
        auto saved =
            reading.SaveDraft(ctx.caller->scope, {*uid, body.value("findings", std::string()),
                                                  body.value("impression", std::string()),
                                                  ctx.caller->user.username, clock_.NowMillis()});
        if (!saved.ok())
          return SendErrorResponse(res, saved.error());
        SendJsonResponse(res, 200, ToJson(*saved));
      });

  routes.Post(
      R"(/api/studies/([^/]+)/report/sign)", Needs(Role::kRadiologist, Data::kPatient),
      [this](const RequestContext& ctx, const httplib::Request& req, httplib::Response& res) {
        auto uid = StudyUid(req);
        if (!uid.ok())
          return SendErrorResponse(res, uid.error());
        const json body = json::parse(req.body, nullptr, false);
        if (!body.is_object() || !body.contains("version") || !body["version"].is_number_integer())
          return SendErrorResponse(
              res, Invalid("send {\"version\": N}: the draft version you read and sign"));
        const auto version = body["version"].get<int64_t>();
        if (version < 1 || version > 10'000)
          return SendErrorResponse(res, Invalid("version must be 1..10000"));
        const store::Signer signer{ctx.caller->user.username, ctx.caller->user.display_name,
                                   ctx.caller->user.institution_name};
        auto signed_report =
            store::SignReport(archive_, ctx.caller->scope, *uid, static_cast<int>(version), signer,
                              clock_.NowMillis());
        if (!signed_report.ok())
          return SendErrorResponse(res, signed_report.error());
        SendJsonResponse(res, 200, ToJson(*signed_report));
      });

  routes.Get(
      R"(/api/studies/([^/]+)/reports/(\d+)/pdf)", Needs(Role::kViewer, Data::kPatient),
      [this](const RequestContext& ctx, const httplib::Request& req, httplib::Response& res) {
        auto uid = StudyUid(req);
        if (!uid.ok())
          return SendErrorResponse(res, uid.error());
        auto version = ParseInt("version", req.matches[2], 1, 10'000);
        if (!version.ok())
          return SendErrorResponse(res, version.error());
        auto pdf = store::ReportPdf(archive_, ctx.caller->scope, *uid, *version);
        if (!pdf.ok())
          return SendErrorResponse(res, pdf.error());
        res.set_header("Cache-Control", "private, no-store");
        res.set_header("Content-Disposition",
                       "inline; filename=\"report-" + std::to_string(*version) + ".pdf\"");
        res.set_content(*pdf, "application/pdf");
      });

  routes.Get(
      "/api/reading/turnaround", Needs(Role::kViewer),
      [&reading, this](const RequestContext& ctx, const httplib::Request& req,
                       httplib::Response& res) {
        const int64_t now = clock_.NowMillis();
        int64_t from = now - int64_t{30} * 24 * 3600 * 1000;
        int64_t to = now + 1;
        for (const char* name : {"from", "to"}) {
          if (!req.has_param(name))
            continue;
          auto day = ParseDate(name, req.get_param_value(name));
          if (!day.ok())
            return SendErrorResponse(res, day.error());
          (name[0] == 'f' ? from : to) =
              DayStartMillis(*day) + (name[0] == 't' ? int64_t{24} * 3600 * 1000 : 0);
        }
        auto stats = reading.Turnaround(ctx.caller->scope, from, to, now);
        if (!stats.ok())
          return SendErrorResponse(res, stats.error());
        json list = json::array();
        for (const auto& t : *stats) {
          list.push_back({{"institution", t.institution},
                          {"requested", t.requested},
                          {"signed", t.signed_count},
                          {"open", t.open},
                          {"overdue", t.overdue},
                          {"request_to_signed_p50_s", t.p50_s < 0 ? json() : json(t.p50_s)},
                          {"request_to_signed_p90_s", t.p90_s < 0 ? json() : json(t.p90_s)}});
        }
        SendJsonResponse(res, 200,
                         {{"from", FormatIsoMillis(from)},
                          {"to", FormatIsoMillis(to)},
                          {"targets_minutes",
                           {{"stat", targets_.stat_ms / 60000},
                            {"urgent", targets_.urgent_ms / 60000},
                            {"routine", targets_.routine_ms / 60000}}},
                          {"institutions", std::move(list)}});
      });
}

}  // namespace dxhub::web
