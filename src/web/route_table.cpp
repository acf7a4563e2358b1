#include "web/route_table.h"

#include <utility>

namespace dxhub::web {

RouteTable::RouteTable(httplib::Server& server, Guard guard)
    : server_(server), guard_(std::move(guard)) {}

namespace {

// Runs `handler` with the caller the guard authenticated, unless the guard answered itself.
template <class Fn>
void Guarded(const RouteTable::Guard& guard, const RoutePolicy& policy, const httplib::Request& req,
             httplib::Response& res, const Fn& handler) {
  std::optional<Caller> caller;
  if (guard(policy, req, res, caller))
    handler(RequestContext{caller ? &*caller : nullptr});
}

}  // namespace

httplib::Server::Handler RouteTable::Wrap(RoutePolicy policy, Handler handler) const {
  return [guard = guard_, policy, handler = std::move(handler)](const httplib::Request& req,
                                                                httplib::Response& res) {
    Guarded(guard, policy, req, res, [&](const RequestContext& ctx) { handler(ctx, req, res); });
  };
}

void RouteTable::Add(const std::string& method, const std::string& pattern, RoutePolicy policy,
                     Handler handler) {
  entries_.push_back({method, pattern, policy, false});
  auto wrapped = Wrap(policy, std::move(handler));
  if (method == "GET")
    server_.Get(pattern, std::move(wrapped));
  else if (method == "POST")
    server_.Post(pattern, std::move(wrapped));
  else if (method == "PUT")
    server_.Put(pattern, std::move(wrapped));
  else
    server_.Delete(pattern, std::move(wrapped));
}

void RouteTable::Get(const std::string& pattern, RoutePolicy policy, Handler handler) {
  Add("GET", pattern, policy, std::move(handler));
}
void RouteTable::Post(const std::string& pattern, RoutePolicy policy, Handler handler) {
  Add("POST", pattern, policy, std::move(handler));
}
void RouteTable::Put(const std::string& pattern, RoutePolicy policy, Handler handler) {
  Add("PUT", pattern, policy, std::move(handler));
}
void RouteTable::Delete(const std::string& pattern, RoutePolicy policy, Handler handler) {
  Add("DELETE", pattern, policy, std::move(handler));
}

void RouteTable::Upload(const std::string& pattern, RoutePolicy policy, UploadHandler handler) {
  entries_.push_back({"POST", pattern, policy, true});
  uploads_.emplace_back(pattern);
  server_.Post(pattern, [guard = guard_, policy, handler = std::move(handler)](
                            const httplib::Request& req, httplib::Response& res,
                            const httplib::ContentReader& reader) {
    Guarded(guard, policy, req, res,
            [&](const RequestContext& ctx) { handler(ctx, req, res, reader); });
  });
}

bool RouteTable::IsUpload(const std::string& method, const std::string& path) const {
  if (method != "POST")
    return false;
  for (const auto& pattern : uploads_) {
    if (std::regex_match(path, pattern))
      return true;
  }
  return false;
}

}  // namespace dxhub::web
