#include "web/share_routes.h"

#include <httplib.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/uid.h"
#include "store/report_archive.h"
#include "web/auth.h"
#include "web/params.h"
#include "web/web_app.h"

namespace dxhub::web {
namespace {

using nlohmann::json;

constexpr const char* kToken = R"(/share/([0-9a-f]{64}))";
constexpr const char* kGrantCookie = "dxhub_share";
constexpr int64_t kHourMs = int64_t{3600} * 1000;
constexpr int64_t kMaxLinkHours = int64_t{24} * 30;
constexpr int64_t kGrantMs = kHourMs * 12;  // an opened link is good for a working day

Error Invalid(std::string why) {
  return MakeError(ErrorCode::kInvalidArgument, std::move(why));
}

json ToJson(const store::Share& s) {
  return {
      {"id", s.id},
      {"study_instance_uid", s.study_uid},
      {"kind", s.kind},
      {"institution", s.institution.empty() ? json() : json(s.institution)},
      {"access_code", s.has_code},
      {"recipient", s.recipient},
      {"created_by", s.created_by},
      {"created_at", FormatIsoMillis(s.created_ms)},
      {"expires_at", s.expires_ms != 0 ? json(FormatIsoMillis(s.expires_ms)) : json()},
      {"revoked_at", s.revoked_ms != 0 ? json(FormatIsoMillis(s.revoked_ms)) : json()},
      {"revoked_by", s.revoked_by},
      {"opened", s.opened},
      {"last_opened_at", s.last_opened_ms != 0 ? json(FormatIsoMillis(s.last_opened_ms)) : json()}};
}

void SendGone(httplib::Response& res, const std::string& why) {
  SendJsonResponse(res, 410, {{"error", "gone"}, {"message", why}});
}

const WebAsset* SharePage() {
  for (const auto& asset : WebAssets()) {
    if (asset.path == "/share.html")
      return &asset;
  }
  return nullptr;
}

}  // namespace

void ShareRoutes::Register(RouteTable& routes) {
  store::ShareStore& shares = archive_.index().shares();

  routes.Post(R"(/api/studies/([^/]+)/shares)", Needs(Role::kClinician, Data::kPatient),
              [this, &shares](const RequestContext& ctx, const httplib::Request& req,
                              httplib::Response& res) {
                const std::string uid = req.matches[1];
                if (Status valid = ValidateUid(uid, "StudyInstanceUID"); !valid.ok())
                  return SendErrorResponse(res, Invalid(valid.error().message));
                const json body = json::parse(req.body, nullptr, false);
                auto text = [&](const char* key) -> std::optional<std::string> {
                  if (!body.contains(key) || body[key].is_null())
                    return std::string();
                  if (!body[key].is_string())
                    return std::nullopt;
                  return body[key].get<std::string>();
                };
                const auto kind = text("kind");
                const auto recipient = text("recipient");
                const auto code = text("access_code");
                const auto institution = text("institution");
                if (!body.is_object() || !kind || !recipient || !code || !institution ||
                    (body.contains("expires_hours") && !body["expires_hours"].is_number_integer()))
                  return SendErrorResponse(
                      res,
                      Invalid("send {\"kind\": \"link\", \"expires_hours\": N, \"access_code\": "
                              "..., \"recipient\": ...} or {\"kind\": \"institution\", "
                              "\"institution\": NAME}"));
                const int64_t now = clock_.NowMillis();
                if (*kind == "institution") {
                  if (institution->empty())
                    return SendErrorResponse(res, Invalid("name the institution to share with"));
                  auto share = shares.AddInstitution(ctx.caller->scope, uid, *institution,
                                                     ctx.caller->user.username, now);
                  if (!share.ok())
                    return SendErrorResponse(res, share.error());
                  return SendJsonResponse(res, 201, ToJson(*share));
                }
                if (*kind != "link" && !kind->empty())
                  return SendErrorResponse(res, Invalid("kind must be link or institution"));
                const int64_t hours = body.value("expires_hours", int64_t{72});
                if (hours < 1 || hours > kMaxLinkHours)
                  return SendErrorResponse(res, Invalid("expires_hours must be 1..720 (30 days)"));
                if (!code->empty() && (code->size() < 4 || code->size() > 64))
                  return SendErrorResponse(res, Invalid("an access code has 4 to 64 characters"));
                std::string code_hash;
                if (!code->empty()) {
                  auto hashed = HashPassword(*code);
                  if (!hashed.ok())
                    return SendErrorResponse(res, hashed.error());
                  code_hash = std::move(hashed.value());
                }
                // The token is shown once, here; the index keeps its hash only.
                const std::string token = NewToken();
                auto share = shares.AddLink(
                    ctx.caller->scope, {uid, TokenHash(token), code_hash, *recipient,
                                        ctx.caller->user.username, now, now + hours * kHourMs});
                if (!share.ok())
                  return SendErrorResponse(res, share.error());
                json out = ToJson(*share);
                out["token"] = token;
                out["url"] = "/share/" + token;
                SendJsonResponse(res, 201, out);
              });

  routes.Get(R"(/api/studies/([^/]+)/shares)", Needs(Role::kClinician, Data::kPatient),
             [this, &shares](const RequestContext& ctx, const httplib::Request& req,
                             httplib::Response& res) {
               const std::string uid = req.matches[1];
               if (Status valid = ValidateUid(uid, "StudyInstanceUID"); !valid.ok())
                 return SendErrorResponse(res, Invalid(valid.error().message));
               auto study = archive_.index().GetStudy(ctx.caller->scope, uid);
               if (!study.ok())
                 return SendErrorResponse(res, study.error());
               if (!study->has_value())
                 return SendErrorResponse(res, MakeError(ErrorCode::kNotFound, "no such study"));
               auto list = shares.List(ctx.caller->scope, uid);
               if (!list.ok())
                 return SendErrorResponse(res, list.error());
               json out = json::array();
               for (const auto& s : *list)
                 out.push_back(ToJson(s));
               SendJsonResponse(res, 200, {{"shares", std::move(out)}});
             });

  routes.Post(R"(/api/shares/(\d+)/revoke)", Needs(Role::kClinician, Data::kPatient),
              [this, &shares](const RequestContext& ctx, const httplib::Request& req,
                              httplib::Response& res) {
                auto id = ParseInt("id", req.matches[1], 1, 2'000'000'000);
                if (!id.ok())
                  return SendErrorResponse(res, id.error());
                auto revoked = shares.Revoke(ctx.caller->scope, *id, ctx.caller->user.username,
                                             clock_.NowMillis());
                if (!revoked.ok())
                  return SendErrorResponse(res, revoked.error());
                SendJsonResponse(res, 200, ToJson(*revoked));
              });

  // The viewer page itself holds nothing: it asks for the study once it is opened.
  routes.Get(kToken, kOpen,
             [](const RequestContext&, const httplib::Request&, httplib::Response& res) {
               const WebAsset* page = SharePage();
               if (page == nullptr)
                 return SendErrorResponse(res, MakeError(ErrorCode::kNotFound, "no viewer"));
               res.set_header("Cache-Control", "no-store");
               res.set_header("X-Content-Type-Options", "nosniff");
               res.set_header("X-Frame-Options", "DENY");
               res.set_header("Referrer-Policy", "no-referrer");
               res.set_header("Content-Security-Policy",
                              "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; "
                              "script-src 'self'; connect-src 'self'; frame-ancestors 'none'");
               res.set_content(std::string(page->body), std::string(page->content_type));
             });

  // The link as it stands: kNotFound, or 410 when expired or revoked (answered here).
  auto link = [this, &shares](const httplib::Request& req,
                              httplib::Response& res) -> std::optional<store::LinkShare> {
    res.set_header("Cache-Control", "no-store");
    auto found = shares.FindLink(TokenHash(req.matches[1]));
    if (!found.ok()) {
      SendErrorResponse(res, found.error());
      return std::nullopt;
    }
    if (!found->has_value()) {
      SendErrorResponse(res, MakeError(ErrorCode::kNotFound, "this link does not exist"));
      return std::nullopt;
    }
    const store::Share& s = (*found)->share;
    if (s.revoked_ms != 0) {
      SendGone(res, "this link was withdrawn");
      return std::nullopt;
    }
    if (s.expires_ms != 0 && clock_.NowMillis() >= s.expires_ms) {
      SendGone(res, "this link has expired");
      return std::nullopt;
    }
    return std::move(**found);
  };
  // The link, if this browser opened it.
  auto granted = [this, &shares, link](const httplib::Request& req,
                                       httplib::Response& res) -> std::optional<store::Share> {
    auto l = link(req, res);
    if (!l)
      return std::nullopt;
    const std::string grant = CookieValue(req.get_header_value("Cookie"), kGrantCookie);
    auto ok = grant.empty() ? Result<bool>(false)
                            : shares.Granted(l->share.id, TokenHash(grant), clock_.NowMillis());
    if (!ok.ok()) {
      SendErrorResponse(res, ok.error());
      return std::nullopt;
    }
    if (!*ok) {
      SendErrorResponse(res, MakeError(ErrorCode::kUnauthorized, "open the link first"));
      return std::nullopt;
    }
    return l->share;
  };

  routes.Post(
      std::string(kToken) + "/open", kOpen,
      [this, &shares, link](const RequestContext&, const httplib::Request& req,
                            httplib::Response& res) {
        auto l = link(req, res);
        if (!l)
          return;
        const int64_t now = clock_.NowMillis();
        const std::string account = "share:" + std::to_string(l->share.id);
        if (!l->code_hash.empty()) {
          const json body = json::parse(req.body, nullptr, false);
          const std::string code =
              body.is_object() && body.contains("access_code") && body["access_code"].is_string()
                  ? body["access_code"].get<std::string>()
                  : "";
          if (code.empty()) {
            return SendJsonResponse(
                res, 401,
                {{"error", "code_required"}, {"message", "this link needs its access code"}});
          }
          if (throttle_.Blocked(req.remote_addr, account, now)) {
            return SendErrorResponse(res, MakeError(ErrorCode::kTooManyRequests,
                                                    "too many wrong codes; try again later"));
          }
          if (code.size() > 64 || !VerifyPassword(l->code_hash, code)) {
            throttle_.Failure(req.remote_addr, account, now);
            (void)archive_.index().users().Audit(
                {now, account, "share.refused", l->share.study_uid, req.remote_addr, ""});
            return SendErrorResponse(res, MakeError(ErrorCode::kForbidden, "wrong access code"));
          }
          throttle_.Success(req.remote_addr, account);
        }
        // Every opening is on record before anything of the study is shown.
        Status audited =
            archive_.index().users().Audit({now, account, "share.open", l->share.study_uid,
                                            req.remote_addr, l->share.recipient.substr(0, 128)});
        if (!audited.ok())
          return SendErrorResponse(res,
                                   MakeError(ErrorCode::kUnavailable, "audit log unavailable"));
        const std::string grant = NewToken();
        const int64_t until = l->share.expires_ms != 0
                                  ? std::min(now + kGrantMs, l->share.expires_ms)
                                  : now + kGrantMs;
        if (Status opened = shares.Open(l->share.id, TokenHash(grant), until, now); !opened.ok())
          return SendErrorResponse(res, opened.error());
        res.set_header("Set-Cookie",
                       std::string(kGrantCookie) + "=" + grant + "; Path=/share/" +
                           std::string(req.matches[1]) + "; HttpOnly; SameSite=Strict; Max-Age=" +
                           std::to_string((until - now) / 1000) + (secure_ ? "; Secure" : ""));

        const store::Scope all = store::Scope::Everything();
        auto study = archive_.index().GetStudy(all, l->share.study_uid);
        if (!study.ok() || !study->has_value())
          return SendErrorResponse(res, MakeError(ErrorCode::kNotFound, "the study is gone"));
        const auto& s = (*study)->study;
        json series = json::array();
        for (const auto& se : (*study)->series) {
          if (se.modality == "SR" || se.modality == "DOC")
            continue;  // the report is shown as text, its PDF linked
          json instances = json::array();
          for (const auto& i : se.instances) {
            if (i.frames > 0)
              instances.push_back({{"sop_instance_uid", i.sop_uid},
                                   {"instance_number", i.instance_number},
                                   {"frames", i.frames}});
          }
          if (instances.empty())
            continue;
          series.push_back({{"series_instance_uid", se.series_uid},
                            {"modality", se.modality},
                            {"series_number", se.series_number},
                            {"series_description", se.series_description},
                            {"instances", std::move(instances)}});
        }
        json reports = json::array();
        auto signed_reports = archive_.index().reading().Reports(all, l->share.study_uid, false);
        if (signed_reports.ok()) {
          for (const auto& r : *signed_reports) {
            reports.push_back({{"version", r.version},
                               {"author", r.author},
                               {"signed_at", FormatIsoMillis(r.signed_ms)},
                               {"findings", r.findings},
                               {"impression", r.impression},
                               {"pdf", "/share/" + std::string(req.matches[1]) + "/reports/" +
                                           std::to_string(r.version) + "/pdf"}});
          }
        }
        SendJsonResponse(
            res, 200,
            {{"patient_name", s.patient_name},
             {"patient_id", s.patient_id},
             {"patient_birth_date", s.patient_birth_date},
             {"patient_sex", s.patient_sex},
             {"study_date", s.study_date},
             {"study_description", s.study_description},
             {"institution", s.institution},
             {"expires_at",
              l->share.expires_ms != 0 ? json(FormatIsoMillis(l->share.expires_ms)) : json()},
             {"series", std::move(series)},
             {"reports", std::move(reports)}});
      });

  routes.Get(
      std::string(kToken) + R"(/instances/([^/]+)/rendered)", kOpen,
      [this, granted](const RequestContext&, const httplib::Request& req, httplib::Response& res) {
        auto share = granted(req, res);
        if (!share)
          return;
        const std::string sop = req.matches[2];
        if (Status valid = ValidateUid(sop, "SOPInstanceUID"); !valid.ok())
          return SendErrorResponse(res, Invalid(valid.error().message));
        int frame = 1;
        if (req.has_param("frame")) {
          auto n = ParseInt("frame", req.get_param_value("frame"), 1, 100000);
          if (!n.ok())
            return SendErrorResponse(res, n.error());
          frame = *n;
        }
        dicom::RenderOptions options;
        if (req.get_param_value("size") == "thumbnail")
          options.viewport_columns = options.viewport_rows = 128;
        // Only an image of the shared study: the UID alone opens nothing else.
        store::IndexQuery query;
        query.level = store::Level::kInstance;
        query.filters = {{store::Field::kStudyUid, store::Filter::Kind::kExact, {share->study_uid}},
                         {store::Field::kSopUid, store::Filter::Kind::kExact, {sop}}};
        query.limit = 1;
        auto rows = archive_.index().Query(store::Scope::Everything(), query);
        if (!rows.ok())
          return SendErrorResponse(res, rows.error());
        if (rows->empty() || rows->front().instance.frames <= 0)
          return SendErrorResponse(res, MakeError(ErrorCode::kNotFound, "no such image"));
        auto image = dicomweb_.Render(rows->front(), frame, options);
        if (!image.ok())
          return SendErrorResponse(res, image.error());
        res.set_content(**image, "image/jpeg");
      });

  routes.Get(
      std::string(kToken) + R"(/reports/(\d+)/pdf)", kOpen,
      [this, granted](const RequestContext&, const httplib::Request& req, httplib::Response& res) {
        auto share = granted(req, res);
        if (!share)
          return;
        auto version = ParseInt("version", req.matches[2], 1, 10'000);
        if (!version.ok())
          return SendErrorResponse(res, version.error());
        auto pdf =
            store::ReportPdf(archive_, store::Scope::Everything(), share->study_uid, *version);
        if (!pdf.ok())
          return SendErrorResponse(res, pdf.error());
        res.set_header("Content-Disposition", "inline; filename=\"report.pdf\"");
        res.set_content(*pdf, "application/pdf");
      });
}

}  // namespace dxhub::web
