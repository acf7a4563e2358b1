#pragma once
// One table of the HTTP routes. Each route states, where it is registered, the least role that
// may call it and whether it touches patient data; the guard (authentication, role, CSRF) and
// the audit of patient-data access derive from that entry, and the handler receives the caller
// the guard authenticated. A route cannot be added without saying who may call it, and no
// handler authenticates again. (Before, a guard of path-prefix rules lived apart from the routes
// and had to be kept in step with them by hand.)
// Private to the web layer (it names httplib types).

#include <httplib.h>

#include <functional>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "store/scope.h"
#include "store/user_store.h"
#include "web/auth.h"

namespace dxhub::web {

/// Who is calling, as the guard authenticated them: a session cookie (browsers) or a bearer
/// API token (scripts, DICOMweb clients).
struct Caller {
  store::UserRecord user;
  bool cookie = false;
  std::string csrf_token;  // the session's; empty for API tokens
  /// What the caller may see (their institution and those it reads for), built once per
  /// request by the guard; every store query of patient data takes it.
  store::Scope scope = store::Scope::Everything();
};

/// What a handler knows of its request beyond httplib's view of it.
struct RequestContext {
  /// The authenticated caller; null only on open routes.
  const Caller* caller = nullptr;
};

/// Whether a route reads or changes patient data: every such request is an audit row, and a
/// request whose row cannot be written is refused.
enum class Data { kNone, kPatient };

struct RoutePolicy {
  /// The least role; nullopt: open to anyone (health, metrics, login, the app's files).
  std::optional<Role> role;
  Data data = Data::kNone;
};

/// Open to anyone, no patient data.
inline const RoutePolicy kOpen{};
inline RoutePolicy Needs(Role role, Data data = Data::kNone) {
  return RoutePolicy{role, data};
}

class RouteTable {
 public:
  using Handler =
      std::function<void(const RequestContext&, const httplib::Request&, httplib::Response&)>;
  using UploadHandler = std::function<void(const RequestContext&, const httplib::Request&,
                                           httplib::Response&, const httplib::ContentReader&)>;
  /// Decides whether a request may reach a route with `policy`: sets `caller` when it
  /// authenticated one, and answers the request itself (returning false) when it may not.
  using Guard = std::function<bool(const RoutePolicy& policy, const httplib::Request&,
                                   httplib::Response&, std::optional<Caller>& caller)>;

  /// One row of the table.
  struct Entry {
    std::string method;
    std::string pattern;
    RoutePolicy policy;
    bool upload = false;
  };

  /// Routes are registered on `server` (which must outlive the table's use) in the order
  /// added; as with httplib, the first pattern that matches the whole path wins.
  RouteTable(httplib::Server& server, Guard guard);
  RouteTable(const RouteTable&) = delete;
  RouteTable& operator=(const RouteTable&) = delete;

  void Get(const std::string& pattern, RoutePolicy policy, Handler handler);
  void Post(const std::string& pattern, RoutePolicy policy, Handler handler);
  void Put(const std::string& pattern, RoutePolicy policy, Handler handler);
  void Delete(const std::string& pattern, RoutePolicy policy, Handler handler);
  /// A POST whose body the handler streams (STOW-RS): the only kind of route that takes more
  /// than a small body. The guard runs before a byte of the body is read.
  void Upload(const std::string& pattern, RoutePolicy policy, UploadHandler handler);

  /// Whether (method, path) reaches an upload route: decided before routing, to choose the
  /// body limit.
  bool IsUpload(const std::string& method, const std::string& path) const;

  const std::vector<Entry>& entries() const { return entries_; }

 private:
  httplib::Server::Handler Wrap(RoutePolicy policy, Handler handler) const;
  void Add(const std::string& method, const std::string& pattern, RoutePolicy policy,
           Handler handler);

  httplib::Server& server_;
  Guard guard_;
  std::vector<Entry> entries_;
  std::vector<std::regex> uploads_;  // the upload routes' patterns (all POST)
};

}  // namespace dxhub::web
