#include "web/review_routes.h"

#include <nlohmann/json.hpp>
#include <set>

#include "core/uid.h"
#include "web/dicomweb_routes.h"
#include "web/json_views.h"
#include "web/params.h"

namespace dxhub::web {
namespace {

using nlohmann::json;

void SendJson(httplib::Response& res, int status, const json& body) {
  SendJsonResponse(res, status, body);
}

json Time(int64_t ms) {
  return ms > 0 ? json(FormatIsoMillis(ms)) : json(nullptr);
}

json RowJson(const store::WorklistRow& row, int64_t now_ms) {
  return {{"study_instance_uid", row.study_uid},
          {"patient_name", row.patient_name},
          {"patient_id", row.patient_id},
          {"study_date", row.study_date},
          {"study_time", row.study_time},
          {"accession_number", row.accession_number},
          {"study_description", row.description},
          {"modalities", row.modalities},
          {"institution", row.institution},
          {"received_at", Time(row.received_ms)},
          {"viewed_at", Time(row.viewed_ms)},
          {"reviewed_at", Time(row.reviewed_ms)},
          {"waiting_s", (now_ms - row.received_ms) / 1000},
          {"review_status", row.review_status},
          {"reviewed_by", row.reviewed_by},
          {"overdue", row.overdue},
          {"ai", ToJson(row.ai)}};
}

json DecisionJson(const store::DecisionRecord& d) {
  return {{"id", d.id},
          {"sop_instance_uid", d.sop_uid.empty() ? json(nullptr) : json(d.sop_uid)},
          {"scope", d.sop_uid.empty() ? "study" : "image"},
          {"model", d.model},
          {"model_version", d.version},
          {"ai_label", d.label},
          {"verdict", d.verdict},
          {"comment", d.comment},
          {"user", d.username},
          {"at", FormatIsoMillis(d.at_ms)}};
}

json Seconds(double s) {
  return s < 0 ? json(nullptr) : json(s);
}

Result<store::WorklistQuery> ParseWorklistQuery(const httplib::Request& req) {
  static const std::set<std::string> kKnown = {"from", "to", "modality", "status",
                                               "risk", "q",  "limit",    "offset"};
  for (const auto& [key, value] : req.params) {
    if (kKnown.count(key) == 0)
      return MakeError(ErrorCode::kInvalidArgument, "unknown query parameter '" + key + "'");
  }
  store::WorklistQuery q;
  if (req.has_param("from")) {
    auto d = ParseDate("from", req.get_param_value("from"));
    if (!d.ok())
      return d.error();
    q.date_from = *d;
  }
  if (req.has_param("to")) {
    auto d = ParseDate("to", req.get_param_value("to"));
    if (!d.ok())
      return d.error();
    q.date_to = *d;
  }
  q.modality = req.get_param_value("modality");
  q.status = req.get_param_value("status");
  q.risk = req.get_param_value("risk");
  q.text = req.get_param_value("q");
  if (q.text.size() > 128)
    return MakeError(ErrorCode::kInvalidArgument, "q must be at most 128 characters");
  if (req.has_param("limit")) {
    auto n = ParseInt("limit", req.get_param_value("limit"), 1, 500);
    if (!n.ok())
      return n.error();
    q.limit = *n;
  }
  if (req.has_param("offset")) {
    auto n = ParseInt("offset", req.get_param_value("offset"), 0, 100'000'000);
    if (!n.ok())
      return n.error();
    q.offset = *n;
  }
  return q;
}

}  // namespace

void ReviewRoutes::Register(RouteTable& routes) {
  routes.Get(
      "/api/worklist", Needs(Role::kViewer, Data::kPatient),
      [this](const RequestContext& ctx, const httplib::Request& req, httplib::Response& res) {
        auto q = ParseWorklistQuery(req);
        if (!q.ok())
          return SendErrorResponse(res, q.error());
        q->now_ms = clock_.NowMillis();
        q->wait_cap_ms = wait_cap_ms_;
        auto page = archive_.index().reviews().Worklist(ctx.caller->scope, *q);
        if (!page.ok())
          return SendErrorResponse(res, page.error());
        auto stamp = archive_.index().reviews().ChangeStamp();
        if (!stamp.ok())
          return SendErrorResponse(res, stamp.error());
        json rows = json::array();
        for (const auto& row : page->rows)
          rows.push_back(RowJson(row, q->now_ms));
        SendJson(res, 200,
                 {{"total", page->total},
                  {"limit", q->limit},
                  {"offset", q->offset},
                  {"stamp", *stamp},
                  {"wait_cap_minutes", wait_cap_ms_ / 60000},
                  {"now", FormatIsoMillis(q->now_ms)},
                  {"studies", std::move(rows)}});
      });

  // Polled by open worklists: no patient data, so not audited.
  routes.Get("/api/worklist/stamp", Needs(Role::kViewer),
             [this](const RequestContext&, const httplib::Request&, httplib::Response& res) {
               auto stamp = archive_.index().reviews().ChangeStamp();
               if (!stamp.ok())
                 return SendErrorResponse(res, stamp.error());
               res.set_header("Cache-Control", "no-store");
               SendJson(res, 200, {{"stamp", *stamp}});
             });

  routes.Get(
      R"(/api/studies/([^/]+)/review)", Needs(Role::kViewer, Data::kPatient),
      [this](const RequestContext& ctx, const httplib::Request& req, httplib::Response& res) {
        const std::string uid = req.matches[1];
        if (Status valid = ValidateUid(uid, "StudyInstanceUID"); !valid.ok())
          return SendErrorResponse(res,
                                   MakeError(ErrorCode::kInvalidArgument, valid.error().message));
        const int64_t now = clock_.NowMillis();
        auto review = archive_.index().reviews().Review(ctx.caller->scope, uid);
        if (!review.ok())
          return SendErrorResponse(res, review.error());
        if (!review->has_value())
          return SendErrorResponse(res, MakeError(ErrorCode::kNotFound, "no such study"));
        auto decisions = archive_.index().reviews().Decisions(ctx.caller->scope, uid);
        if (!decisions.ok())
          return SendErrorResponse(res, decisions.error());
        json list = json::array();
        for (const auto& d : *decisions)
          list.push_back(DecisionJson(d));
        json body = RowJson(**review, now);
        body["decisions"] = std::move(list);
        SendJson(res, 200, body);
      });

  // The study page reports that a doctor opened the study. A POST, not a side effect of the GET
  // above: an <img> on another same-site page could otherwise record views for the victim.
  routes.Post(
      R"(/api/studies/([^/]+)/viewed)", Needs(Role::kViewer, Data::kPatient),
      [this](const RequestContext& ctx, const httplib::Request& req, httplib::Response& res) {
        const std::string uid = req.matches[1];
        if (Status valid = ValidateUid(uid, "StudyInstanceUID"); !valid.ok())
          return SendErrorResponse(res,
                                   MakeError(ErrorCode::kInvalidArgument, valid.error().message));
        auto review = archive_.index().reviews().Review(ctx.caller->scope, uid);
        if (!review.ok())
          return SendErrorResponse(res, review.error());
        if (!review->has_value())
          return SendErrorResponse(res, MakeError(ErrorCode::kNotFound, "no such study"));
        // Turnaround "viewed" means a doctor opened it, not an administrator or a read-only viewer.
        const store::UserRecord& caller = ctx.caller->user;
        const bool doctor = caller.role == "radiologist" || caller.role == "clinician";
        if (doctor) {
          if (Status viewed = archive_.index().reviews().MarkViewed(uid, clock_.NowMillis());
              !viewed.ok())
            return SendErrorResponse(res, viewed.error());
        }
        SendJson(res, 200, {{"study_instance_uid", uid}, {"recorded", doctor}});
      });

  routes.Post(
      R"(/api/studies/([^/]+)/decisions)", Needs(Role::kRadiologist, Data::kPatient),
      [this](const RequestContext& ctx, const httplib::Request& req, httplib::Response& res) {
        const std::string uid = req.matches[1];
        if (Status valid = ValidateUid(uid, "StudyInstanceUID"); !valid.ok())
          return SendErrorResponse(res,
                                   MakeError(ErrorCode::kInvalidArgument, valid.error().message));
        const json body = json::parse(req.body, nullptr, false);
        if (!body.is_object() || !body.contains("verdict") || !body["verdict"].is_string()) {
          return SendErrorResponse(
              res, MakeError(ErrorCode::kInvalidArgument,
                             "send {\"verdict\": \"confirm\"|\"reject\", \"comment\": ..., "
                             "\"sop_instance_uid\": ... (omit for the whole study)}"));
        }
        store::DecisionInput d;
        d.study_uid = uid;
        d.verdict = body["verdict"].get<std::string>();
        if (body.contains("comment")) {
          if (!body["comment"].is_string())
            return SendErrorResponse(
                res, MakeError(ErrorCode::kInvalidArgument, "comment must be a string"));
          d.comment = body["comment"].get<std::string>();
          if (d.comment.size() > 4000)
            return SendErrorResponse(
                res, MakeError(ErrorCode::kInvalidArgument, "comment must be at most 4000 bytes"));
        }
        if (body.contains("sop_instance_uid") && !body["sop_instance_uid"].is_null()) {
          if (!body["sop_instance_uid"].is_string())
            return SendErrorResponse(
                res, MakeError(ErrorCode::kInvalidArgument, "sop_instance_uid must be a string"));
          d.sop_uid = body["sop_instance_uid"].get<std::string>();
          if (Status valid = ValidateUid(d.sop_uid, "SOPInstanceUID"); !valid.ok())
            return SendErrorResponse(res,
                                     MakeError(ErrorCode::kInvalidArgument, valid.error().message));
        }
        if (d.verdict != "confirm" && d.verdict != "reject")
          return SendErrorResponse(res, MakeError(ErrorCode::kInvalidArgument,
                                                  "verdict must be \"confirm\" or \"reject\""));
        // Only a study the caller sees may be decided on (one of another institution does not
        // exist for them).
        auto visible = archive_.index().reviews().Review(ctx.caller->scope, uid);
        if (!visible.ok())
          return SendErrorResponse(res, visible.error());
        if (!visible->has_value())
          return SendErrorResponse(res, MakeError(ErrorCode::kNotFound, "no such study"));
        d.username = ctx.caller->user.username;
        d.now_ms = clock_.NowMillis();
        // The decision is recorded in the audit log before it is stored: a decision that cannot be
        // audited is not taken.
        Status audited = archive_.index().users().Audit(
            {d.now_ms, d.username, "decision." + d.verdict, d.sop_uid.empty() ? uid : d.sop_uid,
             req.remote_addr, d.comment.substr(0, 500)});
        if (!audited.ok())
          return SendErrorResponse(res,
                                   MakeError(ErrorCode::kUnavailable, "audit log unavailable"));
        auto status = archive_.index().reviews().Decide(d);
        if (!status.ok())
          return SendErrorResponse(res, status.error());
        SendJson(res, 201, {{"study_instance_uid", uid}, {"review_status", *status}});
      });

  routes.Get(
      "/api/stats", Needs(Role::kViewer),
      [this](const RequestContext&, const httplib::Request& req, httplib::Response& res) {
        int64_t from_ms = 0;
        int64_t to_ms = clock_.NowMillis() + 1;
        if (req.has_param("from")) {
          auto day = ParseDate("from", req.get_param_value("from"));
          if (!day.ok())
            return SendErrorResponse(res, day.error());
          from_ms = DayStartMillis(*day);
        }
        if (req.has_param("to")) {
          auto day = ParseDate("to", req.get_param_value("to"));
          if (!day.ok())
            return SendErrorResponse(res, day.error());
          to_ms = DayStartMillis(*day) + 86'400'000;  // the "to" day is included
        }
        auto stats = archive_.index().reviews().Stats(from_ms, to_ms);
        if (!stats.ok())
          return SendErrorResponse(res, stats.error());
        json models = json::array();
        for (const auto& m : *stats) {
          const int64_t decided = m.confirmed + m.rejected;
          models.push_back(
              {{"model", m.model},
               {"model_version", m.version},
               {"images_analysed", m.images},
               {"studies", m.studies},
               {"high_risk", m.high_risk},
               {"confirmed", m.confirmed},
               {"rejected", m.rejected},
               {"undecided", m.undecided},
               {"confirm_rate",
                decided > 0 ? json(static_cast<double>(m.confirmed) / static_cast<double>(decided))
                            : json(nullptr)},
               {"turnaround_s",
                {{"received_to_ai",
                  {{"p50", Seconds(m.received_to_ai_p50)}, {"p90", Seconds(m.received_to_ai_p90)}}},
                 {"ai_to_viewed",
                  {{"p50", Seconds(m.ai_to_viewed_p50)}, {"p90", Seconds(m.ai_to_viewed_p90)}}},
                 {"viewed_to_confirmed",
                  {{"p50", Seconds(m.viewed_to_reviewed_p50)},
                   {"p90", Seconds(m.viewed_to_reviewed_p90)}}},
                 {"received_to_confirmed",
                  {{"p50", Seconds(m.received_to_reviewed_p50)},
                   {"p90", Seconds(m.received_to_reviewed_p90)}}}}}});
        }
        SendJson(res, 200,
                 {{"from", FormatIsoMillis(from_ms)},
                  {"to", FormatIsoMillis(to_ms)},
                  {"models", std::move(models)}});
      });
}

}  // namespace dxhub::web
