#include "web/http_server.h"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <chrono>
#include <ctime>
#include <optional>
#include <set>
#include <thread>

#include "core/clock.h"
#include "core/net.h"
#include "core/strings.h"
#include "core/uid.h"
#include "dicom/store_scu.h"
#include "web/auth.h"
#include "web/cluster_routes.h"
#include "web/connection_pool.h"
#include "web/deid_routes.h"
#include "web/dicomweb_routes.h"
#include "web/http_connection.h"
#include "web/institution_routes.h"
#include "web/json_views.h"
#include "web/params.h"
#include "web/peer_routes.h"
#include "web/processing_routes.h"
#include "web/reading_routes.h"
#include "web/review_routes.h"
#include "web/route_table.h"
#include "web/share_routes.h"
#include "web/tls_context.h"
#include "web/web_app.h"

namespace dxhub::web {
namespace {

using nlohmann::json;

void SendJson(httplib::Response& res, int status, const json& body) {
  SendJsonResponse(res, status, body);
}

void SendError(httplib::Response& res, const Error& error) {
  SendErrorResponse(res, error);
}

Result<store::StudyQuery> ParseStudyQuery(const httplib::Request& req) {
  static const std::set<std::string> kKnown = {"patient_id", "patient_name", "from",  "to",
                                               "modality",   "accession",    "limit", "offset"};
  store::StudyQuery q;
  for (const auto& [key, value] : req.params) {
    if (!kKnown.count(key)) {
      return MakeError(ErrorCode::kInvalidArgument, "unknown query parameter '" + key + "'");
    }
  }
  auto get = [&](const char* key) { return req.get_param_value(key); };
  q.patient_id = get("patient_id");
  q.patient_name = get("patient_name");
  q.modality = get("modality");
  q.accession_number = get("accession");
  if (req.has_param("from")) {
    auto d = ParseDate("from", get("from"));
    if (!d.ok())
      return d.error();
    q.date_from = *d;
  }
  if (req.has_param("to")) {
    auto d = ParseDate("to", get("to"));
    if (!d.ok())
      return d.error();
    q.date_to = *d;
  }
  if (req.has_param("limit")) {
    auto v = ParseInt("limit", get("limit"), 1, 1000);
    if (!v.ok())
      return v.error();
    q.limit = *v;
  }
  if (req.has_param("offset")) {
    auto v = ParseInt("offset", get("offset"), 0, 1 << 30);
    if (!v.ok())
      return v.error();
    q.offset = *v;
  }
  return q;
}

class HttpServerImpl final : public HttpServer {
 public:
  HttpServerImpl(const HttpOptions& options, store::Archive& archive, store::PeerDirectory& peers,
                 ai::AiPipeline* ai, imaging::ProcessingService* processing)
      : options_(options),
        archive_(archive),
        ai_(ai),
        auth_(archive.index().users(), clock_),
        dicomweb_(archive, options.cache_bytes, options.public_url, !options.tls_cert.empty()),
        reviews_(archive, clock_, options.worklist_wait_cap_ms),
        processing_(archive, processing),
        cluster_(archive, clock_, options.node_name, options.job_lease_ms),
        peers_(archive, peers, clock_, options.aet, options.dicom_client_cert,
               options.dicom_client_key),
        institutions_(archive, clock_),
        reading_(archive, clock_, options.read_targets),
        shares_(archive, clock_, dicomweb_,
                !options.tls_cert.empty() || !options.trusted_proxies.empty()),
        deid_(archive, peers, clock_) {}

  ~HttpServerImpl() override { Stop(); }

  Status Start() {
    if (!options_.tls_cert.empty()) {
      tls_ = std::make_unique<TlsContextHolder>(options_.tls_cert, options_.tls_key);
      DXHUB_TRY(tls_->Reload());
      server_.UseTls(tls_.get());
    }
    auto proxies = ParseIpRanges(options_.trusted_proxies);
    if (!proxies.ok())
      return proxies.error();
    server_.TrustProxies(std::move(proxies.value()));
    const int threads = std::max(8, options_.threads);
    // httplib's API takes ownership of a raw TaskQueue pointer.
    server_.new_task_queue = [threads] { return new ThreadPerTaskQueue(threads); };  // NOLINT
    server_.SetPoolLimits({threads, threads * 3 / 4, std::max(4, threads * 3 / 16)});
    // Only STOW-RS takes large bodies, and it spools them to disk as they arrive.
    server_.set_payload_max_length(options_.max_upload_bytes);
    // Responses are written in pieces (headers, body); with Nagle's algorithm on, every request
    // after the first on a keep-alive connection waited ~40 ms for a delayed ACK (found by
    // bench/query.sh).
    server_.set_tcp_nodelay(true);
    server_.set_exception_handler(
        [](const httplib::Request&, httplib::Response& res, const std::exception_ptr& ep) {
          std::string what = "unexpected error";
          try {
            std::rethrow_exception(ep);
          } catch (const std::exception& e) {
            what = e.what();
          } catch (...) {
          }
          spdlog::error("http: handler threw: {}", what);
          SendError(res, MakeError(ErrorCode::kInternal, "internal error"));
        });
    server_.set_error_handler([](const httplib::Request&, httplib::Response& res) {
      if (res.body.empty()) {
        const bool not_found = res.status == 404;
        SendJson(res, res.status,
                 {{"error", not_found ? "not_found" : "http_error"},
                  {"message", not_found ? "no such resource" : "request failed"}});
      }
    });
    // Patient data must not linger in a shared workstation's browser cache.
    // Cookies are Secure, and browsers told to keep to HTTPS, when dxhub serves TLS itself or
    // sits behind a TLS-terminating proxy.
    const bool secure = tls_ != nullptr || !options_.trusted_proxies.empty();
    secure_cookies_ = secure;
    server_.set_post_routing_handler([secure](const httplib::Request& req, httplib::Response& res) {
      const bool data = req.path.rfind("/api", 0) == 0 || req.path.rfind("/dicom-web", 0) == 0;
      if (data && !res.has_header("Cache-Control"))
        res.set_header("Cache-Control", "no-store");
      if (secure)
        res.set_header("Strict-Transport-Security", "max-age=31536000");
    });
    // Body limits are decided before httplib reads a body; who may call a route is decided by
    // the route table's guard once the route is known.
    server_.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      return BodyAcceptable(req, res) ? httplib::Server::HandlerResponse::Unhandled
                                      : httplib::Server::HandlerResponse::Handled;
    });
    Routes();

    if (options_.port == 0) {
      port_ = server_.bind_to_any_port(options_.bind);
    } else if (server_.bind_to_port(options_.bind, options_.port)) {
      port_ = options_.port;
    }
    if (port_ <= 0) {
      return MakeError(ErrorCode::kUnavailable,
                       "cannot bind HTTP " + options_.bind + ":" + std::to_string(options_.port));
    }
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // httplib's stop() is a no-op until its accept loop runs; a signal arriving during start-up
    // would otherwise leave Stop() joining a thread that never ends.
    for (int i = 0; i < 5000 && !server_.is_running(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    spdlog::info("http: listening on {}://{}:{}", tls_ ? "https" : "http", options_.bind, port_);
    return Ok();
  }

  int port() const override { return port_; }

  Status ReloadTls() override {
    if (!tls_)
      return Ok();
    DXHUB_TRY(tls_->Reload());
    spdlog::info("http: TLS certificate reloaded from {}", options_.tls_cert);
    return Ok();
  }

  void Stop() override {
    if (!thread_.joinable())
      return;
    server_.stop();
    thread_.join();
  }

 private:
  void Routes() {
    dicomweb_.Register(routes_);

    routes_.Get("/healthz", kOpen,
                [this](const RequestContext&, const httplib::Request&, httplib::Response& res) {
                  Status index = archive_.index().Ping();
                  if (!index.ok()) {
                    SendJson(res, 503, {{"status", "unhealthy"}, {"index", index.error().message}});
                    return;
                  }
                  SendJson(
                      res, 200,
                      {{"status", "ok"}, {"schema_version", archive_.index().SchemaVersion()}});
                });

    routes_.Get("/api/statistics", Needs(Role::kViewer),
                [this](const RequestContext& ctx, const httplib::Request&, httplib::Response& res) {
                  // What the caller sees: a clinic's users count their institution's studies.
                  auto counts = archive_.index().Counts(ctx.caller->scope);
                  if (!counts.ok())
                    return SendError(res, counts.error());
                  SendJson(res, 200,
                           {{"patients", counts->patients},
                            {"studies", counts->studies},
                            {"series", counts->series},
                            {"instances", counts->instances}});
                });

    routes_.Get(
        "/api/studies", Needs(Role::kViewer, Data::kPatient),
        [this](const RequestContext& ctx, const httplib::Request& req, httplib::Response& res) {
          auto query = ParseStudyQuery(req);
          if (!query.ok())
            return SendError(res, query.error());
          auto page = archive_.index().FindStudies(ctx.caller->scope, *query);
          if (!page.ok())
            return SendError(res, page.error());
          json studies = json::array();
          std::vector<std::string> uids;
          for (const auto& s : page->studies) {
            studies.push_back(ToJson(s));
            uids.push_back(s.study_uid);
          }
          auto summaries = archive_.index().ai().StudySummaries(ctx.caller->scope, uids);
          if (!summaries.ok())
            return SendError(res, summaries.error());
          for (size_t i = 0, j = 0; i < uids.size(); ++i) {
            if (j < summaries->size() && (*summaries)[j].first == uids[i])
              studies[i]["ai"] = ToJson((*summaries)[j++].second);
          }
          SendJson(res, 200,
                   {{"total", page->total},
                    {"offset", query->offset},
                    {"limit", query->limit},
                    {"studies", std::move(studies)}});
        });

    AuthRoutes();
    processing_.Register(routes_);
    cluster_.Register(routes_);
    peers_.Register(routes_);
    institutions_.Register(routes_);
    reading_.Register(routes_);  // before the catch-all study route: it names sub-paths of it
    shares_.Register(routes_);
    deid_.Register(routes_);
    // The route table itself, for administrators and auditors: every route, the least role that
    // may call it and whether it reads or changes patient data (and so is audited and scoped).
    routes_.Get(
        "/api/routes", Needs(Role::kAdmin),
        [this](const RequestContext&, const httplib::Request&, httplib::Response& res) {
          static constexpr const char* kRoleNames[] = {"researcher", "viewer", "clinician",
                                                       "radiologist", "admin"};
          json list = json::array();
          for (const auto& e : routes_.entries()) {
            list.push_back(
                {{"method", e.method},
                 {"pattern", e.pattern},
                 {"role", e.policy.role ? json(kRoleNames[static_cast<int>(*e.policy.role) + 1])
                                        : json(nullptr)},
                 {"patient_data", e.policy.data == Data::kPatient}});
          }
          SendJson(res, 200, {{"routes", std::move(list)}});
        });
    reviews_.Register(routes_);  // before AiRoutes: /api/studies/{uid}/review is more specific
    RegisterWebApp(routes_);
    AiRoutes();  // before the catch-all study route below: the first pattern that matches wins

    routes_.Get(
        R"(/api/studies/(.+))", Needs(Role::kViewer, Data::kPatient),
        [this](const RequestContext& ctx, const httplib::Request& req, httplib::Response& res) {
          const std::string uid = req.matches[1];
          Status valid = ValidateUid(uid, "StudyInstanceUID");
          if (!valid.ok()) {
            return SendError(res, MakeError(ErrorCode::kInvalidArgument, valid.error().message));
          }
          auto study = archive_.index().GetStudy(ctx.caller->scope, uid);
          if (!study.ok())
            return SendError(res, study.error());
          if (!study->has_value()) {
            return SendError(res, MakeError(ErrorCode::kNotFound, "no such study"));
          }
          SendJson(res, 200, ToJson(**study));
        });

    // Anything else under the API answers 404, but only to a caller who may use the API: the
    // set of routes is not told to strangers.
    for (const char* pattern : {"/api(/.*)?", "/dicom-web(/.*)?"}) {
      auto not_found = [](const RequestContext&, const httplib::Request&, httplib::Response& res) {
        SendError(res, MakeError(ErrorCode::kNotFound, "no such resource"));
      };
      routes_.Get(pattern, Needs(Role::kViewer), not_found);
      routes_.Post(pattern, Needs(Role::kViewer), not_found);
      routes_.Put(pattern, Needs(Role::kViewer), not_found);
      routes_.Delete(pattern, Needs(Role::kViewer), not_found);
    }
  }

  // The caller of a request: a valid session cookie or bearer API token. Null when neither.
  std::optional<Caller> Authenticate(const httplib::Request& req) {
    const std::string authorization = req.get_header_value("Authorization");
    if (authorization.rfind("Bearer ", 0) == 0) {
      auto user = auth_.ApiTokenUser(authorization.substr(7));
      if (user.ok() && user->has_value())
        return Caller{**user, false, "", store::Scope::Everything()};
      return std::nullopt;
    }
    const std::string token = CookieValue(req.get_header_value("Cookie"), "dxhub_session");
    if (token.empty())
      return std::nullopt;
    auto session = auth_.Session(token);
    if (!session.ok() || !session->has_value())
      return std::nullopt;
    return Caller{(*session)->user, true, (*session)->csrf_token, store::Scope::Everything()};
  }

  // The route table's guard: authentication, role, CSRF and the audit of patient data, before
  // the route's handler runs. Returns false when it has answered the request itself.
  bool Guard(const RoutePolicy& policy, const httplib::Request& req, httplib::Response& res,
             std::optional<Caller>& out) {
    if (!policy.role)
      return true;
    auto caller = Authenticate(req);
    if (!caller) {
      SendError(res, MakeError(ErrorCode::kUnauthorized,
                               "authentication required: log in, or send an API token as "
                               "'Authorization: Bearer <token>'"));
      return false;
    }
    if (!RoleAtLeast(caller->user.role, *policy.role)) {
      SendError(res, MakeError(ErrorCode::kForbidden,
                               "role '" + caller->user.role + "' may not do this"));
      return false;
    }
    const bool reads = req.method == "GET" || req.method == "HEAD";
    if (caller->cookie && !reads && req.get_header_value("X-CSRF-Token") != caller->csrf_token) {
      // A cookie rides along with any cross-site form post; the token cannot.
      SendError(res, MakeError(ErrorCode::kForbidden, "missing or wrong X-CSRF-Token header"));
      return false;
    }
    auto scope = archive_.index().institutions().ScopeOf(caller->user.institution);
    if (!scope.ok()) {
      SendError(res, scope.error());
      return false;
    }
    caller->scope = std::move(scope.value());
    if (policy.data == Data::kPatient) {
      Status audited = archive_.index().users().Audit(
          {clock_.NowMillis(), caller->user.username, reads ? "read" : req.method,
           req.path.substr(0, 512), req.remote_addr, ""});
      if (!audited.ok()) {
        // A read that cannot be recorded is not served.
        SendError(res, MakeError(ErrorCode::kUnavailable, "audit log unavailable"));
        return false;
      }
    }
    out = std::move(caller);
    return true;
  }

  // Only uploads (STOW-RS) stream large bodies, to disk, and only for an authenticated caller
  // (the guard checks the caller before httplib reads a byte of the body). Every other route
  // takes at most a small JSON body (read before its route's guard runs), refused by its
  // declared size before it is read: a 1 GB
  // POST /api/login used to be read into memory. JSON routes demand application/json, a type
  // a cross-site form cannot send without a CORS preflight (login CSRF).
  static constexpr size_t kSmallBodyLimit = size_t{64} * 1024;
  bool IsUploadRoute(const httplib::Request& req) const {
    return routes_.IsUpload(req.method, req.path);
  }
  // The size rules of BodyAcceptable alone: whether the body may be read at all. When not, the
  // connection closes after the answer.
  bool BodyWithinLimits(const httplib::Request& req) const {
    if (IsUploadRoute(req))
      return true;
    const std::string encoding = req.get_header_value("Transfer-Encoding");
    if (!encoding.empty() && encoding != "identity")
      return false;
    if (!req.has_header("Content-Length"))
      return true;
    const std::string text = req.get_header_value("Content-Length");
    size_t length = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), length);
    return ec == std::errc() && ptr == text.data() + text.size() && length <= kSmallBodyLimit;
  }
  bool BodyAcceptable(const httplib::Request& req, httplib::Response& res) const {
    if (IsUploadRoute(req))
      return true;
    auto refuse = [&](ErrorCode code, const std::string& why) {
      res.set_header("Connection", "close");  // the unread body must not be taken as a request
      SendError(res, MakeError(code, why));
      return false;
    };
    const std::string encoding = req.get_header_value("Transfer-Encoding");
    if (!encoding.empty() && encoding != "identity") {
      return refuse(ErrorCode::kTooLarge,
                    "this route takes no streamed body: send a Content-Length of at most " +
                        std::to_string(kSmallBodyLimit) + " bytes");
    }
    size_t length = 0;
    if (req.has_header("Content-Length")) {
      const std::string text = req.get_header_value("Content-Length");
      auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), length);
      if (ec != std::errc() || ptr != text.data() + text.size())
        return refuse(ErrorCode::kInvalidArgument, "bad Content-Length");
      if (length > kSmallBodyLimit) {
        return refuse(ErrorCode::kTooLarge, "body too large for this route (at most " +
                                                std::to_string(kSmallBodyLimit) + " bytes)");
      }
    }
    const bool api = req.path.rfind("/api/", 0) == 0;
    if (api && (length > 0 || req.path == "/api/login") && req.method != "GET" &&
        req.method != "HEAD") {
      const std::string type = req.get_header_value("Content-Type");
      const std::string media = type.substr(0, type.find(';'));
      if (media != "application/json") {
        return refuse(ErrorCode::kUnsupported, "send the body as Content-Type: application/json");
      }
    }
    return true;
  }

  void AuthRoutes() {
    routes_.Post(
        "/api/login", kOpen,
        [this](const RequestContext&, const httplib::Request& req, httplib::Response& res) {
          json body = json::parse(req.body, nullptr, false);
          if (!body.is_object() || !body.contains("username") || !body.contains("password") ||
              !body["username"].is_string() || !body["password"].is_string()) {
            return SendError(res, MakeError(ErrorCode::kInvalidArgument,
                                            "send {\"username\": ..., \"password\": ...}"));
          }
          auto login = auth_.Login(body["username"].get<std::string>(),
                                   body["password"].get<std::string>(), req.remote_addr);
          if (!login.ok())
            return SendError(res, login.error());
          const int64_t max_age = (login->expires_ms - clock_.NowMillis()) / 1000;
          res.set_header("Set-Cookie", "dxhub_session=" + login->session_token +
                                           "; Path=/; HttpOnly; SameSite=Strict; Max-Age=" +
                                           std::to_string(max_age) +
                                           (secure_cookies_ ? "; Secure" : ""));
          SendJson(res, 200,
                   {{"username", login->user.username},
                    {"role", login->user.role},
                    {"institution", login->user.institution_name},
                    {"display_name", login->user.display_name},
                    {"csrf_token", login->csrf_token}});
        });
    routes_.Post(
        "/api/logout", Needs(Role::kViewer),
        [this](const RequestContext&, const httplib::Request& req, httplib::Response& res) {
          const std::string token = CookieValue(req.get_header_value("Cookie"), "dxhub_session");
          if (!token.empty())
            (void)auth_.Logout(token);
          res.set_header(
              "Set-Cookie",
              std::string("dxhub_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0") +
                  (secure_cookies_ ? "; Secure" : ""));
          SendJson(res, 200, {{"logged_out", true}});
        });
    routes_.Get("/api/me", Needs(Role::kViewer),
                [](const RequestContext& ctx, const httplib::Request&, httplib::Response& res) {
                  const Caller* caller = ctx.caller;
                  // The CSRF token goes to same-origin script only (a cross-site page cannot read
                  // this response), so a reloaded page can still make changes.
                  SendJson(
                      res, 200,
                      {{"username", caller->user.username},
                       {"role", caller->user.role},
                       {"institution", caller->user.institution_name},
                       {"display_name", caller->user.display_name},
                       {"csrf_token", caller->cookie ? json(caller->csrf_token) : json(nullptr)}});
                });
    // The audit log for administrators: ?user=&from=&to= (YYYYMMDD, UTC days) &limit=
    // &format=csv (a file to hand to a privacy officer).
    routes_.Get(
        "/api/audit", Needs(Role::kAdmin),
        [this](const RequestContext&, const httplib::Request& req, httplib::Response& res) {
          static const std::set<std::string> kKnown = {"user", "from", "to", "limit", "format"};
          for (const auto& [key, value] : req.params) {
            if (!kKnown.count(key))
              return SendError(res, MakeError(ErrorCode::kInvalidArgument,
                                              "unknown query parameter '" + key + "'"));
          }
          int64_t from_ms = 0;
          int64_t to_ms = clock_.NowMillis() + 1;
          for (const char* name : {"from", "to"}) {
            if (!req.has_param(name))
              continue;
            auto day = ParseDate(name, req.get_param_value(name));
            if (!day.ok())
              return SendError(res, day.error());
            const int64_t ms = DayStartMillis(*day);
            if (std::string(name) == "from")
              from_ms = ms;
            else
              to_ms = ms + int64_t{24} * 3600 * 1000 - 1;  // the whole day
          }
          int limit = 1000;
          if (req.has_param("limit")) {
            auto v = ParseInt("limit", req.get_param_value("limit"), 1, 100000);
            if (!v.ok())
              return SendError(res, v.error());
            limit = *v;
          }
          const std::string format = req.get_param_value("format");
          if (!format.empty() && format != "json" && format != "csv")
            return SendError(res,
                             MakeError(ErrorCode::kInvalidArgument, "format must be json or csv"));
          auto entries = archive_.index().users().QueryAudit(req.get_param_value("user"), from_ms,
                                                             to_ms, limit);
          if (!entries.ok())
            return SendError(res, entries.error());
          if (format == "csv") {
            // RFC 4180: every field quoted, quotes doubled. A field a spreadsheet would take for a
            // formula (= + - @, or a tab/CR that Excel strips first) gets a leading apostrophe:
            // usernames and paths come from outside (=HYPERLINK(...) as a login name).
            auto field = [](const std::string& v) {
              std::string out = "\"";
              if (!v.empty() && std::string("=+-@\t\r").find(v.front()) != std::string::npos)
                out += '\'';
              for (char ch : v)
                out += ch == '"' ? std::string("\"\"") : std::string(1, ch);
              return out + "\"";
            };
            std::string csv = "at,user,action,object,remote,detail\r\n";
            for (const auto& e : *entries) {
              csv += field(FormatIsoMillis(e.at_ms)) + "," + field(e.username) + "," +
                     field(e.action) + "," + field(e.object) + "," + field(e.remote) + "," +
                     field(e.detail) + "\r\n";
            }
            res.set_header("Content-Disposition", "attachment; filename=\"dxhub-audit.csv\"");
            res.set_content(csv, "text/csv; charset=utf-8");
            return;
          }
          json list = json::array();
          for (const auto& e : *entries) {
            list.push_back({{"at", FormatIsoMillis(e.at_ms)},
                            {"user", e.username},
                            {"action", e.action},
                            {"object", e.object},
                            {"remote", e.remote},
                            {"detail", e.detail}});
          }
          SendJson(res, 200, {{"entries", std::move(list)}});
        });
  }

  // Whether the caller may see the study: kNotFound if it does not exist for them (a study of
  // another institution is not admitted to exist).
  Status StudyInScope(const RequestContext& ctx, const std::string& study_uid) {
    auto study = archive_.index().GetStudy(ctx.caller->scope, study_uid);
    if (!study.ok())
      return study.error();
    if (!study->has_value())
      return MakeError(ErrorCode::kNotFound, "no such study");
    return Ok();
  }

  // The AI results of a study, reruns, the models, and Prometheus metrics.
  void AiRoutes() {
    routes_.Get(
        R"(/api/studies/([^/]+)/ai)", Needs(Role::kViewer, Data::kPatient),
        [this](const RequestContext& ctx, const httplib::Request& req, httplib::Response& res) {
          const std::string uid = req.matches[1];
          if (Status valid = ValidateUid(uid, "StudyInstanceUID"); !valid.ok())
            return SendError(res, MakeError(ErrorCode::kInvalidArgument, valid.error().message));
          auto summary = archive_.index().ai().StudySummary(ctx.caller->scope, uid);
          if (!summary.ok())
            return SendError(res, summary.error());
          if (!summary->has_value())
            return SendError(res, MakeError(ErrorCode::kNotFound, "no such study"));
          auto images = archive_.index().ai().StudyResults(ctx.caller->scope, uid);
          if (!images.ok())
            return SendError(res, images.error());
          json list = json::array();
          for (const auto& image : *images)
            list.push_back(ToJson(image));
          SendJson(res, 200,
                   {{"study_instance_uid", uid},
                    {"summary", ToJson(**summary)},
                    {"images", std::move(list)}});
        });
    routes_.Get(
        R"(/api/instances/([^/]+)/ai)", Needs(Role::kViewer, Data::kPatient),
        [this](const RequestContext& ctx, const httplib::Request& req, httplib::Response& res) {
          const std::string uid = req.matches[1];
          if (Status valid = ValidateUid(uid, "SOPInstanceUID"); !valid.ok())
            return SendError(res, MakeError(ErrorCode::kInvalidArgument, valid.error().message));
          auto image = archive_.index().Query(
              ctx.caller->scope, {store::Level::kInstance,
                                  {{store::Field::kSopUid, store::Filter::Kind::kExact, {uid}}},
                                  1,
                                  0});
          if (!image.ok())
            return SendError(res, image.error());
          if (image->empty())  // a 404, where an image of the caller's without jobs has none
            return SendError(res, MakeError(ErrorCode::kNotFound, "no such instance"));
          auto history = archive_.index().ai().ImageHistory(ctx.caller->scope, uid);
          if (!history.ok())
            return SendError(res, history.error());
          json list = json::array();
          for (const auto& r : *history)
            list.push_back(ToJson(r));
          SendJson(res, 200, {{"sop_instance_uid", uid}, {"history", std::move(list)}});
        });
    routes_.Post(
        R"(/api/studies/([^/]+)/ai/rerun)", Needs(Role::kRadiologist, Data::kPatient),
        [this](const RequestContext& ctx, const httplib::Request& req, httplib::Response& res) {
          const std::string uid = req.matches[1];
          if (Status valid = ValidateUid(uid, "StudyInstanceUID"); !valid.ok())
            return SendError(res, MakeError(ErrorCode::kInvalidArgument, valid.error().message));
          // Whether the study exists for the caller first: another institution's study is a 404
          // whatever the state of this node.
          if (Status visible = StudyInScope(ctx, uid); !visible.ok())
            return SendError(res, visible.error());
          if (ai_ == nullptr)
            return SendError(res,
                             MakeError(ErrorCode::kUnavailable, "the AI pipeline is not running"));
          auto queued = ai_->Rerun(uid);
          if (!queued.ok())
            return SendError(res, queued.error());
          SendJson(res, 202, {{"study_instance_uid", uid}, {"queued", *queued}});
        });
    routes_.Get("/api/models", Needs(Role::kViewer),
                [this](const RequestContext&, const httplib::Request&, httplib::Response& res) {
                  json list = json::array();
                  if (ai_ != nullptr) {
                    for (const auto& m : ai_->Models()) {
                      list.push_back({{"id", m.card.Id()},
                                      {"name", m.card.name},
                                      {"version", m.card.version},
                                      {"enabled", m.enabled},
                                      {"labels", m.card.labels},
                                      {"high_risk", m.card.high_risk},
                                      {"threshold", m.card.threshold},
                                      {"modalities", m.card.modalities},
                                      {"intended_use", m.card.intended_use}});
                    }
                  }
                  SendJson(res, 200, {{"ai_running", ai_ != nullptr}, {"models", std::move(list)}});
                });
    routes_.Get("/metrics", kOpen,
                [this](const RequestContext&, const httplib::Request&, httplib::Response& res) {
                  // Per node: each node of a cluster is scraped on its own.
                  std::string text =
                      "# HELP dxhub_node_info This node's name in the cluster.\n"
                      "# TYPE dxhub_node_info gauge\n"
                      "dxhub_node_info{node=\"" +
                      options_.node_name +
                      "\"} 1\n"
                      "# HELP dxhub_instances_ingested_total Instances stored through this "
                      "node since it started.\n"
                      "# TYPE dxhub_instances_ingested_total counter\n"
                      "dxhub_instances_ingested_total " +
                      std::to_string(archive_.ingested()) + "\n";
                  if (ai_ != nullptr)
                    text += ai_->MetricsText();
                  res.status = 200;
                  res.set_content(text, "text/plain; version=0.0.4");
                });
  }

  HttpOptions options_;
  store::Archive& archive_;
  ai::AiPipeline* ai_;  // may be null (serve --no-ai)
  SystemClock clock_;
  Auth auth_;
  DicomWebRoutes dicomweb_;
  ReviewRoutes reviews_;
  ProcessingRoutes processing_;
  ClusterRoutes cluster_;
  PeerRoutes peers_;
  InstitutionRoutes institutions_;
  ReadingRoutes reading_;
  ShareRoutes shares_;
  DeidRoutes deid_;
  GuardedServer server_{ConnectionLimits{},
                        [this](const httplib::Request& req) { return !BodyWithinLimits(req); }};
  RouteTable routes_{server_, [this](const RoutePolicy& policy, const httplib::Request& req,
                                     httplib::Response& res, std::optional<Caller>& caller) {
                       return Guard(policy, req, res, caller);
                     }};
  int port_ = -1;
  std::thread thread_;
  std::unique_ptr<TlsContextHolder> tls_;  // null: plain HTTP
  bool secure_cookies_ = false;
};

}  // namespace

Result<HttpServerPtr> StartHttpServer(const HttpOptions& options, store::Archive& archive,
                                      store::PeerDirectory& peers, ai::AiPipeline* ai,
                                      imaging::ProcessingService* processing) {
  auto server = std::make_unique<HttpServerImpl>(options, archive, peers, ai, processing);
  DXHUB_TRY(server->Start());
  return HttpServerPtr(std::move(server));
}

}  // namespace dxhub::web
