#include "web/institution_routes.h"

#include <httplib.h>

#include <nlohmann/json.hpp>

#include "core/net.h"
#include "core/uid.h"
#include "web/dicomweb_routes.h"
#include "web/json_views.h"

namespace dxhub::web {
namespace {

using nlohmann::json;

Error Invalid(std::string why) {
  return MakeError(ErrorCode::kInvalidArgument, std::move(why));
}

// The optional list of strings `key` of `body`.
Result<std::vector<std::string>> Strings(const json& body, const char* key) {
  std::vector<std::string> out;
  if (!body.contains(key) || body[key].is_null())
    return out;
  if (!body[key].is_array() || body[key].size() > 256)
    return Invalid(std::string(key) + " must be a list of at most 256 strings");
  for (const auto& v : body[key]) {
    if (!v.is_string() || v.get_ref<const std::string&>().size() > 64)
      return Invalid(std::string(key) + " must be a list of strings of at most 64 characters");
    out.push_back(v.get<std::string>());
  }
  return out;
}

Result<store::Institution> FromJson(const json& body) {
  if (!body.is_object() || !body.contains("name") || !body["name"].is_string()) {
    return Invalid(
        "send {\"name\": ..., \"issuer\": ..., \"senders\": [\"AET\" or \"AET@IP\"], "
        "\"aliases\": [...], \"reads_for\": [...]}");
  }
  store::Institution in;
  in.name = body["name"].get<std::string>();
  if (body.contains("issuer") && !body["issuer"].is_null()) {
    if (!body["issuer"].is_string() || body["issuer"].get_ref<const std::string&>().size() > 64)
      return Invalid("issuer must be a string of at most 64 characters");
    in.issuer = body["issuer"].get<std::string>();
  }
  auto aliases = Strings(body, "aliases");
  if (!aliases.ok())
    return aliases.error();
  in.aliases = std::move(aliases.value());
  auto reads_for = Strings(body, "reads_for");
  if (!reads_for.ok())
    return reads_for.error();
  in.reads_for = std::move(reads_for.value());
  auto senders = Strings(body, "senders");
  if (!senders.ok())
    return senders.error();
  for (const auto& s : *senders) {
    const size_t at = s.find('@');
    store::Sender sender{s.substr(0, at), at == std::string::npos ? "" : s.substr(at + 1)};
    if (!sender.host.empty() && !IsIpAddress(sender.host))
      return Invalid("a sender's address must be an IP address: " + sender.host);
    in.senders.push_back(std::move(sender));
  }
  return in;
}

Result<store::PatientRef> PatientFromJson(const json& v) {
  if (!v.is_object() || !v.contains("patient_id") || !v["patient_id"].is_string() ||
      v["patient_id"].get_ref<const std::string&>().empty() ||
      (v.contains("issuer") && !v["issuer"].is_string()))
    return Invalid("a patient is {\"patient_id\": ..., \"issuer\": ...}");
  return store::PatientRef{v["patient_id"].get<std::string>(),
                           v.contains("issuer") ? v["issuer"].get<std::string>() : ""};
}

json ToJson(const store::Institution& in, bool admin) {
  json out = {{"name", in.name},
              {"issuer", in.issuer},
              {"aliases", in.aliases},
              {"reads_for", in.reads_for}};
  if (admin) {
    json senders = json::array();
    for (const auto& s : in.senders)
      senders.push_back(s.host.empty() ? s.aet : s.aet + "@" + s.host);
    out["senders"] = std::move(senders);
  }
  return out;
}

}  // namespace

void InstitutionRoutes::Register(RouteTable& routes) {
  routes.Get("/api/institutions", Needs(Role::kViewer),
             [this](const RequestContext& ctx, const httplib::Request&, httplib::Response& res) {
               auto all = archive_.index().institutions().List();
               if (!all.ok())
                 return SendErrorResponse(res, all.error());
               const bool admin = ctx.caller->user.role == "admin";
               json list = json::array();
               for (const auto& in : *all) {
                 if (ctx.caller->scope.Allows(in.id))
                   list.push_back(ToJson(in, admin));
               }
               SendJsonResponse(res, 200,
                                {{"institution", ctx.caller->user.institution_name},
                                 {"institutions", std::move(list)}});
             });

  routes.Post(
      "/api/institutions", Needs(Role::kAdmin),
      [this](const RequestContext& ctx, const httplib::Request& req, httplib::Response& res) {
        // A clinic's administrator manages the clinic's accounts, not the region.
        if (ctx.caller->user.institution != 0) {
          return SendErrorResponse(
              res, MakeError(ErrorCode::kForbidden,
                             "only an administrator of the whole region adds institutions"));
        }
        auto in = FromJson(json::parse(req.body, nullptr, false));
        if (!in.ok())
          return SendErrorResponse(res, in.error());
        Status audited = archive_.index().users().Audit(
            {clock_.NowMillis(), ctx.caller->user.username, "institution.add",
             in->name.substr(0, 64), req.remote_addr, in->issuer});
        if (!audited.ok())
          return SendErrorResponse(res,
                                   MakeError(ErrorCode::kUnavailable, "audit log unavailable"));
        auto id = archive_.index().institutions().Add(*in, clock_.NowMillis());
        if (!id.ok())
          return SendErrorResponse(res, id.error());
        auto stored = archive_.index().institutions().Find(in->name);
        if (!stored.ok() || !stored->has_value())
          return SendErrorResponse(res, MakeError(ErrorCode::kInternal, "institution vanished"));
        SendJsonResponse(res, 201, ToJson(**stored, true));
      });

  // The person's other studies, under every identity linked to theirs, as far as the caller sees.
  routes.Get(
      R"(/api/studies/([^/]+)/history)", Needs(Role::kViewer, Data::kPatient),
      [this](const RequestContext& ctx, const httplib::Request& req, httplib::Response& res) {
        const std::string uid = req.matches[1];
        if (Status valid = ValidateUid(uid, "StudyInstanceUID"); !valid.ok())
          return SendErrorResponse(res, Invalid(valid.error().message));
        auto history = archive_.index().PersonHistory(ctx.caller->scope, uid);
        if (!history.ok())
          return SendErrorResponse(res, history.error());
        if (history->empty())
          return SendErrorResponse(res, MakeError(ErrorCode::kNotFound, "no such study"));
        json studies = json::array();
        for (const auto& s : *history)
          studies.push_back(dxhub::web::ToJson(s));
        SendJsonResponse(res, 200, {{"study_instance_uid", uid}, {"studies", std::move(studies)}});
      });

  // Linking identities spans institutions: only an administrator of the whole region does it,
  // and every link and unlink is in the audit log before it is made.
  auto region_admin = [this](const RequestContext& ctx, const httplib::Request& req,
                             const std::string& action, const std::string& detail) -> Status {
    if (ctx.caller->user.institution != 0) {
      return MakeError(ErrorCode::kForbidden,
                       "only an administrator of the whole region links patients");
    }
    Status audited =
        archive_.index().users().Audit({clock_.NowMillis(), ctx.caller->user.username, action,
                                        detail.substr(0, 128), req.remote_addr, ""});
    if (!audited.ok())
      return MakeError(ErrorCode::kUnavailable, "audit log unavailable");
    return Ok();
  };
  routes.Post("/api/patient-links", Needs(Role::kAdmin, Data::kPatient),
              [region_admin, this](const RequestContext& ctx, const httplib::Request& req,
                                   httplib::Response& res) {
                const json body = json::parse(req.body, nullptr, false);
                if (!body.is_object() || !body.contains("patients") ||
                    !body["patients"].is_array() || body["patients"].size() != 2)
                  return SendErrorResponse(
                      res,
                      Invalid("send {\"patients\": [{\"patient_id\", \"issuer\"}, {...}]}: the two "
                              "identities of one person"));
                auto a = PatientFromJson(body["patients"][0]);
                auto b = PatientFromJson(body["patients"][1]);
                if (!a.ok() || !b.ok())
                  return SendErrorResponse(res, a.ok() ? b.error() : a.error());
                const std::string detail =
                    a->patient_id + "@" + a->issuer + " = " + b->patient_id + "@" + b->issuer;
                if (Status allowed = region_admin(ctx, req, "patient.link", detail); !allowed.ok())
                  return SendErrorResponse(res, allowed.error());
                if (Status linked = archive_.index().LinkPatients(*a, *b); !linked.ok())
                  return SendErrorResponse(res, linked.error());
                SendJsonResponse(res, 200, {{"linked", true}});
              });
  // Linking by rule: an issuer whose identifiers (in OtherPatientIDsSequence) name the person.
  routes.Get("/api/patient-link-rules", Needs(Role::kAdmin),
             [this](const RequestContext&, const httplib::Request&, httplib::Response& res) {
               auto issuers = archive_.index().LinkIssuers();
               if (!issuers.ok())
                 return SendErrorResponse(res, issuers.error());
               SendJsonResponse(res, 200, {{"issuers", *issuers}});
             });
  routes.Post("/api/patient-link-rules", Needs(Role::kAdmin, Data::kPatient),
              [region_admin, this](const RequestContext& ctx, const httplib::Request& req,
                                   httplib::Response& res) {
                const json body = json::parse(req.body, nullptr, false);
                if (!body.is_object() || !body.contains("issuer") || !body["issuer"].is_string())
                  return SendErrorResponse(
                      res, Invalid("send {\"issuer\": ...}: the IssuerOfPatientID whose "
                                   "identifiers in OtherPatientIDsSequence name the person"));
                const std::string issuer = body["issuer"].get<std::string>();
                if (Status allowed = region_admin(ctx, req, "patient.link-rule", issuer);
                    !allowed.ok())
                  return SendErrorResponse(res, allowed.error());
                auto linked = archive_.index().AddLinkIssuer(issuer, clock_.NowMillis());
                if (!linked.ok())
                  return SendErrorResponse(res, linked.error());
                SendJsonResponse(res, 200, {{"issuer", issuer}, {"linked", *linked}});
              });
  routes.Post("/api/patient-links/remove", Needs(Role::kAdmin, Data::kPatient),
              [region_admin, this](const RequestContext& ctx, const httplib::Request& req,
                                   httplib::Response& res) {
                auto patient = PatientFromJson(json::parse(req.body, nullptr, false));
                if (!patient.ok())
                  return SendErrorResponse(res, patient.error());
                if (Status allowed = region_admin(ctx, req, "patient.unlink",
                                                  patient->patient_id + "@" + patient->issuer);
                    !allowed.ok())
                  return SendErrorResponse(res, allowed.error());
                if (Status unlinked = archive_.index().UnlinkPatient(*patient); !unlinked.ok())
                  return SendErrorResponse(res, unlinked.error());
                SendJsonResponse(res, 200, {{"linked", false}});
              });
}

}  // namespace dxhub::web
