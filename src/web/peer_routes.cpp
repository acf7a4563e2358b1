#include "web/peer_routes.h"

#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <type_traits>

#include "dicom/store_scu.h"
#include "web/dicomweb_routes.h"

namespace dxhub::web {
namespace {

using nlohmann::json;

// A DICOMweb peer answers a QIDO-RS study search for at most one study.
Status ProbeDicomWeb(const DicomWebPeer& peer) {
  const size_t scheme_end = peer.url.find("://") + 3;
  const size_t path_at = peer.url.find('/', scheme_end);
  const std::string origin = peer.url.substr(0, path_at);
  const std::string path = path_at == std::string::npos ? "" : peer.url.substr(path_at);
  httplib::Client client(origin);
  client.set_connection_timeout(5);
  client.set_read_timeout(10);
  httplib::Headers headers = {{"Accept", "application/dicom+json"}};
  if (!peer.token.empty())
    headers.emplace("Authorization", "Bearer " + peer.token);
  auto res = client.Get(path + "/studies?limit=1", headers);
  if (!res) {
    return MakeError(ErrorCode::kUnavailable,
                     peer.url + " cannot be reached: " + httplib::to_string(res.error()));
  }
  if (res->status != 200 && res->status != 204) {
    return MakeError(ErrorCode::kUnavailable,
                     peer.url + " answered HTTP " + std::to_string(res->status) + " to QIDO-RS");
  }
  return Ok();
}

Error Invalid(std::string why) {
  return MakeError(ErrorCode::kInvalidArgument, std::move(why));
}

// The optional member `key` of a JSON object, checked for type; nullopt when absent.
template <typename T>
Result<std::optional<T>> Member(const json& body, const char* key) {
  if (!body.contains(key) || body[key].is_null())
    return std::optional<T>();
  const json& v = body[key];
  if constexpr (std::is_same_v<T, bool>) {
    if (!v.is_boolean())
      return Invalid(std::string(key) + " must be true or false");
  } else if constexpr (std::is_same_v<T, int64_t>) {
    if (!v.is_number_integer())
      return Invalid(std::string(key) + " must be an integer");
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (!v.is_string() || v.get_ref<const std::string&>().size() > 4096)
      return Invalid(std::string(key) + " must be a string of at most 4096 bytes");
  } else {
    if (!v.is_array() || v.size() > 64 ||
        !std::all_of(v.begin(), v.end(), [](const json& e) { return e.is_string(); }))
      return Invalid(std::string(key) + " must be a list of at most 64 strings");
  }
  return std::optional<T>(v.get<T>());
}

template <typename T>
const Error* ErrorOf(const Result<T>& r) {
  return r.ok() ? nullptr : &r.error();
}

// {"kind": "dicom", "name", "aet", "host", "port", "query", "from", "tls", "ca"}
Result<RemoteAe> RemoteAeFromJson(const json& body) {
  RemoteAe ae;
  auto aet = Member<std::string>(body, "aet");
  auto host = Member<std::string>(body, "host");
  auto port = Member<int64_t>(body, "port");
  auto name = Member<std::string>(body, "name");
  auto query = Member<bool>(body, "query");
  auto from = Member<std::vector<std::string>>(body, "from");
  auto tls = Member<bool>(body, "tls");
  auto ca = Member<std::string>(body, "ca");
  for (const Error* e : {ErrorOf(aet), ErrorOf(host), ErrorOf(port), ErrorOf(name), ErrorOf(query),
                         ErrorOf(from), ErrorOf(tls), ErrorOf(ca)}) {
    if (e != nullptr)
      return *e;
  }
  if (!*aet || !*host)
    return Invalid("a DICOM peer needs aet and host (and port, default 104)");
  ae.aet = **aet;
  ae.host = **host;
  ae.name = name->value_or(ae.aet);
  const int64_t p = port->value_or(104);
  ae.port = p > 0 && p <= 65535 ? static_cast<int>(p) : 0;
  ae.query = query->value_or(false);
  ae.from = from->value_or(std::vector<std::string>());
  ae.tls = tls->value_or(false);
  ae.ca = ca->value_or("");
  return ae;
}

// {"kind": "dicomweb", "name", "url", "token"}
Result<DicomWebPeer> DicomWebPeerFromJson(const json& body) {
  auto name = Member<std::string>(body, "name");
  auto url = Member<std::string>(body, "url");
  auto token = Member<std::string>(body, "token");
  for (const Error* e : {ErrorOf(name), ErrorOf(url), ErrorOf(token)}) {
    if (e != nullptr)
      return *e;
  }
  if (!*name || !*url)
    return Invalid("a DICOMweb peer needs name and url");
  return DicomWebPeer{**name, **url, token->value_or("")};
}

}  // namespace

void PeerRoutes::Register(RouteTable& routes) {
  // The known nodes and where each comes from: what an engineer checks first when wiring dxhub
  // to a PACS. Tokens are never listed.
  routes.Get("/api/peers", Needs(Role::kAdmin),
             [this](const RequestContext&, const httplib::Request&, httplib::Response& res) {
               auto now = peers_.Current();
               auto source = [&](const std::string& name) {
                 return now->configured.count(name) ? "config" : "database";
               };
               json list = json::array();
               for (const auto& ae : now->remote_aes) {
                 list.push_back({{"name", ae.name},
                                 {"kind", "dicom"},
                                 {"aet", ae.aet},
                                 {"host", ae.host},
                                 {"port", ae.port},
                                 {"query", ae.query},
                                 {"from", ae.from},
                                 {"tls", ae.tls},
                                 {"source", source(ae.name)}});
               }
               for (const auto& peer : now->dicomweb_peers) {
                 list.push_back({{"name", peer.name},
                                 {"kind", "dicomweb"},
                                 {"url", peer.url},
                                 {"token_set", !peer.token.empty()},
                                 {"source", source(peer.name)}});
               }
               SendJsonResponse(res, 200, {{"aet", aet_}, {"peers", std::move(list)}});
             });

  // Adds a peer for every node, or replaces the stored one of that name.
  routes.Post(
      "/api/peers", Needs(Role::kAdmin),
      [this](const RequestContext& ctx, const httplib::Request& req, httplib::Response& res) {
        const json body = json::parse(req.body, nullptr, false);
        if (!body.is_object() || !body.contains("kind") || !body["kind"].is_string()) {
          return SendErrorResponse(
              res, Invalid("send {\"kind\": \"dicom\", \"name\", \"aet\", \"host\", \"port\", "
                           "\"query\", \"from\", \"tls\", \"ca\"} or {\"kind\": \"dicomweb\", "
                           "\"name\", \"url\", \"token\"}"));
        }
        const std::string kind = body["kind"].get<std::string>();
        const std::string& who = ctx.caller->user.username;
        std::string name;
        std::string detail;
        Status put = Ok();
        if (kind == "dicom") {
          auto ae = RemoteAeFromJson(body);
          if (!ae.ok())
            return SendErrorResponse(res, ae.error());
          name = ae->name;
          detail = ae->aet + "@" + ae->host + ":" + std::to_string(ae->port) +
                   (ae->query ? " query" : "") + (ae->tls ? " tls" : "");
          // Validated before it is audited: the audit log records changes, not typing errors.
          if (Status valid = ValidateRemoteAe(*ae); !valid.ok())
            return SendErrorResponse(res, valid.error());
          if (Status audited = Audited(who, "peer.put", name, req.remote_addr, detail);
              !audited.ok())
            return SendErrorResponse(res, audited.error());
          put = peers_.PutRemoteAe(*ae, who);
        } else if (kind == "dicomweb") {
          auto peer = DicomWebPeerFromJson(body);
          if (!peer.ok())
            return SendErrorResponse(res, peer.error());
          name = peer->name;
          if (auto valid = MakeDicomWebPeer(peer->name, peer->url); !valid.ok())
            return SendErrorResponse(res, valid.error());
          if (Status audited = Audited(who, "peer.put", name, req.remote_addr, peer->url);
              !audited.ok())
            return SendErrorResponse(res, audited.error());
          put = peers_.PutDicomWebPeer(*peer, who);
        } else {
          return SendErrorResponse(res, Invalid("kind must be \"dicom\" or \"dicomweb\""));
        }
        if (!put.ok())
          return SendErrorResponse(res, put.error());
        SendJsonResponse(res, 201, {{"name", name}, {"kind", kind}, {"source", "database"}});
      });

  routes.Delete(
      R"(/api/peers/([^/]+))", Needs(Role::kAdmin),
      [this](const RequestContext& ctx, const httplib::Request& req, httplib::Response& res) {
        const std::string name = req.matches[1];
        if (name.size() > 64)
          return SendErrorResponse(res, MakeError(ErrorCode::kNotFound, "no such peer"));
        if (Status audited =
                Audited(ctx.caller->user.username, "peer.delete", name, req.remote_addr, "");
            !audited.ok())
          return SendErrorResponse(res, audited.error());
        if (Status removed = peers_.Remove(name); !removed.ok())
          return SendErrorResponse(res, removed.error());
        SendJsonResponse(res, 200, {{"name", name}, {"deleted", true}});
      });

  // A connection test: C-ECHO, or a one-study QIDO-RS search.
  routes.Post(R"(/api/peers/([^/]+)/echo)", Needs(Role::kAdmin),
              [this](const RequestContext&, const httplib::Request& req, httplib::Response& res) {
                const std::string name = req.matches[1];
                const auto start = std::chrono::steady_clock::now();
                auto now = peers_.Current();
                Status result = MakeError(ErrorCode::kNotFound, "no peer named '" + name + "'");
                for (const auto& ae : now->remote_aes) {
                  if (ae.name == name)
                    result = dicom::Echo({ae.aet, ae.host, ae.port, ae.tls, ae.ca,
                                          ae.tls ? client_cert_ : "", ae.tls ? client_key_ : ""},
                                         aet_);
                }
                for (const auto& peer : now->dicomweb_peers) {
                  if (peer.name == name)
                    result = ProbeDicomWeb(peer);
                }
                if (!result.ok() && result.error().code == ErrorCode::kNotFound)
                  return SendErrorResponse(res, result.error());
                const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                    std::chrono::steady_clock::now() - start)
                                    .count();
                SendJsonResponse(res, 200,
                                 {{"name", name},
                                  {"ok", result.ok()},
                                  {"milliseconds", ms},
                                  {"message", result.ok() ? "answered" : result.error().message}});
              });
}

Status PeerRoutes::Audited(const std::string& who, const std::string& action,
                           const std::string& name, const std::string& remote,
                           const std::string& detail) {
  // A change to who may query and where images go is recorded before it is made; one that
  // cannot be recorded is not made.
  Status audited = archive_.index().users().Audit(
      {clock_.NowMillis(), who, action, name.substr(0, 64), remote, detail.substr(0, 500)});
  if (!audited.ok())
    return MakeError(ErrorCode::kUnavailable, "audit log unavailable");
  return Ok();
}

}  // namespace dxhub::web
